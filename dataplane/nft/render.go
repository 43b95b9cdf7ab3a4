package nft

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/google/nftables"

	v3 "github.com/tabby-project/tabby/api/v3"
	"github.com/tabby-project/tabby/engine"
)

// Render builds the model of Tabby's table for in: the fixed skeleton
// (base chains, dispatch maps, failsafe chains), one chain per endpoint and
// direction, one per policy and profile in use and direction, and the sets
// their rules refer to. It does no I/O and depends only on cfg and in.
// Endpoints it cannot render (see Model.Problems) are left out, which
// leaves their traffic to the skeleton: forwarded traffic of an unknown
// workload interface is dropped.
func Render(cfg Config, in *Input) (*Model, error) {
	s, err := cfg.settings()
	if err != nil {
		return nil, err
	}
	return newRenderer(s, in).render()
}

// renderer holds the state of one Render.
type renderer struct {
	s  *settings
	in *Input
	m  *Model
	// ported are the endpoints with named ports, local and remote.
	ported map[v3.Key]EndpointPorts
	// wild records which wildcard host endpoint chains exist, by prefix.
	wild map[string]bool
}

func newRenderer(s *settings, in *Input) *renderer {
	if in == nil {
		in = &Input{}
	}
	return &renderer{
		s:  s,
		in: in,
		m: &Model{
			table:   s.table,
			chains:  map[string]*chain{},
			sets:    map[string]*set{},
			logRefs: map[string]RuleRef{},
		},
		wild: map[string]bool{},
	}
}

func (r *renderer) render() (*Model, error) {
	r.staticSets()
	wls, heps := r.classify()
	for _, ep := range wls {
		if err := r.workload(ep); err != nil {
			return nil, err
		}
	}
	for _, ep := range heps {
		if err := r.hostEndpoint(ep); err != nil {
			return nil, err
		}
	}
	r.failsafeChains()
	r.baseChains()
	return r.m, nil
}

func (r *renderer) staticSets() {
	protos := r.newSet(setPortProtos, setProtos)
	for _, p := range []int{protoTCP, protoUDP, protoSCTP} {
		protos.elems[elem{key: string([]byte{byte(p)})}] = ""
	}
	nd := r.newSet(setNDTypes, setICMPv6Types)
	// Multicast listener query, report and done, router solicitation,
	// neighbour solicitation and advertisement: what a workload needs to
	// reach its gateway, allowed before policy as Felix does.
	for _, t := range []byte{130, 131, 132, 133, 135, 136} {
		nd.elems[elem{key: string([]byte{t})}] = ""
	}
	r.newSet(setWLIfaces, setIfnames)
	r.newSet(setHEPIfaces, setIfnames)
	for _, m := range []string{mapWLFrom, mapWLTo, mapHEPIn, mapHEPOut, mapHEPFwdIn, mapHEPFwdOut, mapHEPPre, mapHEPRawIn, mapHEPRawOut} {
		r.newSet(m, setIfnameVmap)
	}
}

func (r *renderer) newSet(name string, kind setKind) *set {
	s := &set{name: name, kind: kind, elems: map[elem]string{}}
	r.m.sets[name] = s
	return s
}

// classify splits the endpoints into workload and host endpoints, sorted
// by key, leaving out (as problems) those without an interface or whose
// interface an earlier endpoint has.
func (r *renderer) classify() (wls, heps []*Endpoint) {
	keys := slices.SortedFunc(maps.Keys(r.in.Endpoints), compareKeys)
	owner := map[string]v3.Key{}
	for _, k := range keys {
		ep := r.in.Endpoints[k]
		ep.Key = k
		switch {
		case k.Kind != v3.KindWorkloadEndpoint && k.Kind != v3.KindHostEndpoint:
			r.m.problems = append(r.m.problems, fmt.Errorf("endpoint %s: not a workload or host endpoint", k))
			continue
		case ep.Interface == "":
			r.m.problems = append(r.m.problems, fmt.Errorf("endpoint %s: %w", k, ErrNoInterface))
			continue
		case ep.Interface == AllInterfaces && k.Kind == v3.KindWorkloadEndpoint:
			r.m.problems = append(r.m.problems, fmt.Errorf("endpoint %s: a workload endpoint cannot have interface %q", k, AllInterfaces))
			continue
		case len(ep.Interface) > 15:
			r.m.problems = append(r.m.problems, fmt.Errorf("endpoint %s: interface %q is longer than 15 characters", k, ep.Interface))
			continue
		}
		if prev, ok := owner[ep.Interface]; ok {
			r.m.problems = append(r.m.problems, fmt.Errorf("endpoint %s: interface %q already belongs to %s", k, ep.Interface, prev))
			continue
		}
		owner[ep.Interface] = k
		if k.Kind == v3.KindWorkloadEndpoint {
			wls = append(wls, &ep)
		} else {
			heps = append(heps, &ep)
		}
	}
	return wls, heps
}

