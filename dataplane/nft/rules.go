package nft

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	v3 "github.com/tabby-project/tabby/api/v3"
	"github.com/tabby-project/tabby/engine"
)

// errNoSet is returned for a rule selector the engine gave no set ID.
var errNoSet = errors.New("selector without a set ID")

// hasPorts reports whether rules can match ports of the protocol: TCP, UDP
// and SCTP, as in the engine.
func hasPorts(p int) bool { return p == protoTCP || p == protoUDP || p == protoSCTP }

// portAlt is one way a side's ports can match: its numeric ports, its
// named ports, or (none) no port constraint. Ports and named ports of one
// side are alternatives (a packet matches either), so a rule with both
// becomes two nft rules.
type portAlt uint8

const (
	altNone portAlt = iota
	altNumeric
	altNamed
)

func portAlts(en *engine.Entity) []portAlt {
	switch {
	case len(en.Ports) > 0 && len(en.NamedPorts) > 0:
		return []portAlt{altNumeric, altNamed}
	case len(en.Ports) > 0:
		return []portAlt{altNumeric}
	case len(en.NamedPorts) > 0:
		return []portAlt{altNamed}
	}
	return []portAlt{altNone}
}

func hasPortMatch(en *engine.Entity) bool {
	return len(en.Ports)+len(en.NamedPorts)+len(en.NotPorts)+len(en.NotNamedPorts) > 0
}

// familySpecific reports whether an entity matches addresses whatever its
// port alternative: nets, selectors, named ports it excludes.
func familySpecific(en *engine.Entity) bool {
	return len(en.Nets)+len(en.NotNets) > 0 || en.Selector != "" || en.NotSelector != "" || len(en.NotNamedPorts) > 0
}

func familyOf(p netip.Prefix) int {
	if p.Addr().Is4() {
		return 4
	}
	return 6
}

func netsOf(nets []netip.Prefix, fam int) []netip.Prefix {
	var out []netip.Prefix
	for _, n := range nets {
		if familyOf(n) == fam {
			out = append(out, n)
		}
	}
	return out
}

// rule renders one engine rule as the nft rules that together match what
// it matches (calico-facts §5.2; the engine's matchRule): one per address
// family when it matches addresses, and one per alternative of numeric and
// named ports. A rule that can match nothing renders as none: an HTTP rule
// (the engine never matches one for an L3/L4 packet), ports with a
// protocol that has none, nets of another family than ipVersion.
func (r *renderer) rule(o owner, er *engine.Rule) ([]rule, error) {
	if er.HTTP != nil {
		return nil, nil
	}
	portMatch := hasPortMatch(&er.Source) || hasPortMatch(&er.Destination)
	if portMatch && er.Protocol != 0 && !hasPorts(er.Protocol) {
		return nil, nil
	}
	ref := RuleRef{Kind: RefRule, Direction: o.dir, Tier: o.tier, Policy: o.policy, Profile: o.profile, Index: er.Index, Action: er.Action}
	var out []rule
	for _, srcAlt := range portAlts(&er.Source) {
		for _, dstAlt := range portAlts(&er.Destination) {
			for _, fam := range families(er, srcAlt == altNamed || dstAlt == altNamed) {
				b := new(rb)
				if fam != 0 {
					b.nfproto(fam)
				}
				switch {
				case er.Protocol != 0:
					b.l4proto(er.Protocol, false)
				case portMatch:
					b.l4protoIn(setPortProtos)
				}
				if er.NotProtocol != 0 {
					b.l4proto(er.NotProtocol, true)
				}
				v6 := er.Protocol == protoICMPv6
				if er.ICMP != nil {
					b.icmp(v6, er.ICMP.Type, er.ICMP.Code, false)
				}
				if er.NotICMP != nil {
					b.icmp(v6, er.NotICMP.Type, er.NotICMP.Code, true)
				}
				if err := r.entity(b, fam, false, &er.Source, srcAlt); err != nil {
					return nil, fmt.Errorf("source: %w", err)
				}
				if err := r.entity(b, fam, true, &er.Destination, dstAlt); err != nil {
					return nil, fmt.Errorf("destination: %w", err)
				}
				b.counter()
				r.action(b, er.Action, ref)
				out = append(out, b.rule(ref, comment("%s %s rule %d %s", o.what(), o.dir, er.Index, er.Action)))
			}
		}
	}
	return out, nil
}

