package analysis

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	v3 "github.com/tabby-project/tabby/api/v3"
	"github.com/tabby-project/tabby/engine"
)

// The kinds of FlowChange.
const (
	// ChangeNowDenied: the flow was allowed and is denied.
	ChangeNowDenied = "allowed-to-denied"
	// ChangeNowAllowed: the flow was denied and is allowed.
	ChangeNowAllowed = "denied-to-allowed"
	// ChangeDecider: the verdict is the same but another policy, rule or
	// profile decides it. Diff reports these only with DiffOptions.All.
	ChangeDecider = "same-verdict-other-decider"
)

// DiffOptions choose the flows Diff compares.
type DiffOptions struct {
	// Ports are the destination ports to compare, each its own class
	// (sorted, duplicates dropped). When empty, Diff uses
	// one port of every port class: the ranges that the destination ports
	// of the rules of either model (named ports resolved through the
	// ports the endpoints declare) split 1-65535 into, so that every port
	// of a class gets the same verdict from every rule.
	Ports []int
	// Protocols are the protocols to compare (as FlowSpec.Protocol); when
	// empty TCP, UDP, SCTP and ICMP.
	Protocols []string
	// All also reports flows whose verdict is the same on both sides but
	// decided by a different policy, rule or profile.
	All bool
}

// FlowClass is a protocol and, for protocols with ports, a range of
// destination ports every port of which the rules treat alike.
type FlowClass struct {
	Protocol string `json:"protocol"`
	// Ports is the class ("80", "1-79"); Port is the port evaluated.
	Ports string `json:"ports,omitempty"`
	Port  int    `json:"port,omitempty"`
}

func (c FlowClass) String() string {
	if c.Ports == "" {
		return c.Protocol
	}
	return c.Protocol + " " + c.Ports
}

// Decision is a verdict and what decided it.
type Decision struct {
	Verdict v3.Action `json:"verdict"`
	// DecidedBy names the deciding rule, tier end, profile or default: for
	// a denied flow the direction that denied it, for an allowed flow
	// both.
	DecidedBy string `json:"decidedBy"`
}

// FlowChange is a flow class between two endpoints whose outcome differs
// between two states.
type FlowChange struct {
	From  string    `json:"from"`
	To    string    `json:"to"`
	Class FlowClass `json:"class"`
	// Change is one of the Change* constants.
	Change string   `json:"change"`
	Before Decision `json:"before"`
	After  Decision `json:"after"`
}

// DiffReport is what Diff found.
type DiffReport struct {
	// Endpoints is how many endpoints both models hold; OnlyFrom and OnlyTo
	// name those only one holds, whose flows are not compared.
	Endpoints int         `json:"endpoints"`
	OnlyFrom  []string    `json:"onlyFrom,omitempty"`
	OnlyTo    []string    `json:"onlyTo,omitempty"`
	Classes   []FlowClass `json:"classes"`
	// Flows is how many flows were compared.
	Flows int `json:"flows"`
	// Changes are the flows whose verdict (or, with All, decider) differs
	// from the first model to the second.
	Changes []FlowChange `json:"changes"`
	// Staged are the flows of the second model whose verdict (or, with
	// All, decider) its staged policies would change if enforced: Before
	// is the enforced outcome, After the staged one.
	Staged []FlowChange `json:"staged"`
}

