package analysis

import (
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"

	v3 "github.com/tabby-project/tabby/api/v3"
	"github.com/tabby-project/tabby/engine"
)

// FlowSpec is a flow as a command describes it.
type FlowSpec struct {
	// From and To name the peers: an endpoint (see Model.Endpoint) or an
	// IP address.
	From, To string
	// Namespace is the namespace of peers named without one.
	Namespace string
	// Protocol is a name (TCP, UDP, SCTP, ICMP, ICMPv6, UDPLite, in any
	// case) or a number 1-255.
	Protocol string
	// Port is the destination port, SrcPort the source port; both are 0
	// for protocols without ports.
	Port, SrcPort int
	// ICMP is the ICMP type and code of an ICMP or ICMPv6 flow.
	ICMP *engine.ICMP
	// HTTP is the request of an application-layer flow.
	HTTP *engine.HTTPRequest
}

// Peer is one end of a traced flow: the endpoint (if the peer is one) and
// the address the flow uses.
type Peer struct {
	Name     string     `json:"name,omitempty"`
	Endpoint v3.Key     `json:"endpoint,omitzero"`
	IP       netip.Addr `json:"ip,omitzero"`
}

func (p Peer) String() string {
	switch {
	case p.Name != "" && p.IP.IsValid():
		return p.Name + " (" + p.IP.String() + ")"
	case p.Name != "":
		return p.Name
	}
	return p.IP.String()
}

// TraceResult is a flow, its verdict and how the engine reached it.
type TraceResult struct {
	From     Peer                `json:"from"`
	To       Peer                `json:"to"`
	Protocol string              `json:"protocol"`
	Port     int                 `json:"port,omitempty"`
	SrcPort  int                 `json:"srcPort,omitempty"`
	ICMP     *engine.ICMP        `json:"icmp,omitempty"`
	HTTP     *engine.HTTPRequest `json:"http,omitempty"`
	engine.Result
	m *Model
}

// protocols are the protocol names a FlowSpec accepts, as Calico spells
// them.
var protocols = []string{v3.ProtocolTCP, v3.ProtocolUDP, v3.ProtocolSCTP, v3.ProtocolICMP, v3.ProtocolICMPv6, v3.ProtocolUDPLite}

// parseProtocol returns the number of a protocol and its canonical
// spelling.
func parseProtocol(s string) (int, string, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n < 1 || n > 255 {
			return 0, "", fmt.Errorf("%w: protocol %d is not in 1-255", ErrInvalidFlow, n)
		}
		for _, name := range protocols {
			if p, _ := v3.ProtocolFromString(name).Number(); p == n {
				return n, name, nil
			}
		}
		return n, s, nil
	}
	for _, name := range protocols {
		if strings.EqualFold(s, name) {
			n, _ := v3.ProtocolFromString(name).Number()
			return n, name, nil
		}
	}
	return 0, "", fmt.Errorf("%w: unknown protocol %q (want TCP, UDP, SCTP, ICMP, ICMPv6, UDPLite or a number)", ErrInvalidFlow, s)
}

// hasPorts reports whether a protocol number carries ports, as the
// engine's rules see it.
func hasPorts(proto int) bool { return proto == 6 || proto == 17 || proto == 132 }

// peer resolves a peer spec: an address (of an endpoint or not) or an
// endpoint name.
func (m *Model) peer(spec, namespace string) (Peer, engine.Peer, error) {
	if a, err := netip.ParseAddr(spec); err == nil {
		a = a.Unmap()
		p := Peer{IP: a}
		if ep, err := m.Endpoint(spec, ""); err == nil {
			p.Name, p.Endpoint = ep.Name, ep.Key
		}
		return p, engine.Peer{IP: a}, nil
	}
	ep, err := m.Endpoint(spec, namespace)
	if err != nil {
		return Peer{}, engine.Peer{}, err
	}
	p := Peer{Name: ep.Name, Endpoint: ep.Key}
	if len(ep.Addrs) > 0 {
		p.IP = ep.Addrs[0]
	}
	return p, engine.Peer{Endpoint: ep.Key}, nil
}

