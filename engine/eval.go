package engine

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	v3 "github.com/tabby-project/tabby/api/v3"
	"github.com/tabby-project/tabby/selector"
)

// Flow is a packet (or connection) to evaluate.
type Flow struct {
	Src, Dst Peer
	// Protocol is the IP protocol number (6 TCP, 17 UDP, 1 ICMP, 58
	// ICMPv6, 132 SCTP...).
	Protocol         int
	SrcPort, DstPort int
	// ICMP is the ICMP type and code of an ICMP or ICMPv6 packet.
	ICMP *ICMP
	// IPVersion is 4 or 6; 0 means "from the peers' addresses".
	IPVersion int
	// HTTP is the request for application-layer evaluation; rules with an
	// http match only match flows that carry one.
	HTTP *HTTPRequest
}

// Peer is one end of a flow: a workload or host endpoint, or a bare
// address. An endpoint's address defaults to its first address (of the
// flow's IP version when given). An address that belongs to a known
// endpoint is that endpoint: its policy applies.
type Peer struct {
	Endpoint v3.Key
	IP       netip.Addr
}

// ICMP is an ICMP type and code.
type ICMP struct {
	Type, Code int
}

// HTTPRequest is the application-layer part of a flow.
type HTTPRequest struct {
	Method string
	Path   string
}

// Reason says what decided a direction.
type Reason string

// The reasons.
const (
	// ReasonRule: an Allow or Deny rule of a policy matched.
	ReasonRule Reason = "rule"
	// ReasonEndOfTier: a tier applied, no rule decided or passed, and its
	// default action is Deny.
	ReasonEndOfTier Reason = "end-of-tier"
	// ReasonProfile: an Allow or Deny rule of a profile matched.
	ReasonProfile Reason = "profile"
	// ReasonDefaultDeny: nothing allowed the traffic.
	ReasonDefaultDeny Reason = "default-deny"
	// ReasonNoEndpoint: the peer on this side is not an endpoint, so no
	// policy applies there.
	ReasonNoEndpoint Reason = "no-endpoint"
)

// Result is the verdict for a flow. The flow is allowed only if both its
// egress (at the source endpoint) and its ingress (at the destination
// endpoint) are.
type Result struct {
	Verdict v3.Action       `json:"verdict"`
	Egress  DirectionResult `json:"egress"`
	Ingress DirectionResult `json:"ingress"`
	// Staged is what the verdict would be if staged policies were
	// enforced; nil when no staged policy concerns either endpoint. It
	// never changes Verdict.
	Staged *StagedResult `json:"staged,omitempty"`
	// Trace is filled by EvaluateWithTrace only.
	Trace Trace `json:"trace,omitzero"`
}

// StagedResult is the "would have" verdict with staged policies in force.
type StagedResult struct {
	Verdict v3.Action       `json:"verdict"`
	Egress  DirectionResult `json:"egress"`
	Ingress DirectionResult `json:"ingress"`
	Trace   Trace           `json:"trace,omitzero"`
}

// DirectionResult is the verdict of one direction and what decided it.
type DirectionResult struct {
	Verdict v3.Action `json:"verdict"`
	Reason  Reason    `json:"reason"`
	// Endpoint is the endpoint whose policy was evaluated (zero for
	// ReasonNoEndpoint).
	Endpoint v3.Key `json:"endpoint,omitzero"`
	// Tier and Policy name the deciding tier and policy, Rule the index of
	// the deciding rule in the policy's (or profile's) rules for this
	// direction, -1 when no rule decided.
	Tier    string `json:"tier,omitempty"`
	Policy  v3.Key `json:"policy,omitzero"`
	Profile string `json:"profile,omitempty"`
	Rule    int    `json:"rule"`
	// Logged are the Log rules that matched on the way.
	Logged []RuleRef `json:"logged,omitempty"`
}

// RuleRef names a rule of a policy or (Policy zero) of a profile.
type RuleRef struct {
	Policy  v3.Key `json:"policy,omitzero"`
	Profile string `json:"profile,omitempty"`
	Index   int    `json:"index"`
}