func compareKeys(a, b v3.Key) int {
	return cmp.Or(strings.Compare(a.Kind, b.Kind), strings.Compare(a.Namespace, b.Namespace), strings.Compare(a.Name, b.Name))
}

// chainKind is what an endpoint chain enforces, which decides its
// conntrack rules, end-of-tier drops and profiles (calico-facts §5.2).
type chainKind uint8

const (
	kindNormal chainKind = iota
	kindForward
	kindPreDNAT
	kindUntracked
)

func policyOf(ep *Endpoint) *engine.EndpointPolicy {
	if ep.Policy == nil {
		return &engine.EndpointPolicy{Endpoint: ep.Key}
	}
	return ep.Policy
}

func (r *renderer) workload(ep *Endpoint) error {
	pol := policyOf(ep)
	to := endpointChain(prefixToWorkload, ep.Interface)
	from := endpointChain(prefixFromWorkload, ep.Interface)
	if err := r.endpointChain(to, ep, engine.Ingress, pol.Ingress, pol.Profiles, kindNormal, ""); err != nil {
		return err
	}
	if err := r.endpointChain(from, ep, engine.Egress, pol.Egress, pol.Profiles, kindNormal, ""); err != nil {
		return err
	}
	key := elem{key: string(ifname(ep.Interface))}
	r.m.sets[mapWLTo].elems[key] = to
	r.m.sets[mapWLFrom].elems[key] = from
	r.m.sets[setWLIfaces].elems[key] = ""
	return nil
}

func (r *renderer) hostEndpoint(ep *Endpoint) error {
	pol := policyOf(ep)
	chains := []struct {
		prefix, vmap string
		dir          engine.Direction
		tiers        []engine.TierPolicies
		kind         chainKind
		failsafe     string
	}{
		{prefixFromHost, mapHEPIn, engine.Ingress, pol.Ingress, kindNormal, chainFailsafeIn},
		{prefixToHost, mapHEPOut, engine.Egress, pol.Egress, kindNormal, chainFailsafeOut},
		{prefixFromHostFwd, mapHEPFwdIn, engine.Ingress, pol.ForwardIngress, kindForward, ""},
		{prefixToHostFwd, mapHEPFwdOut, engine.Egress, pol.ForwardEgress, kindForward, ""},
		{prefixFromHostPre, mapHEPPre, engine.Ingress, pol.PreDNATIngress, kindPreDNAT, chainFailsafeIn},
		{prefixFromHostRaw, mapHEPRawIn, engine.Ingress, pol.UntrackedIngress, kindUntracked, chainFailsafeInRaw},
		{prefixToHostRaw, mapHEPRawOut, engine.Egress, pol.UntrackedEgress, kindUntracked, chainFailsafeOutRaw},
	}
	key := elem{key: string(ifname(ep.Interface))}
	if ep.Interface != AllInterfaces {
		r.m.sets[setHEPIfaces].elems[key] = ""
	}
	for _, c := range chains {
		// Forwarded, preDNAT and untracked traffic of a host endpoint with
		// no such policy goes on untouched: no chain, no dispatch.
		if c.kind != kindNormal && !hasLive(c.tiers) {
			continue
		}
		name := endpointChain(c.prefix, ep.Interface)
		if err := r.endpointChain(name, ep, c.dir, c.tiers, pol.Profiles, c.kind, c.failsafe); err != nil {
			return err
		}
		if ep.Interface == AllInterfaces {
			r.wild[c.prefix] = true
		} else {
			r.m.sets[c.vmap].elems[key] = name
		}
	}
	return nil
}

// hasLive reports whether any tier has a policy that is not staged.
func hasLive(tiers []engine.TierPolicies) bool {
	for _, t := range tiers {
		for _, p := range t.Policies {
			if !p.Staged {
				return true
			}
		}
	}
	return false
}