// flow checks f and turns it into the engine's flow.
func (m *Model) flow(f FlowSpec) (*TraceResult, engine.Flow, error) {
	proto, name, err := parseProtocol(f.Protocol)
	if err != nil {
		return nil, engine.Flow{}, err
	}
	switch {
	case hasPorts(proto) && (f.Port < 1 || f.Port > 65535):
		return nil, engine.Flow{}, fmt.Errorf("%w: %s needs a destination port in 1-65535, not %d", ErrInvalidFlow, name, f.Port)
	case hasPorts(proto) && (f.SrcPort < 0 || f.SrcPort > 65535):
		return nil, engine.Flow{}, fmt.Errorf("%w: source port %d is not in 0-65535", ErrInvalidFlow, f.SrcPort)
	case !hasPorts(proto) && (f.Port != 0 || f.SrcPort != 0):
		return nil, engine.Flow{}, fmt.Errorf("%w: %s has no ports", ErrInvalidFlow, name)
	case f.ICMP != nil && proto != 1 && proto != 58:
		return nil, engine.Flow{}, fmt.Errorf("%w: an ICMP type and code need protocol ICMP or ICMPv6, not %s", ErrInvalidFlow, name)
	case f.ICMP != nil && (f.ICMP.Type < 0 || f.ICMP.Type > 255 || f.ICMP.Code < 0 || f.ICMP.Code > 255):
		return nil, engine.Flow{}, fmt.Errorf("%w: ICMP type %d code %d: both must be in 0-255", ErrInvalidFlow, f.ICMP.Type, f.ICMP.Code)
	case f.HTTP != nil && proto != 6:
		return nil, engine.Flow{}, fmt.Errorf("%w: an HTTP request needs protocol TCP, not %s", ErrInvalidFlow, name)
	}
	from, src, err := m.peer(f.From, f.Namespace)
	if err != nil {
		return nil, engine.Flow{}, fmt.Errorf("from: %w", err)
	}
	to, dst, err := m.peer(f.To, f.Namespace)
	if err != nil {
		return nil, engine.Flow{}, fmt.Errorf("to: %w", err)
	}
	if from.IP.IsValid() && to.IP.IsValid() && from.IP.Is4() != to.IP.Is4() {
		return nil, engine.Flow{}, fmt.Errorf("%w: %s and %s are of different IP versions", ErrInvalidFlow, from.IP, to.IP)
	}
	res := &TraceResult{From: from, To: to, Protocol: name, Port: f.Port, SrcPort: f.SrcPort, ICMP: f.ICMP, HTTP: f.HTTP, m: m}
	return res, engine.Flow{Src: src, Dst: dst, Protocol: proto, SrcPort: f.SrcPort, DstPort: f.Port, ICMP: f.ICMP, HTTP: f.HTTP}, nil
}

// Trace evaluates one flow with the engine's trace. It fails with
// ErrInvalidFlow, ErrUnknownEndpoint or ErrAmbiguous for a flow it cannot
// build.
func (m *Model) Trace(f FlowSpec) (*TraceResult, error) {
	res, flow, err := m.flow(f)
	if err != nil {
		return nil, err
	}
	if res.Result, err = m.eng.EvaluateWithTrace(flow); err != nil {
		return nil, fmt.Errorf("analysis: trace: %w", err)
	}
	return res, nil
}

// flowString describes the flow in one line.
func (r *TraceResult) flowString() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s from %s to %s", r.Protocol, r.From, r.To)
	if r.Port != 0 {
		fmt.Fprintf(&b, " port %d", r.Port)
	}
	if r.SrcPort != 0 {
		fmt.Fprintf(&b, " (source port %d)", r.SrcPort)
	}
	if r.ICMP != nil {
		fmt.Fprintf(&b, " type %d code %d", r.ICMP.Type, r.ICMP.Code)
	}
	if r.HTTP != nil {
		fmt.Fprintf(&b, ", HTTP %s %s", r.HTTP.Method, r.HTTP.Path)
	}
	return b.String()
}

// Format writes the result as a tree: the flow, then for egress (at the
// source) and ingress (at the destination) every tier, policy and rule
// consulted with the field that failed to match, then the verdict and its
// reason. Staged policies, when any concern the flow, get their own tree.
func (r *TraceResult) Format(w io.Writer) {
	fmt.Fprintf(w, "%s\n\n", r.flowString())
	r.formatTrace(w, r.Trace, "")
	fmt.Fprintf(w, "\nVerdict: %s\n  %s\n", r.Verdict, r.reason(r.Egress, r.Ingress))
	if st := r.Staged; st != nil {
		fmt.Fprintf(w, "\nWith staged policies enforced:\n")
		r.formatTrace(w, st.Trace, "  ")
		fmt.Fprintf(w, "\n  Verdict: %s\n    %s\n", st.Verdict, r.reason(st.Egress, st.Ingress))
	}
}

