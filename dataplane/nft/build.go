package nft

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// Registers. Concatenations load their parts into consecutive 32-bit
// registers starting at reg1 (which is the first 32-bit register, as the
// kernel numbers them): an IPv4 address takes one, an IPv6 address four.
const (
	reg1       = 1
	regVerdict = 0
	reg32Base  = 8 // NFT_REG32_00, the same storage as reg1
)

// rb builds one rule: its nft text and its expressions together, so that
// the text (which identifies the rule) says everything the expressions do.
type rb struct {
	parts []string
	exprs []expr.Any
}

func (b *rb) add(text string, ex ...expr.Any) *rb {
	b.parts = append(b.parts, text)
	b.exprs = append(b.exprs, ex...)
	return b
}

func (b *rb) rule(ref RuleRef, comment string) rule {
	return rule{text: strings.Join(b.parts, " "), comment: comment, ref: ref, exprs: b.exprs}
}

func ne32(v uint32) []byte { return binaryutil.NativeEndian.PutUint32(v) }

func be16(v uint16) []byte { return binaryutil.BigEndian.PutUint16(v) }

// ifname pads an interface name as the kernel compares it.
func ifname(name string) []byte {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, name)
	return b
}

// --- matches ---

func (b *rb) nfproto(fam int) *rb {
	v, name := byte(unix.NFPROTO_IPV4), "ipv4"
	if fam == 6 {
		v, name = unix.NFPROTO_IPV6, "ipv6"
	}
	return b.add("meta nfproto "+name,
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: reg1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: []byte{v}})
}

func (b *rb) l4proto(p int, negate bool) *rb {
	op, text := expr.CmpOpEq, "meta l4proto "
	if negate {
		op, text = expr.CmpOpNeq, "meta l4proto != "
	}
	return b.add(text+protoName(p),
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg1},
		&expr.Cmp{Op: op, Register: reg1, Data: []byte{byte(p)}})
}

func (b *rb) l4protoIn(setName string) *rb {
	return b.add("meta l4proto @"+setName,
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg1},
		&expr.Lookup{SourceRegister: reg1, SetName: setName})
}

// icmp matches the ICMP (or ICMPv6) type and, when code >= 0, code: both
// are the first two bytes of the transport header.
func (b *rb) icmp(v6 bool, typ, code int, negate bool) *rb {
	word, op := "icmp", expr.CmpOpEq
	if v6 {
		word = "icmpv6"
	}
	neg := ""
	if negate {
		op, neg = expr.CmpOpNeq, "!= "
	}
	if code < 0 {
		return b.add(fmt.Sprintf("%s type %s%d", word, neg, typ),
			&expr.Payload{DestRegister: reg1, Base: expr.PayloadBaseTransportHeader, Offset: 0, Len: 1},
			&expr.Cmp{Op: op, Register: reg1, Data: []byte{byte(typ)}})
	}
	return b.add(fmt.Sprintf("%s type . %s code %s%d . %d", word, word, neg, typ, code),
		&expr.Payload{DestRegister: reg1, Base: expr.PayloadBaseTransportHeader, Offset: 0, Len: 2},
		&expr.Cmp{Op: op, Register: reg1, Data: []byte{byte(typ), byte(code)}})
}

func (b *rb) icmpv6TypeIn(setName string) *rb {
	return b.add("icmpv6 type @"+setName,
		&expr.Payload{DestRegister: reg1, Base: expr.PayloadBaseTransportHeader, Offset: 0, Len: 1},
		&expr.Lookup{SourceRegister: reg1, SetName: setName})
}

// addrField is the payload of a source or destination address.
func addrField(fam int, dst bool) (text string, offset, length uint32) {
	if fam == 4 {
		if dst {
			return "ip daddr", 16, 4
		}
		return "ip saddr", 12, 4
	}
	if dst {
		return "ip6 daddr", 24, 16
	}
	return "ip6 saddr", 8, 16
}

func loadAddr(fam int, dst bool, reg uint32) (string, *expr.Payload) {
	text, off, n := addrField(fam, dst)
	return text, &expr.Payload{DestRegister: reg, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: n}
}