// endpointChain renders the chain enforcing one direction of an endpoint
// (calico-facts §5.2): conntrack, failsafe, then each tier's policies in
// order (a policy's chain sets the accept or pass mark and returns), the
// end-of-tier drop, the profiles and the default drop.
func (r *renderer) endpointChain(name string, ep *Endpoint, dir engine.Direction, tiers []engine.TierPolicies,
	profiles []string, kind chainKind, failsafe string) error {
	c := &chain{name: name}
	accept, pass := r.s.markAccept, r.s.markPass
	static := RuleRef{Kind: RefStatic, Endpoint: ep.Key, Direction: dir, Index: -1}
	if kind == kindNormal || kind == kindForward {
		c.rules = append(c.rules, new(rb).ctState("invalid").counter().drop().rule(static, "drop invalid conntrack state"))
	}
	if failsafe != "" {
		c.rules = append(c.rules, new(rb).jump(failsafe).rule(RuleRef{Kind: RefFailsafe, Endpoint: ep.Key, Direction: dir, Index: -1}, "failsafe ports"))
	}
	c.rules = append(c.rules, new(rb).setMark(accept|pass, false).rule(static, "clear accept and pass marks"))
	first := true
	for _, t := range tiers {
		var live []engine.PolicyRef
		for _, p := range t.Policies {
			if !p.Staged && p.Policy != nil {
				live = append(live, p)
			}
		}
		if len(live) == 0 {
			continue
		}
		if !first {
			c.rules = append(c.rules, new(rb).setMark(pass, false).rule(static, comment("start of tier %s", t.Tier)))
		}
		first = false
		for i, p := range live {
			target := policyChain(dir, p.Key)
			if err := r.policy(target, dir, p); err != nil {
				return err
			}
			ref := RuleRef{Kind: RefPolicy, Endpoint: ep.Key, Direction: dir, Tier: t.Tier, Policy: p.Key, Index: -1}
			b := new(rb)
			if i > 0 {
				b.mark(pass, false)
			}
			c.rules = append(c.rules, b.counter().jump(target).rule(ref, comment("tier %s: policy %s", t.Tier, policyID(p.Key))))
			b = new(rb).mark(accept, true)
			if kind == kindUntracked {
				b.notrack()
			}
			c.rules = append(c.rules, b.ret().rule(ref, comment("policy %s accepted", policyID(p.Key))))
		}
		if (kind == kindNormal || kind == kindForward) && t.DefaultAction != v3.Pass {
			ref := RuleRef{Kind: RefEndOfTier, Endpoint: ep.Key, Direction: dir, Tier: t.Tier, Index: -1}
			b := new(rb).mark(pass, false).counter()
			r.deny(b, ref)
			c.rules = append(c.rules, b.rule(ref, comment("end of tier %s: no policy passed", t.Tier)))
		}
	}
	if kind == kindNormal {
		for _, name := range profiles {
			prof, ok := r.in.Profiles[name]
			if !ok {
				continue
			}
			target := profileChain(dir, name)
			if err := r.profile(target, dir, name, &prof); err != nil {
				return err
			}
			ref := RuleRef{Kind: RefProfile, Endpoint: ep.Key, Direction: dir, Profile: name, Index: -1}
			c.rules = append(c.rules,
				new(rb).counter().jump(target).rule(ref, comment("profile %s", name)),
				new(rb).mark(accept, true).ret().rule(ref, comment("profile %s accepted", name)))
		}
		ref := RuleRef{Kind: RefDefaultDeny, Endpoint: ep.Key, Direction: dir, Index: -1}
		b := new(rb).counter()
		r.deny(b, ref)
		c.rules = append(c.rules, b.rule(ref, "no policy or profile allowed"))
	}
	r.m.chains[name] = c
	return nil
}

// deny ends b with what a policy drop does under DropActionOverride.
func (r *renderer) deny(b *rb, ref RuleRef) {
	switch r.s.dropAction {
	case ActionAccept:
		b.accept()
	case ActionLogAndDrop:
		b.log(r.logPrefix(ref), r.s.logGroup).drop()
	case ActionLogAndAccept:
		b.log(r.logPrefix(ref), r.s.logGroup).accept()
	default:
		b.drop()
	}
}

// policy renders the chain of a policy's rules in one direction, once.
func (r *renderer) policy(name string, dir engine.Direction, p engine.PolicyRef) error {
	if _, ok := r.m.chains[name]; ok {
		return nil
	}
	rules := p.Policy.IngressRules
	if dir == engine.Egress {
		rules = p.Policy.EgressRules
	}
	return r.ruleChain(name, owner{dir: dir, tier: p.Policy.Tier, policy: p.Key}, rules)
}

// profile renders the chain of a profile's rules in one direction, once.
func (r *renderer) profile(name string, dir engine.Direction, profile string, p *Profile) error {
	if _, ok := r.m.chains[name]; ok {
		return nil
	}
	rules := p.Ingress
	if dir == engine.Egress {
		rules = p.Egress
	}
	return r.ruleChain(name, owner{dir: dir, profile: profile}, rules)
}

