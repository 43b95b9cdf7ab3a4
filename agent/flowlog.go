package agent

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"time"

	nflog "github.com/florianl/go-nflog/v2"
	"github.com/mdlayher/netlink"

	v3 "github.com/tabby-project/tabby/api/v3"
	"github.com/tabby-project/tabby/dataplane/nft"
	"github.com/tabby-project/tabby/engine"
)

// ErrNotIP is returned by ParsePacket for bytes that do not begin with a
// whole IPv4 or IPv6 header.
var ErrNotIP = errors.New("agent: not an IPv4 or IPv6 packet")

// Packet is what a flow log reads from the headers of a logged packet.
type Packet struct {
	Src, Dst netip.Addr
	// Proto is the transport protocol number (after IPv6 extension
	// headers).
	Proto uint8
	// SrcPort and DstPort are set for TCP, UDP, UDP-Lite, SCTP and DCCP,
	// when the packet holds the first four bytes of that header (not in
	// a non-first fragment).
	SrcPort, DstPort uint16
	// Length is the packet's length in bytes as its IP header states it
	// (IPv4 total length; IPv6 payload length plus the 40-byte header),
	// which holds even when nflog copied only part of the packet.
	Length int
}

// Transport protocols with ports in their first four bytes, and the ICMPs.
const (
	protoICMP    = 1
	protoTCP     = 6
	protoUDP     = 17
	protoDCCP    = 33
	protoICMPv6  = 58
	protoSCTP    = 132
	protoUDPLite = 136
)

// ParsePacket reads the addresses, protocol and ports of an IP packet as
// nflog hands it over (from the network header on). A truncated transport
// header leaves the ports zero; a truncated IP header is ErrNotIP.
func ParsePacket(b []byte) (Packet, error) {
	if len(b) == 0 {
		return Packet{}, ErrNotIP
	}
	var p Packet
	var l4 []byte
	switch b[0] >> 4 {
	case 4:
		ihl := int(b[0]&0x0f) * 4
		if ihl < 20 || len(b) < ihl {
			return Packet{}, fmt.Errorf("%w: IPv4 header of %d bytes in %d", ErrNotIP, ihl, len(b))
		}
		p.Src = netip.AddrFrom4([4]byte(b[12:16]))
		p.Dst = netip.AddrFrom4([4]byte(b[16:20]))
		p.Proto = b[9]
		p.Length = int(binary.BigEndian.Uint16(b[2:4]))
		if binary.BigEndian.Uint16(b[6:8])&0x1fff == 0 {
			l4 = b[ihl:]
		}
	case 6:
		if len(b) < 40 {
			return Packet{}, fmt.Errorf("%w: IPv6 header in %d bytes", ErrNotIP, len(b))
		}
		p.Src = netip.AddrFrom16([16]byte(b[8:24]))
		p.Dst = netip.AddrFrom16([16]byte(b[24:40]))
		p.Length = 40 + int(binary.BigEndian.Uint16(b[4:6]))
		p.Proto, l4 = skipExtensions(b[6], b[40:])
	default:
		return Packet{}, fmt.Errorf("%w: IP version %d", ErrNotIP, b[0]>>4)
	}
	switch p.Proto {
	case protoTCP, protoUDP, protoDCCP, protoSCTP, protoUDPLite:
		if len(l4) >= 4 {
			p.SrcPort = binary.BigEndian.Uint16(l4[0:2])
			p.DstPort = binary.BigEndian.Uint16(l4[2:4])
		}
	}
	return p, nil
}

// skipExtensions walks IPv6 extension headers from next and returns the
// transport protocol and its header, nil when it is not in b (truncated,
// or a non-first fragment).
func skipExtensions(next uint8, b []byte) (uint8, []byte) {
	for range 8 {
		var n int
		switch next {
		case 0, 43, 60: // hop-by-hop, routing, destination options
			if len(b) < 2 {
				return next, nil
			}
			n = (int(b[1]) + 1) * 8
		case 51: // authentication header
			if len(b) < 2 {
				return next, nil
			}
			n = (int(b[1]) + 2) * 4
		case 44: // fragment
			if len(b) < 8 {
				return next, nil
			}
			if binary.BigEndian.Uint16(b[2:4])>>3 != 0 {
				return b[0], nil
			}
			n = 8
		default:
			return next, b
		}
		if len(b) < n {
			return next, nil
		}
		next, b = b[0], b[n:]
	}
	return next, nil
}

// ProtocolName returns a protocol number as Calico writes it (TCP, UDP,
// ICMP, ICMPv6, SCTP, UDPLite), or the number in decimal.
func ProtocolName(p uint8) string {
	switch p {
	case protoTCP:
		return "TCP"
	case protoUDP:
		return "UDP"
	case protoICMP:
		return "ICMP"
	case protoICMPv6:
		return "ICMPv6"
	case protoSCTP:
		return "SCTP"
	case protoUDPLite:
		return "UDPLite"
	}
	return strconv.Itoa(int(p))
}

