package nft

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	v3 "github.com/tabby-project/tabby/api/v3"
	"github.com/tabby-project/tabby/engine"
)

// RefKind says what a rule of the table stands for.
type RefKind uint8

// The kinds of rule.
const (
	// RefStatic is a rule of the fixed skeleton: conntrack, dispatch,
	// unknown workload interfaces, workload-to-host handling.
	RefStatic RefKind = iota
	// RefFailsafe is a failsafe port of host endpoints.
	RefFailsafe
	// RefRule is a rule of a policy (Policy set) or profile (Profile set).
	RefRule
	// RefPolicy is an endpoint chain's jump to a policy chain: its counter
	// counts the endpoint's packets the policy evaluated.
	RefPolicy
	// RefProfile is an endpoint chain's jump to a profile chain.
	RefProfile
	// RefEndOfTier is the drop at the end of a tier in which a policy
	// applied and none allowed, denied or passed.
	RefEndOfTier
	// RefDefaultDeny is the drop after the profiles of an endpoint.
	RefDefaultDeny
)

var refKindNames = [...]string{"static", "failsafe", "rule", "policy", "profile", "end-of-tier", "default-deny"}

// String returns the kind's name.
func (k RefKind) String() string {
	if int(k) < len(refKindNames) {
		return refKindNames[k]
	}
	return fmt.Sprintf("RefKind(%d)", k)
}

// RuleRef says what one rule of the table stands for. Fields that do not
// apply to the kind are zero; Index is -1 unless Kind is RefRule.
type RuleRef struct {
	Kind RefKind
	// Endpoint is the endpoint whose chain holds the rule (RefPolicy,
	// RefProfile, RefEndOfTier, RefDefaultDeny).
	Endpoint  v3.Key
	Direction engine.Direction
	Tier      string
	Policy    v3.Key
	Profile   string
	Index     int
	Action    v3.Action
}

// owner is the policy or profile a rule chain renders.
type owner struct {
	dir     engine.Direction
	tier    string
	policy  v3.Key
	profile string
}

// policyID returns a policy as "<namespace>/<name>", or "<name>" for a
// global one.
func policyID(k v3.Key) string {
	if k.Namespace != "" {
		return k.Namespace + "/" + k.Name
	}
	return k.Name
}

func (o owner) what() string {
	if o.profile != "" {
		return "profile " + o.profile
	}
	return "policy " + policyID(o.policy)
}

// comment describes a rule for `nft list`; the kernel keeps at most 128
// bytes.
func comment(format string, args ...any) string {
	s := fmt.Sprintf(format, args...)
	if len(s) > maxComment {
		s = s[:maxComment]
	}
	return s
}

const (
	maxComment   = 127
	maxLogPrefix = 127
)

// dirLetter is the direction as it appears in log prefixes.
func dirLetter(d engine.Direction) string {
	if d == engine.Ingress {
		return "I"
	}
	return "E"
}

// logPrefix builds the prefix of the log a rule emits:
//
//	<LogPrefix>: <I|E> <tier> <policy> <what>
//
// where policy is "<namespace>/<name>", "<name>" or, for a profile rule,
// the profile's name with tier "profile"; what is "r<index>" for a rule,
// "eot" for an end-of-tier drop and "deny" for the default drop (tier and
// policy "-" where they do not apply). A prefix longer than the kernel
// keeps (127 bytes) names the policy by a hash instead. The model records
// every prefix it uses (Model.LogRef).
func (r *renderer) logPrefix(ref RuleRef) string {
	tier, name, what := "-", "-", ""
	switch ref.Kind {
	case RefRule:
		what = fmt.Sprintf("r%d", ref.Index)
		if ref.Profile != "" {
			tier, name = "profile", ref.Profile
		} else {
			tier, name = ref.Tier, policyID(ref.Policy)
		}
	case RefEndOfTier:
		tier, what = ref.Tier, "eot"
	default:
		what = "deny"
	}
	build := func(name string) string {
		return fmt.Sprintf("%s: %s %s %s %s", r.s.logPrefix, dirLetter(ref.Direction), tier, name, what)
	}
	p := build(name)
	if len(p) > maxLogPrefix {
		p = build("_" + shortHash(name))
	}
	if len(p) > maxLogPrefix {
		p = p[:maxLogPrefix]
	}
	logged := ref
	if ref.Kind != RefRule {
		logged.Endpoint = v3.Key{}
	}
	r.m.logRefs[p] = logged
	return p
}

// shortHash returns 16 hex digits of the SHA-256 of s.
func shortHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:8])
}
