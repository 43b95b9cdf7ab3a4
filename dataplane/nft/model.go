package nft

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
)

// Model is the desired content of Tabby's table: chains with their rules,
// sets and verdict maps. Render builds it from an Input; Dataplane.Apply
// programs it. A Model is immutable once built and safe to share.
type Model struct {
	table  string
	chains map[string]*chain
	sets   map[string]*set
	// logRefs maps every log prefix the rules use to what it stands for.
	logRefs map[string]RuleRef
	// problems are endpoints that could not be rendered.
	problems []error
}

// chain is one chain; hook is nil for a regular chain.
type chain struct {
	name  string
	hook  *hook
	rules []rule
}

// hook says where a base chain is attached.
type hook struct {
	name string
	num  nftables.ChainHook
	prio int32
}

// rule is one nftables rule. Its text (nft syntax) and comment identify it:
// two rules with the same text have the same expressions.
type rule struct {
	text    string
	comment string
	ref     RuleRef
	exprs   []expr.Any
}

func (r *rule) String() string {
	if r.comment == "" {
		return r.text
	}
	return r.text + " comment " + strconv.Quote(r.comment)
}

func (r *rule) equal(o *rule) bool { return r.text == o.text && r.comment == o.comment }

// setKind is the key (and data) type of a set.
type setKind uint8

const (
	setAddr4 setKind = iota + 1
	setAddr6
	setPorts
	setNamedPort4
	setNamedPort6
	setProtos
	setICMPv6Types
	setIfnames
	setIfnameVmap
)

// interval reports whether sets of the kind hold ranges.
func (k setKind) interval() bool { return k == setAddr4 || k == setAddr6 || k == setPorts }

func (k setKind) typeName() string {
	switch k {
	case setAddr4:
		return "ipv4_addr"
	case setAddr6:
		return "ipv6_addr"
	case setPorts:
		return "inet_service"
	case setNamedPort4:
		return "ipv4_addr . inet_proto . inet_service"
	case setNamedPort6:
		return "ipv6_addr . inet_proto . inet_service"
	case setProtos:
		return "inet_proto"
	case setICMPv6Types:
		return "icmpv6_type"
	case setIfnames:
		return "ifname"
	case setIfnameVmap:
		return "ifname : verdict"
	}
	return "invalid"
}

// elem is a set element: the raw bytes of a key, and for interval sets the
// inclusive end of its range (equal to key for a single value).
type elem struct {
	key, end string
}

// set is a named set or, with kind setIfnameVmap, a verdict map whose
// values are the chains jumped to.
type set struct {
	name  string
	kind  setKind
	elems map[elem]string
}

func (s *set) sortedElems() []elem {
	return slices.SortedFunc(maps.Keys(s.elems), func(a, b elem) int {
		return cmp.Or(strings.Compare(a.key, b.key), strings.Compare(a.end, b.end))
	})
}

func (s *set) formatElem(e elem) string {
	switch s.kind {
	case setAddr4, setAddr6:
		from, _ := netip.AddrFromSlice([]byte(e.key))
		to, _ := netip.AddrFromSlice([]byte(e.end))
		if from == to {
			return from.String()
		}
		if p, ok := rangePrefix(from, to); ok {
			return p.String()
		}
		return from.String() + "-" + to.String()
	case setPorts:
		from, to := binary.BigEndian.Uint16([]byte(e.key)), binary.BigEndian.Uint16([]byte(e.end))
		if from == to {
			return strconv.Itoa(int(from))
		}
		return fmt.Sprintf("%d-%d", from, to)
	case setNamedPort4, setNamedPort6:
		n := 4
		if s.kind == setNamedPort6 {
			n = 16
		}
		a, _ := netip.AddrFromSlice([]byte(e.key[:n]))
		proto := int(e.key[n])
		port := binary.BigEndian.Uint16([]byte(e.key[n+4 : n+6]))
		return fmt.Sprintf("%s . %s . %d", a, protoName(proto), port)
	case setProtos:
		return protoName(int(e.key[0]))
	case setICMPv6Types:
		return strconv.Itoa(int(e.key[0]))
	case setIfnames:
		return strconv.Quote(strings.TrimRight(e.key, "\x00"))
	case setIfnameVmap:
		return strconv.Quote(strings.TrimRight(e.key, "\x00")) + " : jump " + s.elems[e]
	}
	return fmt.Sprintf("%x", e.key)
}

