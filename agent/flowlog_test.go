package agent

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	nflog "github.com/florianl/go-nflog/v2"
	"github.com/google/go-cmp/cmp"

	v3 "github.com/tabby-project/tabby/api/v3"
	"github.com/tabby-project/tabby/dataplane/nft"
	"github.com/tabby-project/tabby/engine"
)

// captured are the packets of testdata/nflog-packets.json by name.
func captured(t *testing.T) map[string][]byte {
	t.Helper()
	data, err := os.ReadFile("testdata/nflog-packets.json")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Packets []struct{ Name, Prefix, Payload string }
	}
	if err := json.Unmarshal(data, &file); err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, p := range file.Packets {
		b, err := hex.DecodeString(p.Payload)
		if err != nil {
			t.Fatalf("%s: %v", p.Name, err)
		}
		if p.Prefix != "calico-packet: I default x/log-all r0" {
			t.Fatalf("%s: prefix %q", p.Name, p.Prefix)
		}
		out[p.Name] = b
	}
	return out
}

var (
	v4a = netip.MustParseAddr("10.100.1.1")
	v4b = netip.MustParseAddr("10.100.1.2")
	v6a = netip.MustParseAddr("fd00:100::1:1")
	v6b = netip.MustParseAddr("fd00:100::1:2")
)