// reason says what decided the verdict: the deciding direction's detail,
// or both when both allowed.
func (r *TraceResult) reason(eg, in engine.DirectionResult) string {
	describe := func(dir string, d engine.DirectionResult, at Peer) string {
		where := dir + " at " + at.String()
		if d.Reason == engine.ReasonNoEndpoint {
			where = dir
		}
		return where + ": " + r.detail(d)
	}
	switch {
	case eg.Verdict != v3.Allow:
		return describe("egress", eg, r.From)
	case in.Verdict != v3.Allow:
		return describe("ingress", in, r.To)
	}
	return describe("egress", eg, r.From) + "\n  " + describe("ingress", in, r.To)
}

// detail says in words what decided one direction.
func (r *TraceResult) detail(d engine.DirectionResult) string {
	verb := "allowed"
	if d.Verdict != v3.Allow {
		verb = "denied"
	}
	switch d.Reason {
	case engine.ReasonRule:
		return fmt.Sprintf("%s by rule %d (%s) of %s in tier %q", verb, d.Rule, d.Verdict, resourceID(d.Policy), d.Tier)
	case engine.ReasonEndOfTier:
		return fmt.Sprintf("denied at the end of tier %q: policies of the tier apply to the endpoint, and none allowed or passed the flow", d.Tier)
	case engine.ReasonProfile:
		return fmt.Sprintf("%s by rule %d (%s) of profile %s", verb, d.Rule, d.Verdict, d.Profile)
	case engine.ReasonDefaultDeny:
		return "denied by default: no policy or profile allowed the flow"
	case engine.ReasonNoEndpoint:
		return "allowed: the peer is not an endpoint of the model, so no policy applies on its side"
	}
	return verb
}

// formatTrace writes the two directions of a trace, naming endpoints in
// rule mismatches by their names.
func (r *TraceResult) formatTrace(w io.Writer, t engine.Trace, indent string) {
	names := r.m.keyNames()
	for _, dt := range []*engine.DirectionTrace{t.Egress, t.Ingress} {
		if dt == nil {
			continue
		}
		if dt.Endpoint == (v3.Key{}) {
			peer := r.From
			if dt.Direction == engine.Ingress {
				peer = r.To
			}
			fmt.Fprintf(w, "%s%s at %s:\n%s  not an endpoint: no policy applies\n", indent, dt.Direction, peer, indent)
		} else {
			fmt.Fprintf(w, "%s%s at %s:\n", indent, dt.Direction, r.m.endpointName(dt.Endpoint))
		}
		if len(dt.Tiers) == 0 && dt.Reason != engine.ReasonNoEndpoint {
			fmt.Fprintf(w, "%s  no policy applies\n", indent)
		}
		for _, tt := range dt.Tiers {
			missing := ""
			if tt.Missing {
				missing = ", no Tier resource: sorted last"
			}
			fmt.Fprintf(w, "%s  tier %s (default action %s%s)\n", indent, tt.Tier, tt.DefaultAction, missing)
			for _, pt := range tt.Policies {
				staged := ""
				if pt.Staged {
					staged = ", staged"
				}
				fmt.Fprintf(w, "%s    %s (order %s%s)\n", indent, resourceID(pt.Policy), orderString(pt.Order), staged)
				formatRules(w, indent+"      ", pt.Rules, names)
				fmt.Fprintf(w, "%s      -> %s\n", indent, pt.Outcome)
			}
			fmt.Fprintf(w, "%s    -> %s\n", indent, tt.Outcome)
		}
		for _, pt := range dt.Profiles {
			if pt.Missing {
				fmt.Fprintf(w, "%s  profile %s: does not exist, skipped\n", indent, pt.Profile)
				continue
			}
			fmt.Fprintf(w, "%s  profile %s\n", indent, pt.Profile)
			formatRules(w, indent+"    ", pt.Rules, names)
			fmt.Fprintf(w, "%s    -> %s\n", indent, pt.Outcome)
		}
		fmt.Fprintf(w, "%s  => %s\n", indent, strings.ToUpper(string(dt.Verdict)))
	}
}

func formatRules(w io.Writer, indent string, rules []engine.RuleTrace, names *strings.Replacer) {
	if len(rules) == 0 {
		fmt.Fprintf(w, "%s(no rules)\n", indent)
	}
	for _, rt := range rules {
		if rt.Matched {
			fmt.Fprintf(w, "%srule %d %s: matched\n", indent, rt.Index, rt.Action)
		} else {
			fmt.Fprintf(w, "%srule %d %s: no match: %s\n", indent, rt.Index, rt.Action, names.Replace(rt.Mismatch))
		}
	}
}

// orderString prints a policy order; nil sorts last.
func orderString(o *float64) string {
	if o == nil {
		return "none"
	}
	return strconv.FormatFloat(*o, 'g', -1, 64)
}