// prefix matches an address against one prefix.
func (b *rb) prefix(fam int, dst bool, p netip.Prefix, negate bool) *rb {
	text, load := loadAddr(fam, dst, reg1)
	op := expr.CmpOpEq
	if negate {
		op, text = expr.CmpOpNeq, text+" !="
	}
	ex := []expr.Any{load}
	addr := p.Masked().Addr().AsSlice()
	if p.Bits() < p.Addr().BitLen() {
		m := make([]byte, len(addr))
		for i := range p.Bits() {
			m[i/8] |= 0x80 >> (i % 8)
		}
		ex = append(ex, &expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: uint32(len(addr)), Mask: m, Xor: make([]byte, len(addr))})
		text += " " + p.Masked().String()
	} else {
		text += " " + p.Addr().String()
	}
	ex = append(ex, &expr.Cmp{Op: op, Register: reg1, Data: addr})
	return b.add(text, ex...)
}

// addrIn matches an address against a named set.
func (b *rb) addrIn(fam int, dst bool, setName string, negate bool) *rb {
	text, load := loadAddr(fam, dst, reg1)
	if negate {
		text += " !="
	}
	return b.add(text+" @"+setName, load, &expr.Lookup{SourceRegister: reg1, SetName: setName, Invert: negate})
}

func portField(dst bool) (string, uint32) {
	if dst {
		return "th dport", 2
	}
	return "th sport", 0
}

func loadPort(dst bool, reg uint32) (string, *expr.Payload) {
	text, off := portField(dst)
	return text, &expr.Payload{DestRegister: reg, Base: expr.PayloadBaseTransportHeader, Offset: off, Len: 2}
}

// portRange matches a transport port against min..max.
func (b *rb) portRange(dst bool, min, max int, negate bool) *rb {
	text, load := loadPort(dst, reg1)
	if negate {
		text += " !="
	}
	if min == max {
		op := expr.CmpOpEq
		if negate {
			op = expr.CmpOpNeq
		}
		return b.add(fmt.Sprintf("%s %d", text, min), load, &expr.Cmp{Op: op, Register: reg1, Data: be16(uint16(min))})
	}
	op := expr.CmpOpEq
	if negate {
		op = expr.CmpOpNeq
	}
	return b.add(fmt.Sprintf("%s %d-%d", text, min, max), load,
		&expr.Range{Op: op, Register: reg1, FromData: be16(uint16(min)), ToData: be16(uint16(max))})
}

// portIn matches a transport port against a named set.
func (b *rb) portIn(dst bool, setName string, negate bool) *rb {
	text, load := loadPort(dst, reg1)
	if negate {
		text += " !="
	}
	return b.add(text+" @"+setName, load, &expr.Lookup{SourceRegister: reg1, SetName: setName, Invert: negate})
}

// namedPortIn matches address . protocol . port against a named-port set.
func (b *rb) namedPortIn(fam int, dst bool, setName string, negate bool) *rb {
	atext, aload := loadAddr(fam, dst, reg1)
	next := uint32(reg32Base + 1)
	if fam == 6 {
		next = reg32Base + 4
	}
	ptext, pload := loadPort(dst, next+1)
	text := atext + " . meta l4proto . " + ptext
	if negate {
		text += " !="
	}
	return b.add(text+" @"+setName,
		aload,
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: next},
		pload,
		&expr.Lookup{SourceRegister: reg1, SetName: setName, Invert: negate})
}

func ctStateBits(states string) uint32 {
	var bits uint32
	for _, s := range strings.Split(states, ",") {
		switch s {
		case "invalid":
			bits |= expr.CtStateBitINVALID
		case "established":
			bits |= expr.CtStateBitESTABLISHED
		case "related":
			bits |= expr.CtStateBitRELATED
		case "new":
			bits |= expr.CtStateBitNEW
		case "untracked":
			bits |= expr.CtStateBitUNTRACKED
		}
	}
	return bits
}

// ctState matches packets whose conntrack state is one of states
// ("established,related").
func (b *rb) ctState(states string) *rb {
	return b.add("ct state "+states,
		&expr.Ct{Register: reg1, Key: expr.CtKeySTATE},
		&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4, Mask: ne32(ctStateBits(states)), Xor: ne32(0)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: reg1, Data: ne32(0)})
}

// markSet matches packets with bit set (or clear) in the packet mark.
func (b *rb) mark(bit uint32, set bool) *rb {
	op, text := expr.CmpOpNeq, "!= 0"
	if !set {
		op, text = expr.CmpOpEq, "== 0"
	}
	return b.add(fmt.Sprintf("meta mark & %#x %s", bit, text),
		&expr.Meta{Key: expr.MetaKeyMARK, Register: reg1},
		&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4, Mask: ne32(bit), Xor: ne32(0)},
		&expr.Cmp{Op: op, Register: reg1, Data: ne32(0)})
}

