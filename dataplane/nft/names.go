package nft

import (
	"strings"

	v3 "github.com/tabby-project/tabby/api/v3"
	"github.com/tabby-project/tabby/engine"
)

// Names of the fixed chains, sets and maps of the table.
const (
	chainRawPrerouting    = "raw-prerouting"
	chainRawOutput        = "raw-output"
	chainManglePrerouting = "mangle-prerouting"
	chainFilterInput      = "filter-input"
	chainFilterForward    = "filter-forward"
	chainFilterOutput     = "filter-output"
	chainWorkloadToHost   = "wl-to-host"
	chainFailsafeIn       = "failsafe-in"
	chainFailsafeOut      = "failsafe-out"
	chainFailsafeInRaw    = "failsafe-in-raw"
	chainFailsafeOutRaw   = "failsafe-out-raw"

	setPortProtos = "port-protos"
	setNDTypes    = "icmpv6-nd"
	setWLIfaces   = "wl-ifaces"
	setHEPIfaces  = "hep-ifaces"

	mapWLFrom     = "wl-from"
	mapWLTo       = "wl-to"
	mapHEPIn      = "hep-in"
	mapHEPOut     = "hep-out"
	mapHEPFwdIn   = "hep-fwd-in"
	mapHEPFwdOut  = "hep-fwd-out"
	mapHEPPre     = "hep-pre"
	mapHEPRawIn   = "hep-raw-in"
	mapHEPRawOut  = "hep-raw-out"
	maxReadable   = 96
	wildcardIface = "any-interface-at-all"
)

// Prefixes of the per-endpoint chains, after Felix's: to and from a
// workload, from and to a host endpoint (normal, forwarded, preDNAT and
// untracked traffic).
const (
	prefixToWorkload   = "tw-"
	prefixFromWorkload = "fw-"
	prefixFromHost     = "fh-"
	prefixToHost       = "th-"
	prefixFromHostFwd  = "fhfw-"
	prefixToHostFwd    = "thfw-"
	prefixFromHostPre  = "fhpre-"
	prefixFromHostRaw  = "fhraw-"
	prefixToHostRaw    = "thraw-"
)

// safeName reports whether s may appear in a name as is: letters, digits
// and "-_./", which `nft` can parse back.
func safeName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '-' || c == '_' || c == '.' || c == '/':
		default:
			return false
		}
	}
	return true
}

// name returns prefix+id if that is short and safe, else prefix, "_" and
// a hash of id. No readable id begins with "_": policy, profile and
// interface names cannot, and a hash is longer than an interface name.
func name(prefix, id string) string {
	if safeName(id) && !strings.HasPrefix(id, "_") && len(prefix)+len(id) <= maxReadable {
		return prefix + id
	}
	return prefix + "_" + shortHash(id)
}

// endpointChain names an endpoint's chain from its interface.
func endpointChain(prefix, iface string) string {
	if iface == AllInterfaces {
		return prefix + wildcardIface
	}
	return name(prefix, iface)
}

// policyChain names the chain of a policy's rules in one direction:
// pi-<namespace>/<name> (or pi-<name> for a global policy) for ingress,
// po- for egress.
func policyChain(dir engine.Direction, k v3.Key) string {
	if dir == engine.Ingress {
		return name("pi-", policyID(k))
	}
	return name("po-", policyID(k))
}

// profileChain names the chain of a profile's rules in one direction.
func profileChain(dir engine.Direction, profile string) string {
	if dir == engine.Ingress {
		return name("pri-", profile)
	}
	return name("pro-", profile)
}

// selectorSet names the set of a rule selector's addresses in a family,
// from the engine's set ID ("s:<hash>").
func selectorSet(fam int, id string) string {
	prefix := "s4-"
	if fam == 6 {
		prefix = "s6-"
	}
	return name(prefix, strings.TrimPrefix(id, "s:"))
}