// ParsePrefix reads a log prefix the nft dataplane writes,
//
//	<LogPrefix>: <I|E> <tier> <policy> <r<index>|eot|deny>
//
// back into what it stands for, for prefixes the programmed table no
// longer knows (the policy changed since the packet was logged). A policy
// "<namespace>/<name>" is a NetworkPolicy, "<name>" a GlobalNetworkPolicy,
// and tier "profile" means a profile rule. A policy named by a hash (a
// prefix too long for the kernel) keeps the hash as its name.
func ParsePrefix(prefix string) (nft.RuleRef, bool) {
	f := strings.Fields(prefix)
	if len(f) < 5 {
		return nft.RuleRef{}, false
	}
	dir, tier, policy, what := f[len(f)-4], f[len(f)-3], f[len(f)-2], f[len(f)-1]
	ref := nft.RuleRef{Index: -1}
	switch dir {
	case "I":
		ref.Direction = engine.Ingress
	case "E":
		ref.Direction = engine.Egress
	default:
		return nft.RuleRef{}, false
	}
	switch {
	case what == "eot":
		ref.Kind, ref.Tier, ref.Action = nft.RefEndOfTier, tier, v3.Deny
	case what == "deny":
		ref.Kind, ref.Action = nft.RefDefaultDeny, v3.Deny
	case strings.HasPrefix(what, "r"):
		i, err := strconv.Atoi(what[1:])
		if err != nil || i < 0 {
			return nft.RuleRef{}, false
		}
		ref.Kind, ref.Index = nft.RefRule, i
		if tier == "profile" {
			ref.Profile = policy
		} else if ns, name, ok := strings.Cut(policy, "/"); ok {
			ref.Tier, ref.Policy = tier, v3.Key{Kind: v3.KindNetworkPolicy, Namespace: ns, Name: name}
		} else {
			ref.Tier, ref.Policy = tier, v3.Key{Kind: v3.KindGlobalNetworkPolicy, Name: policy}
		}
	default:
		return nft.RuleRef{}, false
	}
	return ref, true
}

// FlowLog is one line of the flow log: a packet a Log rule (or, with
// dropActionOverride LogAndDrop or LogAndAccept, a policy drop) logged.
type FlowLog struct {
	Time    time.Time  `json:"time"`
	Src     netip.Addr `json:"src"`
	Dst     netip.Addr `json:"dst"`
	Proto   string     `json:"proto"`
	SrcPort uint16     `json:"srcPort"`
	DstPort uint16     `json:"dstPort"`
	// Direction is ingress or egress: the policy direction that logged.
	Direction string `json:"direction"`
	// Tier is the policy's tier (for an end-of-tier drop, the tier that
	// ended); Policy is "<namespace>/<name>" for a NetworkPolicy and
	// "<name>" for a GlobalNetworkPolicy; Profile names the profile of a
	// profile rule instead.
	Tier    string `json:"tier,omitempty"`
	Policy  string `json:"policy,omitempty"`
	Profile string `json:"profile,omitempty"`
	// Rule is the index of the rule in its policy's or profile's rules of
	// that direction, -1 for an end-of-tier or default drop.
	Rule int `json:"rule"`
	// Match is what logged: rule, end-of-tier or default-deny.
	Match string `json:"match"`
	// Action is the rule's action (Log, or Deny for a logged drop).
	Action string `json:"action"`
	// Bytes is the length of the logged packet.
	Bytes int `json:"bytes"`
}

// NewFlowLog builds the flow log line of a logged packet from its time,
// its headers and what its log prefix stands for.
func NewFlowLog(t time.Time, p Packet, ref nft.RuleRef) FlowLog {
	fl := FlowLog{
		Time: t, Src: p.Src, Dst: p.Dst, Proto: ProtocolName(p.Proto), SrcPort: p.SrcPort, DstPort: p.DstPort,
		Direction: ref.Direction.String(), Tier: ref.Tier, Profile: ref.Profile,
		Rule: ref.Index, Match: ref.Kind.String(), Action: string(ref.Action),
		Bytes: p.Length,
	}
	if ref.Policy != (v3.Key{}) {
		fl.Policy = ref.Policy.Name
		if ref.Policy.Namespace != "" {
			fl.Policy = ref.Policy.Namespace + "/" + ref.Policy.Name
		}
	}
	if ref.Kind != nft.RefRule {
		fl.Rule = -1
		if fl.Action == "" {
			fl.Action = string(v3.Deny)
		}
	}
	return fl
}