// Evaluate returns the verdict for f. It does no parsing and, unless a Log
// rule matches or staged policies are involved, no allocation. It fails
// with ErrUnknownEndpoint or ErrNoPeer for a peer it cannot resolve.
func (e *Engine) Evaluate(f Flow) (Result, error) {
	return e.evaluate(f, false)
}

// EvaluateWithTrace is Evaluate that also records in Result.Trace (and
// Result.Staged.Trace) every tier, policy and rule consulted, whether each
// rule matched and, if not, the first field that did not.
func (e *Engine) EvaluateWithTrace(f Flow) (Result, error) {
	return e.evaluate(f, true)
}

// flowCtx is a flow with its peers resolved once for all rules.
type flowCtx struct {
	f        Flow
	version  int
	src, dst peerCtx
}

// peerCtx is a resolved peer: the endpoint whose policy applies (if any),
// its address, and the candidates a rule selector is tried against: the
// endpoint, other endpoints with the address, and the network sets whose
// nets contain it. This is how Felix's IP sets see a packet.
type peerCtx struct {
	ep    *member
	ip    netip.Addr
	n     int
	fixed [8]*member
	more  []*member
}

func (p *peerCtx) add(m *member) {
	for i := range p.n {
		if p.at(i) == m {
			return
		}
	}
	if p.n < len(p.fixed) {
		p.fixed[p.n] = m
	} else {
		p.more = append(p.more, m)
	}
	p.n++
}

func (p *peerCtx) at(i int) *member {
	if i < len(p.fixed) {
		return p.fixed[i]
	}
	return p.more[i-len(p.fixed)]
}

// anyMatches reports whether sel matches any candidate.
func (p *peerCtx) anyMatches(sel *selector.Selector) bool {
	for i := range p.n {
		if sel.Matches(selector.Map(p.at(i).labels)) {
			return true
		}
	}
	return false
}

// namedPort reports whether a candidate endpoint matching sel (any, when
// nil) declares one of names as proto/port. Felix puts (address, protocol,
// port) of such endpoints in the named-port set.
func (p *peerCtx) namedPort(names []string, sel *selector.Selector, proto, port int) bool {
	if len(names) == 0 {
		return false
	}
	for i := range p.n {
		m := p.at(i)
		if !m.endpoint || (sel != nil && !sel.Matches(selector.Map(m.labels))) {
			continue
		}
		for _, np := range m.ports {
			if np.proto == proto && np.port == port && slices.Contains(names, np.name) {
				return true
			}
		}
	}
	return false
}

func (e *Engine) evaluate(f Flow, trace bool) (Result, error) {
	fc := flowCtx{f: f, version: f.IPVersion}
	if fc.version == 0 {
		fc.version = versionOf(f.Src.IP, f.Dst.IP)
	}
	if err := e.resolve(&fc.src, f.Src, fc.version); err != nil {
		return Result{}, fmt.Errorf("evaluate source: %w", err)
	}
	if err := e.resolve(&fc.dst, f.Dst, fc.version); err != nil {
		return Result{}, fmt.Errorf("evaluate destination: %w", err)
	}
	if fc.version == 0 {
		fc.version = versionOf(fc.src.ip, fc.dst.ip)
	}
	var res Result
	var tr *Trace
	if trace {
		tr = &res.Trace
	}
	res.Egress = e.direction(&fc, Egress, false, tr)
	res.Ingress = e.direction(&fc, Ingress, false, tr)
	res.Verdict = combine(res.Egress, res.Ingress)
	if hasStaged(fc.src.ep) || hasStaged(fc.dst.ep) {
		st := &StagedResult{}
		var str *Trace
		if trace {
			str = &st.Trace
		}
		st.Egress = e.direction(&fc, Egress, true, str)
		st.Ingress = e.direction(&fc, Ingress, true, str)
		st.Verdict = combine(st.Egress, st.Ingress)
		res.Staged = st
	}
	return res, nil
}

func combine(eg, in DirectionResult) v3.Action {
	if eg.Verdict == v3.Allow && in.Verdict == v3.Allow {
		return v3.Allow
	}
	return v3.Deny
}