// String renders the model as `nft list table` would, with sets and maps
// first, then the base chains in hook order, then the other chains by
// name. Equal models render identically.
func (m *Model) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "table inet %s {\n", m.table)
	for _, name := range slices.Sorted(maps.Keys(m.sets)) {
		s := m.sets[name]
		word := "set"
		if s.kind == setIfnameVmap {
			word = "map"
		}
		fmt.Fprintf(&b, "\t%s %s {\n\t\ttype %s\n", word, name, s.kind.typeName())
		if s.kind.interval() {
			b.WriteString("\t\tflags interval\n")
		}
		if len(s.elems) > 0 {
			var parts []string
			for _, e := range s.sortedElems() {
				parts = append(parts, s.formatElem(e))
			}
			fmt.Fprintf(&b, "\t\telements = { %s }\n", strings.Join(parts, ", "))
		}
		b.WriteString("\t}\n")
	}
	for _, c := range m.sortedChains() {
		fmt.Fprintf(&b, "\tchain %s {\n", c.name)
		if c.hook != nil {
			fmt.Fprintf(&b, "\t\ttype filter hook %s priority %d; policy accept;\n", c.hook.name, c.hook.prio)
		}
		for i := range c.rules {
			fmt.Fprintf(&b, "\t\t%s\n", c.rules[i].String())
		}
		b.WriteString("\t}\n")
	}
	b.WriteString("}\n")
	return b.String()
}

// sortedChains returns the base chains in hook order, then the others by
// name.
func (m *Model) sortedChains() []*chain {
	cs := slices.Collect(maps.Values(m.chains))
	slices.SortFunc(cs, func(a, b *chain) int {
		switch {
		case a.hook != nil && b.hook != nil:
			return cmp.Or(cmp.Compare(hookOrder(a.hook), hookOrder(b.hook)), strings.Compare(a.name, b.name))
		case a.hook != nil:
			return -1
		case b.hook != nil:
			return 1
		}
		return strings.Compare(a.name, b.name)
	})
	return cs
}

func hookOrder(h *hook) int64 { return int64(h.num)<<32 + int64(h.prio) }

// ChainText returns the rules of the named chain in the text form String
// uses, or false if the model has no such chain.
func (m *Model) ChainText(name string) ([]string, bool) {
	c, ok := m.chains[name]
	if !ok {
		return nil, false
	}
	out := make([]string, len(c.rules))
	for i := range c.rules {
		out[i] = c.rules[i].String()
	}
	return out, true
}

// Stats counts what a model holds.
type Stats struct {
	Chains, Rules, Sets, Elements int
}

// Stats returns the size of the model.
func (m *Model) Stats() Stats {
	var s Stats
	s.Chains = len(m.chains)
	for _, c := range m.chains {
		s.Rules += len(c.rules)
	}
	s.Sets = len(m.sets)
	for _, st := range m.sets {
		s.Elements += len(st.elems)
	}
	return s
}

// Problems returns the endpoints Render left out, each with the reason
// (no interface, an interface another endpoint already has).
func (m *Model) Problems() []error { return slices.Clone(m.problems) }

// LogRef returns what a log prefix emitted by the model's rules stands
// for: the policy or profile rule, or the end-of-tier or default drop.
// End-of-tier and default drops leave RuleRef.Endpoint zero (the packet's
// interface tells the endpoint).
func (m *Model) LogRef(prefix string) (RuleRef, bool) {
	r, ok := m.logRefs[prefix]
	return r, ok
}

// rangePrefix returns the prefix covering exactly from..to, if there is
// one.
func rangePrefix(from, to netip.Addr) (netip.Prefix, bool) {
	for bits := from.BitLen(); bits >= 0; bits-- {
		p := netip.PrefixFrom(from, bits)
		if p.Masked().Addr() != from {
			return netip.Prefix{}, false
		}
		if last := lastAddr(p); last == to {
			return p, true
		} else if last.Compare(to) > 0 {
			return netip.Prefix{}, false
		}
	}
	return netip.Prefix{}, false
}

// lastAddr returns the highest address of p.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// protoName returns the nft name of an IP protocol, or its number.
func protoName(p int) string {
	switch p {
	case protoICMP:
		return "icmp"
	case protoTCP:
		return "tcp"
	case protoUDP:
		return "udp"
	case protoICMPv6:
		return "ipv6-icmp"
	case protoSCTP:
		return "sctp"
	case protoUDPLite:
		return "udplite"
	}
	return strconv.Itoa(p)
}

// IP protocol numbers.
const (
	protoICMP    = 1
	protoTCP     = 6
	protoUDP     = 17
	protoICMPv6  = 58
	protoSCTP    = 132
	protoUDPLite = 136
)