// FlowLogReader turns the packets an nflog group receives into flow log
// lines.
type FlowLogReader struct {
	// NetNS is an open descriptor of the network namespace whose nflog
	// group to read (that of the host's nftables); 0 is the caller's.
	NetNS int
	// Group is the nflog group (nft.Config.LogGroup).
	Group uint16
	// Out receives one JSON FlowLog per line.
	Out io.Writer
	// Resolve maps a log prefix to what it stands for; prefixes it does
	// not know fall back to ParsePrefix. Nil means ParsePrefix only.
	Resolve func(prefix string) (nft.RuleRef, bool)
	// Logger receives problems (unparsable packets, overruns); nil
	// discards them.
	Logger *slog.Logger
}

// snapLen is how much of each packet the kernel copies: the IP and
// transport headers with room for IPv6 extension headers.
const snapLen = 256

// Run binds the group in NetNS and writes flow log lines until ctx is
// done. It returns an error if it cannot bind the group (another reader
// holds it, or nflog is unavailable), nil when ctx ends.
//
// The netlink socket is created in NetNS by go-nflog's netns option (the
// socket is opened from a thread that entered the namespace and keeps
// working there from any thread).
func (r *FlowLogReader) Run(ctx context.Context) error {
	log := r.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	nf, err := nflog.Open(&nflog.Config{
		NetNS:    r.NetNS,
		Group:    r.Group,
		Copymode: nflog.CopyPacket,
		Bufsize:  snapLen,
		// Hand packets over in batches of up to 32, at most 100 ms late.
		QThresh: 32,
		Timeout: 10,
	})
	if err != nil {
		return fmt.Errorf("agent: open nflog: %w", err)
	}
	defer nf.Close()
	if err := nf.Con.SetReadBuffer(1 << 20); err != nil {
		log.Warn("enlarging the nflog socket buffer", "error", err)
	}
	enc := json.NewEncoder(r.Out)
	hook := func(attr nflog.Attribute) int {
		if attr.Prefix == nil || attr.Payload == nil {
			return 0
		}
		fl, err := r.flowLog(attr)
		if err != nil {
			log.Warn("unreadable logged packet", "prefix", *attr.Prefix, "error", err)
			return 0
		}
		if err := enc.Encode(fl); err != nil {
			log.Error("writing the flow log", "error", err)
		}
		return 0
	}
	onError := func(err error) int {
		if ctx.Err() != nil {
			return 1
		}
		var op *netlink.OpError
		if errors.As(err, &op) && (op.Timeout() || op.Temporary()) {
			return 0
		}
		// ENOBUFS: the socket overflowed and packets were lost, which the
		// flow log cannot recover; keep reading.
		log.Warn("reading nflog", "error", err)
		return 0
	}
	if err := nf.RegisterWithErrorFunc(ctx, hook, onError); err != nil {
		return fmt.Errorf("agent: bind nflog group %d: %w", r.Group, err)
	}
	<-ctx.Done()
	return nil
}

func (r *FlowLogReader) flowLog(attr nflog.Attribute) (FlowLog, error) {
	p, err := ParsePacket(*attr.Payload)
	if err != nil {
		return FlowLog{}, err
	}
	prefix := *attr.Prefix
	ref, ok := nft.RuleRef{}, false
	if r.Resolve != nil {
		ref, ok = r.Resolve(prefix)
	}
	if !ok {
		if ref, ok = ParsePrefix(prefix); !ok {
			return FlowLog{}, fmt.Errorf("log prefix %q is not Tabby's", prefix)
		}
	}
	t := time.Now()
	if attr.Timestamp != nil {
		t = *attr.Timestamp
	}
	return NewFlowLog(t.UTC(), p, ref), nil
}

// runFlowLogs reads the agent's nflog group until ctx is done, retrying
// with backoff if the group cannot be bound: flow logs never hold up
// enforcement.
func (a *Agent) runFlowLogs(ctx context.Context) {
	r := &FlowLogReader{
		NetNS:   a.cfg.DataplaneConfig.NetNS,
		Group:   a.cfg.DataplaneConfig.LogGroup,
		Out:     a.cfg.FlowLog,
		Resolve: a.logRef,
		Logger:  a.log,
	}
	delay := a.cfg.RetryMin
	for {
		err := r.Run(ctx)
		if ctx.Err() != nil {
			return
		}
		a.log.Error("flow logs unavailable; retrying", "error", err, "after", delay)
		if !sleep(ctx, delay) {
			return
		}
		delay = min(2*delay, a.cfg.RetryMax)
	}
}

// logRef resolves a log prefix against the programmed table.
func (a *Agent) logRef(prefix string) (nft.RuleRef, bool) {
	dp := a.dataplane()
	if dp == nil {
		return nft.RuleRef{}, false
	}
	m := dp.Programmed()
	if m == nil {
		return nft.RuleRef{}, false
	}
	return m.LogRef(prefix)
}