func versionOf(addrs ...netip.Addr) int {
	for _, a := range addrs {
		switch {
		case !a.IsValid():
		case a.Unmap().Is4():
			return 4
		default:
			return 6
		}
	}
	return 0
}

// hasStaged reports whether a staged policy (or a live one a staged policy
// replaces) is among an endpoint's normal policies.
func hasStaged(m *member) bool {
	if m == nil {
		return false
	}
	for _, p := range m.pols {
		if p.inNormal() && (p.pol.Staged || p.shadowed) {
			return true
		}
	}
	return false
}

func (e *Engine) resolve(p *peerCtx, peer Peer, version int) error {
	switch {
	case peer.Endpoint != v3.Key{}:
		m := e.ix.members[peer.Endpoint]
		if m == nil || !m.endpoint {
			return fmt.Errorf("%s: %w", peer.Endpoint, ErrUnknownEndpoint)
		}
		p.ep = m
		if peer.IP.IsValid() {
			p.ip = peer.IP.Unmap()
		} else {
			p.ip = pickAddr(m.addrs, version)
		}
	case peer.IP.IsValid():
		p.ip = peer.IP.Unmap()
		if eps := e.addrs[p.ip]; len(eps) > 0 {
			p.ep = eps[0]
		}
	default:
		return ErrNoPeer
	}
	if p.ep != nil {
		p.add(p.ep)
	}
	if !p.ip.IsValid() {
		return nil
	}
	for _, m := range e.addrs[p.ip] {
		p.add(m)
	}
	fam, maxBits := 0, 32
	if p.ip.Is6() {
		fam, maxBits = 1, 128
	}
	if len(e.netBits[fam]) == 0 {
		return nil
	}
	for bits := 0; bits <= maxBits; bits++ {
		if e.netBits[fam][bits] == 0 {
			continue
		}
		pfx, err := p.ip.Prefix(bits)
		if err != nil {
			continue
		}
		for _, m := range e.nets[pfx] {
			p.add(m)
		}
	}
	return nil
}

func pickAddr(addrs []netip.Addr, version int) netip.Addr {
	for _, a := range addrs {
		if version == 0 || (version == 4) == a.Is4() {
			return a
		}
	}
	return netip.Addr{}
}

// direction walks the policy of the endpoint on one side of the flow:
// egress at the source, ingress at the destination. staged selects the
// "would have" walk. tr, when not nil, receives the trace.
func (e *Engine) direction(fc *flowCtx, dir Direction, staged bool, tr *Trace) DirectionResult {
	side := &fc.dst
	if dir == Egress {
		side = &fc.src
	}
	var dt *DirectionTrace
	if tr != nil {
		dt = &DirectionTrace{Direction: dir}
		if dir == Egress {
			tr.Egress = dt
		} else {
			tr.Ingress = dt
		}
	}
	res := e.walk(fc, side.ep, dir, staged, dt)
	if dt != nil {
		dt.Endpoint, dt.Verdict, dt.Reason = res.Endpoint, res.Verdict, res.Reason
		dt.Detail = res.describe(dir)
	}
	return res
}