// Diff evaluates every flow class between every pair of endpoints that
// both models hold, in from and in to, and reports those whose verdict
// differs, with what decided it on each side; and, for to alone, the flows
// whose verdict its staged policies would change. Endpoints are matched by
// name. It fails with ErrInvalidFlow for bad ports or protocols.
func Diff(ctx context.Context, from, to *Model, opts DiffOptions) (*DiffReport, error) {
	protos := opts.Protocols
	if len(protos) == 0 {
		protos = []string{v3.ProtocolTCP, v3.ProtocolUDP, v3.ProtocolSCTP, v3.ProtocolICMP}
	}
	ports := slices.Clone(opts.Ports)
	slices.Sort(ports)
	ports = slices.Compact(ports)
	explicit := len(ports) > 0
	if !explicit {
		ports = portClassStarts(from, to)
	}
	classes, numbers, err := flowClasses(ports, explicit, protos)
	if err != nil {
		return nil, err
	}
	rep := &DiffReport{Classes: classes, Changes: []FlowChange{}, Staged: []FlowChange{}}
	type pair struct{ from, to v3.Key }
	var names []string
	keys := map[string]pair{}
	for _, ep := range from.endpoints {
		if i, ok := to.byName[ep.Name]; ok {
			names = append(names, ep.Name)
			keys[ep.Name] = pair{ep.Key, to.endpoints[i].Key}
		} else {
			rep.OnlyFrom = append(rep.OnlyFrom, ep.Name)
		}
	}
	for _, ep := range to.endpoints {
		if _, ok := from.byName[ep.Name]; !ok {
			rep.OnlyTo = append(rep.OnlyTo, ep.Name)
		}
	}
	rep.Endpoints = len(names)
	for _, src := range names {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		for _, dst := range names {
			if src == dst {
				continue
			}
			s, d := keys[src], keys[dst]
			for ci, c := range classes {
				rep.Flows++
				before, err := from.eng.Evaluate(engine.Flow{Src: engine.Peer{Endpoint: s.from}, Dst: engine.Peer{Endpoint: d.from},
					Protocol: numbers[ci], DstPort: c.Port})
				if err != nil {
					return nil, fmt.Errorf("analysis: diff: %s to %s %s in --from: %w", src, dst, c, err)
				}
				after, err := to.eng.Evaluate(engine.Flow{Src: engine.Peer{Endpoint: s.to}, Dst: engine.Peer{Endpoint: d.to},
					Protocol: numbers[ci], DstPort: c.Port})
				if err != nil {
					return nil, fmt.Errorf("analysis: diff: %s to %s %s in --to: %w", src, dst, c, err)
				}
				// Naming the deciders costs more than deciding: only for
				// flows that may be reported.
				st := after.Staged
				wantStaged := st != nil && (opts.All || st.Verdict != after.Verdict)
				if !opts.All && before.Verdict == after.Verdict && !wantStaged {
					continue
				}
				a := outcome(to, false, after.Verdict, after.Egress, after.Ingress)
				if opts.All || before.Verdict != after.Verdict {
					b := outcome(from, false, before.Verdict, before.Egress, before.Ingress)
					if ch, ok := change(b, a, opts.All); ok {
						rep.Changes = append(rep.Changes, FlowChange{From: src, To: dst, Class: c, Change: ch, Before: b, After: a})
					}
				}
				if wantStaged {
					sd := outcome(to, true, st.Verdict, st.Egress, st.Ingress)
					if ch, ok := change(a, sd, opts.All); ok {
						rep.Staged = append(rep.Staged, FlowChange{From: src, To: dst, Class: c, Change: ch, Before: a, After: sd})
					}
				}
			}
		}
	}
	return rep, nil
}

// change classifies two outcomes of one flow; ok is false when there is
// nothing to report.
func change(before, after Decision, all bool) (string, bool) {
	switch {
	case before.Verdict == v3.Allow && after.Verdict != v3.Allow:
		return ChangeNowDenied, true
	case before.Verdict != v3.Allow && after.Verdict == v3.Allow:
		return ChangeNowAllowed, true
	case all && before.DecidedBy != after.DecidedBy:
		return ChangeDecider, true
	}
	return "", false
}

// outcome names what decided a verdict: the denying direction of a
// denied flow, both directions of an allowed one. staged says the verdict
// is the staged one, whose tiers also hold the staged policies.
func outcome(m *Model, staged bool, verdict v3.Action, eg, in engine.DirectionResult) Decision {
	d := Decision{Verdict: verdict}
	switch {
	case eg.Verdict != v3.Allow:
		d.DecidedBy = "egress: " + m.decider(eg, engine.Egress, staged)
	case in.Verdict != v3.Allow:
		d.DecidedBy = "ingress: " + m.decider(in, engine.Ingress, staged)
	default:
		d.DecidedBy = "egress: " + m.decider(eg, engine.Egress, staged) + "; ingress: " + m.decider(in, engine.Ingress, staged)
	}
	return d
}

// decider names what decided one direction; for a deny at the end of a
// tier, the policies of the tier that applied.
func (m *Model) decider(d engine.DirectionResult, dir engine.Direction, staged bool) string {
	switch d.Reason {
	case engine.ReasonRule:
		return fmt.Sprintf("%s rule %d (%s) in tier %s", resourceID(d.Policy), d.Rule, d.Verdict, d.Tier)
	case engine.ReasonEndOfTier:
		return fmt.Sprintf("end of tier %s (%s applied, none allowed or passed)", d.Tier, strings.Join(m.tierPolicies(d.Endpoint, dir, d.Tier, staged), ", "))
	case engine.ReasonProfile:
		return fmt.Sprintf("profile %s rule %d (%s)", d.Profile, d.Rule, d.Verdict)
	case engine.ReasonDefaultDeny:
		return "default deny (no policy or profile allowed)"
	case engine.ReasonNoEndpoint:
		return "not an endpoint"
	}
	return string(d.Reason)
}

// tierPolicies names the policies of a tier that apply to an endpoint in
// one direction: the enforced ones, and with staged the staged ones too.
func (m *Model) tierPolicies(ep v3.Key, dir engine.Direction, tier string, staged bool) []string {
	pols, ok := m.eng.PoliciesFor(ep)
	if !ok {
		return nil
	}
	tiers := pols.Ingress
	if dir == engine.Egress {
		tiers = pols.Egress
	}
	var names []string
	for _, t := range tiers {
		if t.Tier != tier {
			continue
		}
		for _, p := range t.Policies {
			if p.Staged && !staged {
				continue
			}
			names = append(names, resourceID(p.Key))
		}
	}
	return names
}