// families returns the address families a rule needs a variant for: {0}
// (one variant for both) when it matches no address, else those of 4 and
// 6 that its ipVersion, ICMP protocol and nets allow. named says whether
// the variant matches named ports, which are addresses.
func families(er *engine.Rule, named bool) []int {
	if !named && er.IPVersion == 0 && !familySpecific(&er.Source) && !familySpecific(&er.Destination) &&
		er.Protocol != protoICMP && er.Protocol != protoICMPv6 {
		return []int{0}
	}
	var fams []int
	for _, fam := range []int{4, 6} {
		switch {
		case er.IPVersion != 0 && er.IPVersion != fam,
			er.Protocol == protoICMP && fam != 4,
			er.Protocol == protoICMPv6 && fam != 6,
			len(er.Source.Nets) > 0 && len(netsOf(er.Source.Nets, fam)) == 0,
			len(er.Destination.Nets) > 0 && len(netsOf(er.Destination.Nets, fam)) == 0:
			continue
		}
		fams = append(fams, fam)
	}
	return fams
}

// action ends b with a rule action: Allow and Pass set their mark and
// return to the endpoint chain, Deny drops (DropActionOverride permitting),
// Log logs and goes on.
func (r *renderer) action(b *rb, a v3.Action, ref RuleRef) {
	switch a {
	case v3.Allow:
		b.setMark(r.s.markAccept, true).ret()
	case v3.Pass:
		b.setMark(r.s.markPass, true).ret()
	case v3.Deny:
		r.deny(b, ref)
	case v3.Log:
		b.log(r.logPrefix(ref), r.s.logGroup)
	}
}

// entity appends the matches of one side of a rule for family fam (0 when
// the rule matches no address).
func (r *renderer) entity(b *rb, fam int, dst bool, en *engine.Entity, alt portAlt) error {
	if fam != 0 {
		if nets := netsOf(en.Nets, fam); len(nets) > 0 {
			r.netMatch(b, fam, dst, nets, false)
		}
		if nets := netsOf(en.NotNets, fam); len(nets) > 0 {
			r.netMatch(b, fam, dst, nets, true)
		}
		if en.Selector != "" {
			if en.SelectorSet == "" {
				return fmt.Errorf("%w: %q", errNoSet, en.Selector)
			}
			b.addrIn(fam, dst, r.selectorSet(fam, en.SelectorSet), false)
		}
		if en.NotSelector != "" {
			if en.NotSelectorSet == "" {
				return fmt.Errorf("%w: %q", errNoSet, en.NotSelector)
			}
			b.addrIn(fam, dst, r.selectorSet(fam, en.NotSelectorSet), true)
		}
	}
	switch alt {
	case altNumeric:
		r.portMatch(b, dst, en.Ports, false)
	case altNamed:
		b.namedPortIn(fam, dst, r.namedPortSet(fam, en.SelectorSet, en.NamedPorts), false)
	}
	if len(en.NotPorts) > 0 {
		r.portMatch(b, dst, en.NotPorts, true)
	}
	if len(en.NotNamedPorts) > 0 {
		b.namedPortIn(fam, dst, r.namedPortSet(fam, en.SelectorSet, en.NotNamedPorts), true)
	}
	return nil
}