func TestParsePacketReadsCapturedPackets(t *testing.T) {
	pkts := captured(t)
	tests := []struct {
		name string
		want Packet
	}{
		{"tcp-syn-ipv4", Packet{Src: v4b, Dst: v4a, Proto: 6, SrcPort: 52206, DstPort: 80}},
		{"udp-ipv4", Packet{Src: v4b, Dst: v4a, Proto: 17, SrcPort: 53900, DstPort: 80}},
		{"icmp-echo-ipv4", Packet{Src: v4b, Dst: v4a, Proto: 1}},
		{"tcp-syn-ipv6", Packet{Src: v6b, Dst: v6a, Proto: 6, SrcPort: 45954, DstPort: 80}},
		{"udp-ipv6", Packet{Src: v6b, Dst: v6a, Proto: 17, SrcPort: 55992, DstPort: 80}},
		{"icmpv6-echo-ipv6", Packet{Src: v6b, Dst: v6a, Proto: 58}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, ok := pkts[tt.name]
			if !ok {
				t.Fatalf("no captured packet %s", tt.name)
			}
			got, err := ParsePacket(b)
			if err != nil {
				t.Fatal(err)
			}
			// The captured packets are whole: the length their IP header
			// states is the number of bytes captured.
			tt.want.Length = len(b)
			if d := cmp.Diff(tt.want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}

// withExtension inserts an IPv6 extension header of type typ and body
// (the next-header byte is filled in) after the fixed header of pkt.
func withExtension(pkt []byte, typ byte, body []byte) []byte {
	out := slices.Clone(pkt[:40])
	ext := append([]byte{out[6]}, body...)
	out[6] = typ
	payloadLen := int(out[4])<<8 | int(out[5]) + len(ext)
	out[4], out[5] = byte(payloadLen>>8), byte(payloadLen)
	out = append(out, ext...)
	return append(out, pkt[40:]...)
}

func TestParsePacketEdgeCases(t *testing.T) {
	pkts := captured(t)
	tcp4, udp6 := pkts["tcp-syn-ipv4"], pkts["udp-ipv6"]
	fragment := func(pkt []byte, offset uint16) []byte {
		out := slices.Clone(pkt)
		out[6], out[7] = byte(offset>>8)&0x1f, byte(offset)
		return out
	}
	udp6Ports := Packet{Src: v6b, Dst: v6a, Proto: 17, SrcPort: 55992, DstPort: 80}
	tests := []struct {
		name string
		pkt  []byte
		// full is the packet pkt was cut from, whose length the IP header
		// states; nil when pkt is whole.
		full    []byte
		want    Packet
		wantErr error
	}{
		{name: "an empty payload is not IP", pkt: nil, wantErr: ErrNotIP},
		{name: "a truncated IPv4 header is not IP", pkt: tcp4[:19], wantErr: ErrNotIP},
		{name: "a truncated IPv6 header is not IP", pkt: udp6[:39], wantErr: ErrNotIP},
		{name: "IP version 5 is not IP", pkt: append([]byte{0x50}, tcp4[1:]...), wantErr: ErrNotIP},
		{name: "a truncated TCP header leaves the ports zero", pkt: tcp4[:22], full: tcp4,
			want: Packet{Src: v4b, Dst: v4a, Proto: 6}},
		{name: "a non-first IPv4 fragment has no ports", pkt: fragment(tcp4, 185),
			want: Packet{Src: v4b, Dst: v4a, Proto: 6}},
		{name: "ports are read past IPv6 hop-by-hop options",
			pkt:  withExtension(udp6, 0, []byte{0, 1, 4, 0, 0, 0, 0}),
			want: udp6Ports},
		{name: "ports are read past an IPv6 first fragment header",
			pkt:  withExtension(udp6, 44, []byte{0, 0, 1, 0, 0, 0, 7}),
			want: udp6Ports},
		{name: "a non-first IPv6 fragment has no ports",
			pkt:  withExtension(udp6, 44, []byte{0, 0, 0xb8, 0, 0, 0, 7}),
			want: Packet{Src: v6b, Dst: v6a, Proto: 17}},
		{name: "a truncated IPv6 extension header leaves the ports zero",
			pkt:  withExtension(udp6, 60, []byte{2, 1, 4})[:45],
			full: withExtension(udp6, 60, []byte{2, 1, 4}),
			want: Packet{Src: v6b, Dst: v6a, Proto: 60}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePacket(tt.pkt)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr == nil {
				full := tt.full
				if full == nil {
					full = tt.pkt
				}
				tt.want.Length = len(full)
			}
			if d := cmp.Diff(tt.want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}

func TestParsePrefix(t *testing.T) {
	tests := []struct {
		prefix string
		want   nft.RuleRef
		ok     bool
	}{
		{"calico-packet: I default x/log-all r0",
			nft.RuleRef{Kind: nft.RefRule, Direction: engine.Ingress, Tier: "default",
				Policy: v3.Key{Kind: v3.KindNetworkPolicy, Namespace: "x", Name: "log-all"}, Index: 0}, true},
		{"calico-packet: E security allow-dns r12",
			nft.RuleRef{Kind: nft.RefRule, Direction: engine.Egress, Tier: "security",
				Policy: v3.Key{Kind: v3.KindGlobalNetworkPolicy, Name: "allow-dns"}, Index: 12}, true},
		{"my log prefix: I profile kns.x r1",
			nft.RuleRef{Kind: nft.RefRule, Direction: engine.Ingress, Profile: "kns.x", Index: 1}, true},
		{"calico-packet: I default - eot",
			nft.RuleRef{Kind: nft.RefEndOfTier, Direction: engine.Ingress, Tier: "default", Index: -1, Action: v3.Deny}, true},
		{"calico-packet: E - - deny",
			nft.RuleRef{Kind: nft.RefDefaultDeny, Direction: engine.Egress, Index: -1, Action: v3.Deny}, true},
		{"calico-packet: X default x/p r0", nft.RuleRef{}, false},
		{"calico-packet: I default x/p rx", nft.RuleRef{}, false},
		{"calico-packet: I default x/p what", nft.RuleRef{}, false},
		{"I default x/p r0", nft.RuleRef{}, false},
		{"", nft.RuleRef{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.prefix, func(t *testing.T) {
			got, ok := ParsePrefix(tt.prefix)
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v", ok, tt.ok)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}

func TestFlowLogLines(t *testing.T) {
	pkts := captured(t)
	at := time.Date(2025, 11, 25, 10, 30, 0, 123456000, time.UTC)
	policy := v3.Key{Kind: v3.KindNetworkPolicy, Namespace: "x", Name: "log-all"}
	programmed := map[string]nft.RuleRef{
		"calico-packet: I default x/log-all r0": {Kind: nft.RefRule, Direction: engine.Ingress, Tier: "default",
			Policy: policy, Index: 0, Action: v3.Log},
	}
	resolve := func(p string) (nft.RuleRef, bool) { r, ok := programmed[p]; return r, ok }
	tests := []struct {
		name    string
		payload string
		prefix  string
		resolve func(string) (nft.RuleRef, bool)
		want    string
	}{
		{
			name:    "a Log rule of the programmed table names its policy, rule and action",
			payload: "tcp-syn-ipv4", prefix: "calico-packet: I default x/log-all r0", resolve: resolve,
			want: `{"time":"2025-11-25T10:30:00.123456Z","src":"10.100.1.2","dst":"10.100.1.1","proto":"TCP","srcPort":52206,"dstPort":80,` +
				`"direction":"ingress","tier":"default","policy":"x/log-all","rule":0,"match":"rule","action":"Log"}`,
		},
		{
			name:    "a prefix the table no longer knows is read from its text",
			payload: "udp-ipv6", prefix: "calico-packet: E security allow-dns r3", resolve: resolve,
			want: `{"time":"2025-11-25T10:30:00.123456Z","src":"fd00:100::1:2","dst":"fd00:100::1:1","proto":"UDP","srcPort":55992,"dstPort":80,` +
				`"direction":"egress","tier":"security","policy":"allow-dns","rule":3,"match":"rule","action":""}`,
		},
		{
			name:    "an end-of-tier drop logged by LogAndDrop is a Deny without a rule",
			payload: "icmp-echo-ipv4", prefix: "calico-packet: I default - eot",
			want: `{"time":"2025-11-25T10:30:00.123456Z","src":"10.100.1.2","dst":"10.100.1.1","proto":"ICMP","srcPort":0,"dstPort":0,` +
				`"direction":"ingress","tier":"default","rule":-1,"match":"end-of-tier","action":"Deny"}`,
		},
		{
			name:    "a profile rule names the profile",
			payload: "icmpv6-echo-ipv6", prefix: "calico-packet: I profile kns.x r0",
			want: `{"time":"2025-11-25T10:30:00.123456Z","src":"fd00:100::1:2","dst":"fd00:100::1:1","proto":"ICMPv6","srcPort":0,"dstPort":0,` +
				`"direction":"ingress","profile":"kns.x","rule":0,"match":"rule","action":""}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &FlowLogReader{Resolve: tt.resolve}
			payload, prefix, ts := pkts[tt.payload], tt.prefix, at.Local()
			fl, err := r.flowLog(nflog.Attribute{Payload: &payload, Prefix: &prefix, Timestamp: &ts})
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			if err := json.NewEncoder(&buf).Encode(fl); err != nil {
				t.Fatal(err)
			}
			// The line ends with the packet's length, that of the whole
			// captured packet.
			want := strings.TrimSuffix(tt.want, "}") + fmt.Sprintf(`,"bytes":%d}`, len(payload)) + "\n"
			if d := cmp.Diff(want, buf.String()); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}

	t.Run("a prefix that is not Tabby's is refused", func(t *testing.T) {
		payload, prefix := pkts["tcp-syn-ipv4"], "someone else's log"
		if _, err := (&FlowLogReader{}).flowLog(nflog.Attribute{Payload: &payload, Prefix: &prefix}); err == nil {
			t.Error("no error")
		}
	})
}

func TestProtocolName(t *testing.T) {
	tests := []struct {
		proto uint8
		want  string
	}{{6, "TCP"}, {17, "UDP"}, {1, "ICMP"}, {58, "ICMPv6"}, {132, "SCTP"}, {136, "UDPLite"}, {47, "47"}}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := ProtocolName(tt.proto); got != tt.want {
				t.Errorf("ProtocolName(%d) = %q, want %q", tt.proto, got, tt.want)
			}
		})
	}
}