func (r *renderer) ruleChain(name string, o owner, rules []engine.Rule) error {
	c := &chain{name: name}
	for i := range rules {
		rs, err := r.rule(o, &rules[i])
		if err != nil {
			return fmt.Errorf("render %s %s rule %d: %w", o.what(), o.dir, rules[i].Index, err)
		}
		c.rules = append(c.rules, rs...)
	}
	r.m.chains[name] = c
	return nil
}

// failsafeChains renders the failsafe chains host endpoint chains jump to
// first: accept traffic to (inbound) or from (outbound) the failsafe
// ports. The raw variants, which run before conntrack, also accept the
// replies of the other direction, so that doNotTrack policy never untracks
// half of a failsafe connection.
func (r *renderer) failsafeChains() {
	ref := RuleRef{Kind: RefFailsafe, Index: -1}
	rules := func(fs []failsafe, dstPort, peerIsSource bool, what string) []rule {
		var out []rule
		for _, f := range fs {
			b := new(rb)
			if f.net.IsValid() {
				fam := 4
				if f.net.Addr().Is6() {
					fam = 6
				}
				b.nfproto(fam).prefix(fam, !peerIsSource, f.net, false)
			}
			b.l4proto(f.proto, false)
			if dstPort {
				b.portRange(true, int(f.port), int(f.port), false)
			} else {
				b.portRange(false, int(f.port), int(f.port), false)
			}
			out = append(out, b.counter().accept().rule(ref, comment("%s %s/%d", what, protoName(f.proto), f.port)))
		}
		return out
	}
	in, out := r.s.failsafeIn, r.s.failsafeOut
	r.m.chains[chainFailsafeIn] = &chain{name: chainFailsafeIn, rules: rules(in, true, true, "failsafe inbound")}
	r.m.chains[chainFailsafeOut] = &chain{name: chainFailsafeOut, rules: rules(out, true, false, "failsafe outbound")}
	r.m.chains[chainFailsafeInRaw] = &chain{name: chainFailsafeInRaw, rules: append(
		rules(in, true, true, "failsafe inbound"),
		rules(out, false, true, "failsafe outbound reply")...)}
	r.m.chains[chainFailsafeOutRaw] = &chain{name: chainFailsafeOutRaw, rules: append(
		rules(out, true, false, "failsafe outbound"),
		rules(in, false, false, "failsafe inbound reply")...)}
}

// wildcard appends to b the match of interfaces a host endpoint "*"
// covers: not loopback, not a workload interface, not the interface of
// another host endpoint.
func (r *renderer) wildcard(b *rb, out bool) *rb {
	b.iface(out, "lo", true).ifaceIn(out, setHEPIfaces, true).ifaceIn(out, setWLIfaces, true)
	for _, p := range r.s.wlPrefixes {
		b.iface(out, p+"*", true)
	}
	return b
}

func (r *renderer) baseChain(name string, h hook, rules ...rule) {
	r.m.chains[name] = &chain{name: name, hook: &h, rules: rules}
}

