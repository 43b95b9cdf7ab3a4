package nft

import (
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"net/netip"
	"slices"

	"github.com/tabby-project/tabby/engine"
)

// addrElems returns the elements of an interval set holding the prefixes
// of family fam: their ranges sorted, overlapping and adjacent ones
// merged, since the kernel refuses overlapping intervals.
func addrElems(nets []netip.Prefix, fam int) map[elem]string {
	type span struct{ from, to netip.Addr }
	var spans []span
	for _, n := range nets {
		if familyOf(n) != fam {
			continue
		}
		n = n.Masked()
		spans = append(spans, span{n.Addr(), lastAddr(n)})
	}
	slices.SortFunc(spans, func(a, b span) int { return cmp.Or(a.from.Compare(b.from), a.to.Compare(b.to)) })
	out := map[elem]string{}
	var cur *span
	flush := func() {
		if cur != nil {
			out[elem{key: string(cur.from.AsSlice()), end: string(cur.to.AsSlice())}] = ""
		}
	}
	for i := range spans {
		s := spans[i]
		if cur != nil {
			next := cur.to.Next()
			if !next.IsValid() || s.from.Compare(next) <= 0 {
				if s.to.Compare(cur.to) > 0 {
					cur.to = s.to
				}
				continue
			}
		}
		flush()
		cur = &s
	}
	flush()
	return out
}

// portElems returns the elements of an interval set of port ranges, merged
// like addrElems.
func portElems(ranges []engine.PortRange) map[elem]string {
	rs := slices.Clone(ranges)
	slices.SortFunc(rs, func(a, b engine.PortRange) int { return cmp.Or(cmp.Compare(a.Min, b.Min), cmp.Compare(a.Max, b.Max)) })
	out := map[elem]string{}
	var cur *engine.PortRange
	flush := func() {
		if cur != nil {
			out[elem{key: portBytes(cur.Min), end: portBytes(cur.Max)}] = ""
		}
	}
	for i := range rs {
		r := rs[i]
		if cur != nil && r.Min <= cur.Max+1 {
			cur.Max = max(cur.Max, r.Max)
			continue
		}
		flush()
		cur = &r
	}
	flush()
	return out
}

func be16Int(s string) uint16 { return binary.BigEndian.Uint16([]byte(s)) }

// elemsHash returns 16 hex digits identifying a set of elements.
func elemsHash(elems map[elem]string) string {
	keys := make([]elem, 0, len(elems))
	for e := range elems {
		keys = append(keys, e)
	}
	slices.SortFunc(keys, func(a, b elem) int { return cmp.Or(cmp.Compare(a.key, b.key), cmp.Compare(a.end, b.end)) })
	h := sha256.New()
	for _, e := range keys {
		h.Write([]byte{byte(len(e.key)), byte(len(e.end))})
		h.Write([]byte(e.key))
		h.Write([]byte(e.end))
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}