func (e *Engine) walk(fc *flowCtx, m *member, dir Direction, staged bool, dt *DirectionTrace) DirectionResult {
	if m == nil {
		return DirectionResult{Verdict: v3.Allow, Reason: ReasonNoEndpoint, Rule: -1}
	}
	res := DirectionResult{Endpoint: m.key, Rule: -1}
	pols := m.pols
	for i := 0; i < len(pols); {
		t := pols[i].tier
		j := i + 1
		for j < len(pols) && pols[j].tier == t {
			j++
		}
		group := pols[i:j]
		i = j
		applied, passed := false, false
		var tt *TierTrace
		for _, p := range group {
			if !p.inNormal() || !p.governs(dir) || !p.activeIn(staged) {
				continue
			}
			applied = true
			var pt *PolicyTrace
			if dt != nil {
				if tt == nil {
					dt.Tiers = append(dt.Tiers, TierTrace{Tier: t.name, Missing: !t.exists, DefaultAction: t.defaultAction})
					tt = &dt.Tiers[len(dt.Tiers)-1]
				}
				tt.Policies = append(tt.Policies, PolicyTrace{Policy: p.key, Order: p.pol.Order, Staged: p.pol.Staged})
				pt = &tt.Policies[len(tt.Policies)-1]
			}
			var rt *[]RuleTrace
			if pt != nil {
				rt = &pt.Rules
			}
			action, idx := runRules(fc, p.pol.rules(dir), rt, &res, RuleRef{Policy: p.key})
			if pt != nil {
				pt.Outcome = outcomeOf(action)
			}
			switch action {
			case v3.Allow, v3.Deny:
				res.Verdict, res.Reason, res.Tier, res.Policy, res.Rule = action, ReasonRule, t.name, p.key, idx
				if tt != nil {
					tt.Outcome = outcomeOf(action)
				}
				return res
			case v3.Pass:
				passed = true
			}
			if passed {
				break
			}
		}
		switch {
		case !applied:
		case passed:
			if tt != nil {
				tt.Outcome = OutcomePass
			}
		case t.defaultAction == v3.Pass:
			if tt != nil {
				tt.Outcome = OutcomeDefaultPass
			}
		default:
			if tt != nil {
				tt.Outcome = OutcomeEndOfTierDeny
			}
			res.Verdict, res.Reason, res.Tier = v3.Deny, ReasonEndOfTier, t.name
			return res
		}
	}
	for _, name := range m.profiles {
		prof := e.profiles[name]
		var pt *ProfileTrace
		if dt != nil {
			dt.Profiles = append(dt.Profiles, ProfileTrace{Profile: name, Missing: prof == nil})
			pt = &dt.Profiles[len(dt.Profiles)-1]
		}
		if prof == nil {
			if pt != nil {
				pt.Outcome = OutcomeNoMatch
			}
			continue
		}
		rules := prof.ingress
		if dir == Egress {
			rules = prof.egress
		}
		var rt *[]RuleTrace
		if pt != nil {
			rt = &pt.Rules
		}
		action, idx := runRules(fc, rules, rt, &res, RuleRef{Profile: name})
		if pt != nil {
			pt.Outcome = outcomeOf(action)
		}
		if action == v3.Allow || action == v3.Deny {
			res.Verdict, res.Reason, res.Profile, res.Rule = action, ReasonProfile, name, idx
			return res
		}
	}
	res.Verdict, res.Reason = v3.Deny, ReasonDefaultDeny
	return res
}

// runRules runs a policy's or profile's rules: the first Allow, Deny or
// Pass rule that matches decides (returned with its index); Log rules that
// match are recorded in res and evaluation goes on. "" means no rule
// decided. rt, when not nil, receives the trace of every rule tried.
func runRules(fc *flowCtx, rules []Rule, rt *[]RuleTrace, res *DirectionResult, ref RuleRef) (v3.Action, int) {
	for i := range rules {
		r := &rules[i]
		fail := matchRule(r, fc)
		if rt != nil {
			t := RuleTrace{Index: r.Index, Action: r.Action, Matched: fail.code == failNone}
			if fail.code != failNone {
				t.Mismatch = fail.describe(r, fc)
			}
			*rt = append(*rt, t)
		}
		if fail.code != failNone {
			continue
		}
		if r.Action == v3.Log {
			ref.Index = r.Index
			res.Logged = append(res.Logged, ref)
			continue
		}
		return r.Action, r.Index
	}
	return "", -1
}

// failCode names the first field of a rule that a flow does not match.
type failCode uint8

const (
	failNone failCode = iota
	failIPVersion
	failProtocol
	failNotProtocol
	failICMP
	failNotICMP
	failNets
	failNotNets
	failSelector
	failNotSelector
	failPortProtocol
	failPorts
	failNotPortProtocol
	failNotPorts
	failHTTP
	failHTTPMethod
	failHTTPPath
)