// baseChains renders the chains attached to netfilter hooks, all with
// policy accept: Tabby's table only ever takes packets away, and a packet
// it accepts still meets every other table of the host.
func (r *renderer) baseChains() {
	accept, pass := r.s.markAccept, r.s.markPass
	static := RuleRef{Kind: RefStatic, Index: -1}
	st := func(b *rb, c string) rule { return b.rule(static, c) }
	established := func() rule {
		return st(new(rb).ctState("established,related").counter().accept(), "conntrack fast path")
	}
	// dispatch sends packets to the host endpoint chains of prefix: the
	// named interfaces through vmap, the others to the chain of the host
	// endpoint for all interfaces, if there is one. guard, if not nil,
	// begins both rules.
	dispatch := func(out bool, vmap, prefix, what string, guard func(*rb) *rb) []rule {
		start := func() *rb {
			if guard != nil {
				return guard(new(rb))
			}
			return new(rb)
		}
		rs := []rule{st(start().vmap(out, vmap), what)}
		if r.wild[prefix] {
			rs = append(rs, st(r.wildcard(start(), out).jump(endpointChain(prefix, AllInterfaces)), what+" (all interfaces)"))
		}
		return rs
	}
	acceptedEarlier := func(what string) rule {
		return st(new(rb).mark(accept, true).counter().accept(), what)
	}

	// doNotTrack policy, before conntrack.
	raw := []rule{st(new(rb).setMark(accept|pass, false), "clear accept and pass marks")}
	raw = append(raw, dispatch(false, mapHEPRawIn, prefixFromHostRaw, "untracked policy of host endpoints", nil)...)
	raw = append(raw, acceptedEarlier("accepted by doNotTrack policy"))
	r.baseChain(chainRawPrerouting, hook{"prerouting", *nftables.ChainHookPrerouting, -300}, raw...)
	rawOut := []rule{st(new(rb).setMark(accept|pass, false), "clear accept and pass marks")}
	rawOut = append(rawOut, dispatch(true, mapHEPRawOut, prefixToHostRaw, "untracked policy of host endpoints", nil)...)
	rawOut = append(rawOut, acceptedEarlier("accepted by doNotTrack policy"))
	r.baseChain(chainRawOutput, hook{"output", *nftables.ChainHookOutput, -300}, rawOut...)

	// preDNAT policy, just before DNAT.
	pre := []rule{established(), acceptedEarlier("accepted by doNotTrack policy")}
	pre = append(pre, dispatch(false, mapHEPPre, prefixFromHostPre, "preDNAT policy of host endpoints", nil)...)
	pre = append(pre, acceptedEarlier("accepted by preDNAT policy"))
	r.baseChain(chainManglePrerouting, hook{"prerouting", *nftables.ChainHookPrerouting, -110}, pre...)

	// Traffic to the host: from workloads (their egress policy, then
	// EndpointToHostAction), else host endpoint ingress policy.
	input := []rule{established(), st(new(rb).ifaceIn(false, setWLIfaces, false).goTo(chainWorkloadToHost), "from a workload")}
	for _, p := range r.s.wlPrefixes {
		input = append(input, st(new(rb).iface(false, p+"*", false).goTo(chainWorkloadToHost), "from a workload"))
	}
	input = append(input, acceptedEarlier("accepted by doNotTrack or preDNAT policy"))
	input = append(input, dispatch(false, mapHEPIn, prefixFromHost, "host endpoint ingress policy", nil)...)
	r.baseChain(chainFilterInput, hook{"input", *nftables.ChainHookInput, 0}, input...)

	toHost := []rule{
		st(new(rb).nfproto(6).l4proto(protoICMPv6, false).icmpv6TypeIn(setNDTypes).counter().accept(), "IPv6 neighbour discovery"),
		st(new(rb).vmap(false, mapWLFrom), "workload egress policy"),
		st(new(rb).mark(accept, false).counter().drop(), "unknown workload interface"),
	}
	if r.s.toHostAction == ActionDrop {
		toHost = append(toHost, st(new(rb).counter().drop(), "EndpointToHostAction Drop"))
	} else {
		toHost = append(toHost, st(new(rb).counter().accept(), "EndpointToHostAction "+r.s.toHostAction))
	}
	r.m.chains[chainWorkloadToHost] = &chain{name: chainWorkloadToHost, rules: toHost}

	// Forwarded traffic: host endpoint forward policy on the way in, the
	// source workload's egress and the destination workload's ingress
	// policy, host endpoint forward policy on the way out.
	fwd := []rule{established(), st(new(rb).setMark(pass, false), "clear pass mark")}
	notAccepted := func(b *rb) *rb { return b.mark(accept, false) }
	fwd = append(fwd, dispatch(false, mapHEPFwdIn, prefixFromHostFwd, "host endpoint forward ingress policy", notAccepted)...)
	for _, out := range []bool{false, true} {
		for _, p := range r.s.wlPrefixes {
			fwd = append(fwd, st(new(rb).iface(out, p+"*", false).ifaceIn(out, setWLIfaces, true).counter().drop(), "unknown workload interface"))
		}
	}
	fwd = append(fwd, st(new(rb).vmap(false, mapWLFrom), "workload egress policy"), st(new(rb).vmap(true, mapWLTo), "workload ingress policy"))
	fwd = append(fwd, dispatch(true, mapHEPFwdOut, prefixToHostFwd, "host endpoint forward egress policy", nil)...)
	r.baseChain(chainFilterForward, hook{"forward", *nftables.ChainHookForward, 0}, fwd...)

	// Traffic from the host: to its own workloads it is not policed (as in
	// Felix); else host endpoint egress policy.
	output := []rule{established(), acceptedEarlier("accepted by doNotTrack policy"),
		st(new(rb).ifaceIn(true, setWLIfaces, false).accept(), "host to its workloads is not policed")}
	for _, p := range r.s.wlPrefixes {
		output = append(output, st(new(rb).iface(true, p+"*", false).accept(), "host to its workloads is not policed"))
	}
	output = append(output, dispatch(true, mapHEPOut, prefixToHost, "host endpoint egress policy", nil)...)
	r.baseChain(chainFilterOutput, hook{"output", *nftables.ChainHookOutput, 0}, output...)
}