// iface matches the input (or output) interface name exactly, or by
// prefix when name ends in "*".
func (b *rb) iface(out bool, name string, negate bool) *rb {
	key, word := expr.MetaKeyIIFNAME, "iifname"
	if out {
		key, word = expr.MetaKeyOIFNAME, "oifname"
	}
	op := expr.CmpOpEq
	if negate {
		op, word = expr.CmpOpNeq, word+" !="
	}
	data := []byte(name + "\x00")
	if p, ok := strings.CutSuffix(name, "*"); ok {
		data = []byte(p)
	}
	return b.add(word+" "+strconv.Quote(name),
		&expr.Meta{Key: key, Register: reg1},
		&expr.Cmp{Op: op, Register: reg1, Data: data})
}

// ifaceIn matches the interface name against an ifname set.
func (b *rb) ifaceIn(out bool, setName string, negate bool) *rb {
	key, word := expr.MetaKeyIIFNAME, "iifname"
	if out {
		key, word = expr.MetaKeyOIFNAME, "oifname"
	}
	if negate {
		word += " !="
	}
	return b.add(word+" @"+setName,
		&expr.Meta{Key: key, Register: reg1},
		&expr.Lookup{SourceRegister: reg1, SetName: setName, Invert: negate})
}

// vmap jumps to the chain a verdict map gives for the interface; a name
// not in the map goes on to the next rule.
func (b *rb) vmap(out bool, mapName string) *rb {
	key, word := expr.MetaKeyIIFNAME, "iifname"
	if out {
		key, word = expr.MetaKeyOIFNAME, "oifname"
	}
	return b.add(word+" vmap @"+mapName,
		&expr.Meta{Key: key, Register: reg1},
		&expr.Lookup{SourceRegister: reg1, DestRegister: regVerdict, IsDestRegSet: true, SetName: mapName})
}

// --- statements ---

func (b *rb) counter() *rb { return b.add("counter", &expr.Counter{}) }

// setMark sets bits in the packet mark (or clears them).
func (b *rb) setMark(bits uint32, set bool) *rb {
	mask, xor, text := ^bits, bits, fmt.Sprintf("meta mark set meta mark | %#x", bits)
	if !set {
		xor, text = 0, fmt.Sprintf("meta mark set meta mark & %#x", ^bits)
	}
	return b.add(text,
		&expr.Meta{Key: expr.MetaKeyMARK, Register: reg1},
		&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4, Mask: ne32(mask), Xor: ne32(xor)},
		&expr.Meta{Key: expr.MetaKeyMARK, SourceRegister: true, Register: reg1})
}

// log logs the packet with prefix, to nflog group when group is not 0,
// else to the kernel log at level info.
func (b *rb) log(prefix string, group uint16) *rb {
	if group != 0 {
		return b.add(fmt.Sprintf("log prefix %s group %d", strconv.Quote(prefix), group),
			&expr.Log{Key: 1<<unix.NFTA_LOG_PREFIX | 1<<unix.NFTA_LOG_GROUP, Group: group, Data: []byte(prefix)})
	}
	return b.add(fmt.Sprintf("log prefix %s level info", strconv.Quote(prefix)),
		&expr.Log{Key: 1<<unix.NFTA_LOG_PREFIX | 1<<unix.NFTA_LOG_LEVEL, Level: expr.LogLevelInfo, Data: []byte(prefix)})
}

func (b *rb) notrack() *rb { return b.add("notrack", &expr.Notrack{}) }

// --- verdicts ---

func (b *rb) accept() *rb { return b.add("accept", &expr.Verdict{Kind: expr.VerdictAccept}) }
func (b *rb) drop() *rb   { return b.add("drop", &expr.Verdict{Kind: expr.VerdictDrop}) }
func (b *rb) ret() *rb    { return b.add("return", &expr.Verdict{Kind: expr.VerdictReturn}) }

func (b *rb) jump(chainName string) *rb {
	return b.add("jump "+chainName, &expr.Verdict{Kind: expr.VerdictJump, Chain: chainName})
}

func (b *rb) goTo(chainName string) *rb {
	return b.add("goto "+chainName, &expr.Verdict{Kind: expr.VerdictGoto, Chain: chainName})
}

// --- element encoding ---

// portBytes is a port as a set key.
func portBytes(p int) string { return string(be16(uint16(p))) }

// namedPortKey is address . protocol . port, each padded to 32 bits.
func namedPortKey(a netip.Addr, proto int, port uint16) string {
	k := a.AsSlice()
	k = append(k, byte(proto), 0, 0, 0)
	k = binary.BigEndian.AppendUint16(k, port)
	k = append(k, 0, 0)
	return string(k)
}