// portClassStarts returns the first port of every port class of the two
// models' rules: 1, and every port where a destination port range of a
// rule starts or just ended.
func portClassStarts(models ...*Model) []int {
	starts := map[int]bool{1: true}
	addRange := func(lo, hi int) {
		starts[max(lo, 1)] = true
		if hi < 65535 {
			starts[hi+1] = true
		}
	}
	for _, m := range models {
		named := map[string][]int{}
		for _, o := range m.objs {
			switch r := o.(type) {
			case *v3.WorkloadEndpoint:
				for _, p := range r.Spec.Ports {
					named[p.Name] = append(named[p.Name], int(p.Port))
				}
			case *v3.HostEndpoint:
				for _, p := range r.Spec.Ports {
					named[p.Name] = append(named[p.Name], int(p.Port))
				}
			}
		}
		addRules := func(rules []engine.Rule) {
			for _, r := range rules {
				en := &r.Destination
				for _, pr := range slices.Concat(en.Ports, en.NotPorts) {
					addRange(pr.Min, pr.Max)
				}
				for _, n := range slices.Concat(en.NamedPorts, en.NotNamedPorts) {
					for _, p := range named[n] {
						addRange(p, p)
					}
				}
			}
		}
		for _, o := range m.objs {
			key := v3.KeyOf(o)
			if pol, ok := m.eng.Policy(key); ok {
				addRules(pol.IngressRules)
				addRules(pol.EgressRules)
			}
			if key.Kind == v3.KindProfile {
				in, eg, _ := m.eng.ProfileRules(key.Name)
				addRules(in)
				addRules(eg)
			}
		}
	}
	out := make([]int, 0, len(starts))
	for p := range starts {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// flowClasses builds the classes of every protocol: one per port for
// protocols with ports (ports are class starts unless explicit), one for
// the others.
func flowClasses(ports []int, explicit bool, protos []string) ([]FlowClass, []int, error) {
	var (
		classes []FlowClass
		numbers []int
	)
	for _, p := range protos {
		num, name, err := parseProtocol(p)
		if err != nil {
			return nil, nil, err
		}
		if !hasPorts(num) {
			classes, numbers = append(classes, FlowClass{Protocol: name}), append(numbers, num)
			continue
		}
		for i, port := range ports {
			if port < 1 || port > 65535 {
				return nil, nil, fmt.Errorf("%w: port %d is not in 1-65535", ErrInvalidFlow, port)
			}
			label := strconv.Itoa(port)
			if !explicit {
				last := 65535
				if i+1 < len(ports) {
					last = ports[i+1] - 1
				}
				if last != port {
					label += "-" + strconv.Itoa(last)
				}
			}
			classes = append(classes, FlowClass{Protocol: name, Ports: label, Port: port})
			numbers = append(numbers, num)
		}
	}
	return classes, numbers, nil
}

// Format writes a summary line, then every change with what decided it
// before and after, then the staged changes.
func (r *DiffReport) Format(w io.Writer) {
	fmt.Fprintf(w, "Compared %d flows: %d endpoints, %d flow classes", r.Flows, r.Endpoints, len(r.Classes))
	if len(r.Classes) <= 12 {
		names := make([]string, len(r.Classes))
		for i, c := range r.Classes {
			names[i] = c.String()
		}
		fmt.Fprintf(w, " (%s)", joinComma(names))
	}
	fmt.Fprintln(w, ".")
	if len(r.OnlyFrom) > 0 {
		fmt.Fprintf(w, "Only in --from (not compared): %s\n", joinComma(r.OnlyFrom))
	}
	if len(r.OnlyTo) > 0 {
		fmt.Fprintf(w, "Only in --to (not compared): %s\n", joinComma(r.OnlyTo))
	}
	formatChanges(w, fmt.Sprintf("\n%d flow(s) change:\n", len(r.Changes)), "\nNo flow changes verdict.\n", "from", "to", r.Changes)
	formatChanges(w, fmt.Sprintf("\n%d flow(s) of --to would change if its staged policies were enforced:\n", len(r.Staged)), "",
		"enforced", "staged", r.Staged)
}

func formatChanges(w io.Writer, head, none, before, after string, changes []FlowChange) {
	if len(changes) == 0 {
		fmt.Fprint(w, none)
		return
	}
	fmt.Fprint(w, head)
	width := max(len(before), len(after)) + 1
	// Consecutive classes of one pair that changed alike print as one.
	for i := 0; i < len(changes); {
		c := changes[i]
		classes := []string{c.Class.String()}
		j := i + 1
		for ; j < len(changes); j++ {
			n := changes[j]
			if n.From != c.From || n.To != c.To || n.Change != c.Change || n.Before != c.Before || n.After != c.After {
				break
			}
			classes = append(classes, n.Class.String())
		}
		fmt.Fprintf(w, "  %s -> %s %s: %s -> %s\n", c.From, c.To, joinComma(classes), c.Before.Verdict, c.After.Verdict)
		fmt.Fprintf(w, "    %-*s %s\n", width, before+":", c.Before.DecidedBy)
		fmt.Fprintf(w, "    %-*s %s\n", width, after+":", c.After.DecidedBy)
		i = j
	}
}

func joinComma(s []string) string { return strings.Join(s, ", ") }