// netMatch matches an address against nets: inline when they make one
// prefix, else through an interval set named after its content, which
// rules with the same nets share.
func (r *renderer) netMatch(b *rb, fam int, dst bool, nets []netip.Prefix, negate bool) {
	elems := addrElems(nets, fam)
	if len(elems) == 1 {
		for e := range elems {
			from, _ := netip.AddrFromSlice([]byte(e.key))
			to, _ := netip.AddrFromSlice([]byte(e.end))
			if p, ok := rangePrefix(from, to); ok {
				b.prefix(fam, dst, p, negate)
				return
			}
		}
	}
	name := fmt.Sprintf("n%d-%s", fam, elemsHash(elems))
	r.contentSet(name, setAddr(fam), elems)
	b.addrIn(fam, dst, name, negate)
}

// portMatch matches a port against ranges: inline for one range, else
// through an interval set named after its content.
func (r *renderer) portMatch(b *rb, dst bool, ranges []engine.PortRange, negate bool) {
	elems := portElems(ranges)
	if len(ranges) == 1 || len(elems) == 1 {
		for e := range elems {
			b.portRange(dst, int(be16Int(e.key)), int(be16Int(e.end)), negate)
			return
		}
	}
	name := "p-" + elemsHash(elems)
	r.contentSet(name, setPorts, elems)
	b.portIn(dst, name, negate)
}

func setAddr(fam int) setKind {
	if fam == 4 {
		return setAddr4
	}
	return setAddr6
}

// contentSet adds a set whose name is derived from its elements, so it
// never changes while it exists.
func (r *renderer) contentSet(name string, kind setKind, elems map[elem]string) {
	if _, ok := r.m.sets[name]; ok {
		return
	}
	r.m.sets[name] = &set{name: name, kind: kind, elems: elems}
}

// selectorSet adds the set of the addresses of a rule selector's members
// in a family and returns its name. Its elements change as members come
// and go; rules refer to it by name and never change with it.
func (r *renderer) selectorSet(fam int, id string) string {
	name := selectorSet(fam, id)
	if _, ok := r.m.sets[name]; ok {
		return name
	}
	var nets []netip.Prefix
	for _, m := range r.in.Sets[id] {
		nets = append(nets, m.Nets...)
	}
	r.m.sets[name] = &set{name: name, kind: setAddr(fam), elems: addrElems(nets, fam)}
	return name
}

// namedPortSet adds the set of address . protocol . port of the endpoints
// that declare one of names, among the members of the selector set id (all
// endpoints when id is empty), as the engine resolves named ports.
func (r *renderer) namedPortSet(fam int, id string, names []string) string {
	sorted := slices.Sorted(slices.Values(names))
	name := fmt.Sprintf("np%d-%s", fam, shortHash(id+"|"+strings.Join(sorted, ",")))
	if _, ok := r.m.sets[name]; ok {
		return name
	}
	kind := setNamedPort4
	if fam == 6 {
		kind = setNamedPort6
	}
	s := &set{name: name, kind: kind, elems: map[elem]string{}}
	r.m.sets[name] = s
	ported := r.portedEndpoints()
	add := func(ep EndpointPorts) {
		for _, p := range ep.Ports {
			if !slices.Contains(sorted, p.Name) {
				continue
			}
			for _, a := range ep.Addrs {
				if (fam == 4) == a.Is4() {
					s.elems[elem{key: namedPortKey(a, p.Protocol, p.Port)}] = ""
				}
			}
		}
	}
	if id == "" {
		for _, ep := range ported {
			add(ep)
		}
		return name
	}
	for _, m := range r.in.Sets[id] {
		if ep, ok := ported[m.Key]; ok {
			add(ep)
		}
	}
	return name
}

// portedEndpoints returns the endpoints with named ports, local and
// remote, a local endpoint's own record winning.
func (r *renderer) portedEndpoints() map[v3.Key]EndpointPorts {
	if r.ported != nil {
		return r.ported
	}
	r.ported = map[v3.Key]EndpointPorts{}
	for k, ep := range r.in.RemotePorts {
		if len(ep.Ports) > 0 {
			r.ported[k] = ep
		}
	}
	for k, ep := range r.in.Endpoints {
		if len(ep.Ports) > 0 {
			r.ported[k] = EndpointPorts{Addrs: ep.Addrs, Ports: ep.Ports}
		}
	}
	return r.ported
}