// failure is a mismatch: the field and, for entity fields, the side.
type failure struct {
	code failCode
	dst  bool
}

// matchRule checks every field of r against the flow, in a fixed order,
// and returns the first that does not match.
func matchRule(r *Rule, fc *flowCtx) failure {
	f := &fc.f
	if r.IPVersion != 0 && r.IPVersion != fc.version {
		return failure{code: failIPVersion}
	}
	if r.Protocol != 0 && r.Protocol != f.Protocol {
		return failure{code: failProtocol}
	}
	if r.NotProtocol != 0 && r.NotProtocol == f.Protocol {
		return failure{code: failNotProtocol}
	}
	if r.ICMP != nil && !icmpMatches(r.ICMP, f.ICMP) {
		return failure{code: failICMP}
	}
	if r.NotICMP != nil && icmpMatches(r.NotICMP, f.ICMP) {
		return failure{code: failNotICMP}
	}
	if c := matchEntity(&r.Source, &fc.src, f.SrcPort, f.Protocol); c != failNone {
		return failure{code: c}
	}
	if c := matchEntity(&r.Destination, &fc.dst, f.DstPort, f.Protocol); c != failNone {
		return failure{code: c, dst: true}
	}
	if r.HTTP != nil {
		if c := matchHTTP(r.HTTP, f.HTTP); c != failNone {
			return failure{code: c}
		}
	}
	return failure{}
}

func icmpMatches(m *ICMPMatch, got *ICMP) bool {
	return got != nil && got.Type == m.Type && (m.Code < 0 || got.Code == m.Code)
}

func matchEntity(en *Entity, p *peerCtx, port, proto int) failCode {
	if len(en.Nets) > 0 && !(p.ip.IsValid() && containsAny(en.Nets, p.ip)) {
		return failNets
	}
	if len(en.NotNets) > 0 && p.ip.IsValid() && containsAny(en.NotNets, p.ip) {
		return failNotNets
	}
	if en.rawSel != nil && !p.anyMatches(en.rawSel) {
		return failSelector
	}
	if en.rawNotSel != nil && p.anyMatches(en.rawNotSel) {
		return failNotSelector
	}
	if len(en.Ports) > 0 || len(en.NamedPorts) > 0 {
		if !hasPorts(proto) {
			return failPortProtocol
		}
		if !inRanges(en.Ports, port) && !p.namedPort(en.NamedPorts, en.rawSel, proto, port) {
			return failPorts
		}
	}
	if len(en.NotPorts) > 0 || len(en.NotNamedPorts) > 0 {
		if !hasPorts(proto) {
			return failNotPortProtocol
		}
		if inRanges(en.NotPorts, port) || p.namedPort(en.NotNamedPorts, en.rawSel, proto, port) {
			return failNotPorts
		}
	}
	return failNone
}

// hasPorts reports whether Calico can match ports of the protocol: TCP,
// UDP and SCTP.
func hasPorts(proto int) bool { return proto == 6 || proto == 17 || proto == 132 }

func containsAny(nets []netip.Prefix, ip netip.Addr) bool {
	for _, n := range nets {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

func inRanges(ranges []PortRange, port int) bool {
	for _, r := range ranges {
		if port >= r.Min && port <= r.Max {
			return true
		}
	}
	return false
}

func matchHTTP(m *v3.HTTPMatch, req *HTTPRequest) failCode {
	if req == nil {
		return failHTTP
	}
	if len(m.Methods) > 0 && !slices.Contains(m.Methods, req.Method) {
		return failHTTPMethod
	}
	if len(m.Paths) > 0 {
		path := requestPath(req.Path)
		for _, p := range m.Paths {
			if (p.Exact != "" && path == p.Exact) || (p.Prefix != "" && strings.HasPrefix(path, p.Prefix)) {
				return failNone
			}
		}
		return failHTTPPath
	}
	return failNone
}

// requestPath drops the query and fragment, which HTTP path matches ignore.
func requestPath(p string) string {
	if i := strings.IndexAny(p, "?#"); i >= 0 {
		return p[:i]
	}
	return p
}
