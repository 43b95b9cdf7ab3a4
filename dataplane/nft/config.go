package nft

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	v3 "github.com/tabby-project/tabby/api/v3"
)

// ErrConfig is wrapped by the errors New and Render return for a Config
// they cannot use.
var ErrConfig = errors.New("nft: invalid configuration")

// Defaults of Config's zero fields: the table's name, Felix's log prefix,
// Felix's accept and pass mark bits, Calico's workload interface prefix.
const (
	DefaultTable          = "tabby"
	DefaultLogPrefix      = "calico-packet"
	DefaultMarkAccept     = 0x10000
	DefaultMarkPass       = 0x20000
	DefaultWorkloadPrefix = "cali"
)

// The actions DropActionOverride and EndpointToHostAction accept, spelled
// as in FelixConfiguration.
const (
	ActionDrop         = "Drop"
	ActionAccept       = "Accept"
	ActionReturn       = "Return"
	ActionLogAndDrop   = "LogAndDrop"
	ActionLogAndAccept = "LogAndAccept"
)

// DefaultFailsafeInbound returns Felix's default FailsafeInboundHostPorts:
// ssh, DHCP client, BGP, etcd, Typha, the Kubernetes API server and etcd's
// legacy ports.
func DefaultFailsafeInbound() []v3.ProtoPort {
	return []v3.ProtoPort{
		{Protocol: "TCP", Port: 22}, {Protocol: "UDP", Port: 68}, {Protocol: "TCP", Port: 179},
		{Protocol: "TCP", Port: 2379}, {Protocol: "TCP", Port: 2380}, {Protocol: "TCP", Port: 5473},
		{Protocol: "TCP", Port: 6443}, {Protocol: "TCP", Port: 6666}, {Protocol: "TCP", Port: 6667},
	}
}

// DefaultFailsafeOutbound returns Felix's default FailsafeOutboundHostPorts:
// DNS, DHCP server, BGP, etcd, Typha, the Kubernetes API server and etcd's
// legacy ports.
func DefaultFailsafeOutbound() []v3.ProtoPort {
	return []v3.ProtoPort{
		{Protocol: "UDP", Port: 53}, {Protocol: "UDP", Port: 67}, {Protocol: "TCP", Port: 179},
		{Protocol: "TCP", Port: 2379}, {Protocol: "TCP", Port: 2380}, {Protocol: "TCP", Port: 5473},
		{Protocol: "TCP", Port: 6443}, {Protocol: "TCP", Port: 6666}, {Protocol: "TCP", Port: 6667},
	}
}

// Config configures rendering and the connection to the kernel. The zero
// value is ready to use: table inet tabby in the caller's network namespace,
// Felix's defaults for everything else.
type Config struct {
	// NetNS is an open file descriptor of the network namespace whose
	// ruleset the Dataplane programs; 0 means the caller's namespace. The
	// caller keeps ownership of the descriptor and must keep it open while
	// the Dataplane is in use.
	NetNS int
	// Table is the name of the inet-family table the Dataplane owns; it
	// never touches any other. Empty means DefaultTable.
	Table string
	// LogPrefix begins the prefix of every log Tabby's rules emit (Felix's
	// LogPrefix, used verbatim); empty means DefaultLogPrefix.
	LogPrefix string
	// LogGroup is the nflog group Log rules (and LogAnd... drops) send
	// packets to, for the agent's flow logs; 0 sends them to the kernel log
	// at level info instead.
	LogGroup uint16
	// DropActionOverride is FelixConfiguration's dropActionOverride: what a
	// policy drop (a Deny rule, an end-of-tier drop, the default drop after
	// the profiles) does. Drop (the default), Accept, LogAndDrop or
	// LogAndAccept; the LogAnd... values log every such packet, so that
	// end-of-tier denies show in the flow log.
	DropActionOverride string
	// EndpointToHostAction is FelixConfiguration's
	// defaultEndpointToHostAction: what happens to traffic from a workload
	// to its own host once the workload's egress policy allowed it. Drop
	// (the default), Accept or Return; in nftables, where a table can only
	// take packets away, Accept and Return both leave the packet to the
	// rest of the host's ruleset.
	EndpointToHostAction string
	// FailsafeInbound and FailsafeOutbound are the ports host endpoints
	// always keep open, inbound (destination port of traffic to the host)
	// and outbound (destination port of traffic from it), optionally
	// limited to a network. nil means Felix's defaults
	// (DefaultFailsafeInbound, DefaultFailsafeOutbound); an empty non-nil
	// slice means none. Protocol is TCP, UDP or SCTP (any case; empty is
	// TCP).
	FailsafeInbound  []v3.ProtoPort
	FailsafeOutbound []v3.ProtoPort
	// WorkloadInterfacePrefixes are the name prefixes of workload
	// interfaces (Felix's InterfacePrefix): forwarded traffic through an
	// interface with such a prefix that belongs to no known endpoint is
	// dropped, and host endpoint wildcards ("*") skip them. nil means
	// {"cali"}.
	WorkloadInterfacePrefixes []string
	// MarkAccept and MarkPass are the packet mark bits with which policy
	// and endpoint chains communicate (Felix's accept and pass bits); 0
	// means DefaultMarkAccept and DefaultMarkPass. Each must be a single
	// bit, and no other software on the host may use them.
	MarkAccept, MarkPass uint32
}

// ApplyFelix copies the FelixConfiguration fields the dataplane acts on
// into c: failsafe ports (a nil list keeps c's, an empty one means none),
// log prefix, dropActionOverride and defaultEndpointToHostAction. Empty
// fields leave c unchanged.
func (c *Config) ApplyFelix(spec *v3.FelixConfigurationSpec) {
	if spec.FailsafeInboundHostPorts != nil {
		c.FailsafeInbound = append([]v3.ProtoPort{}, (*spec.FailsafeInboundHostPorts)...)
	}
	if spec.FailsafeOutboundHostPorts != nil {
		c.FailsafeOutbound = append([]v3.ProtoPort{}, (*spec.FailsafeOutboundHostPorts)...)
	}
	if spec.LogPrefix != "" {
		c.LogPrefix = spec.LogPrefix
	}
	if spec.DropActionOverride != "" {
		c.DropActionOverride = spec.DropActionOverride
	}
	if spec.DefaultEndpointToHostAction != "" {
		c.EndpointToHostAction = spec.DefaultEndpointToHostAction
	}
}

// failsafe is a parsed failsafe port.
type failsafe struct {
	proto int
	port  uint16
	net   netip.Prefix // invalid: any address
}

// settings is a Config with defaults filled in and values parsed.
type settings struct {
	table        string
	logPrefix    string
	logGroup     uint16
	dropAction   string
	toHostAction string
	failsafeIn   []failsafe
	failsafeOut  []failsafe
	wlPrefixes   []string
	markAccept   uint32
	markPass     uint32
}

func (c *Config) settings() (*settings, error) {
	s := &settings{
		table:        c.Table,
		logPrefix:    c.LogPrefix,
		logGroup:     c.LogGroup,
		dropAction:   c.DropActionOverride,
		toHostAction: c.EndpointToHostAction,
		wlPrefixes:   c.WorkloadInterfacePrefixes,
		markAccept:   c.MarkAccept,
		markPass:     c.MarkPass,
	}
	if s.table == "" {
		s.table = DefaultTable
	}
	if s.logPrefix == "" {
		s.logPrefix = DefaultLogPrefix
	}
	if s.dropAction == "" {
		s.dropAction = ActionDrop
	}
	if s.toHostAction == "" {
		s.toHostAction = ActionDrop
	}
	if s.wlPrefixes == nil {
		s.wlPrefixes = []string{DefaultWorkloadPrefix}
	}
	if s.markAccept == 0 {
		s.markAccept = DefaultMarkAccept
	}
	if s.markPass == 0 {
		s.markPass = DefaultMarkPass
	}
	var errs []error
	bad := func(field string, value any, why string) {
		errs = append(errs, fmt.Errorf("%w: %s %q: %s", ErrConfig, field, fmt.Sprint(value), why))
	}
	if !safeName(s.table) || len(s.table) > 64 {
		bad("Table", s.table, "want 1 to 64 letters, digits, '-', '_' or '.'")
	}
	if len(s.logPrefix) > 64 || strings.ContainsAny(s.logPrefix, "\"\x00\n") {
		bad("LogPrefix", s.logPrefix, "want at most 64 characters without quotes or newlines")
	}
	switch s.dropAction {
	case ActionDrop, ActionAccept, ActionLogAndDrop, ActionLogAndAccept:
	default:
		bad("DropActionOverride", s.dropAction, "want Drop, Accept, LogAndDrop or LogAndAccept")
	}
	switch s.toHostAction {
	case ActionDrop, ActionAccept, ActionReturn:
	default:
		bad("EndpointToHostAction", s.toHostAction, "want Drop, Accept or Return")
	}
	for _, p := range s.wlPrefixes {
		if p == "" || len(p) > 15 {
			bad("WorkloadInterfacePrefixes", p, "want 1 to 15 characters")
		}
	}
	for _, m := range []struct {
		field string
		v     uint32
	}{{"MarkAccept", s.markAccept}, {"MarkPass", s.markPass}} {
		if m.v&(m.v-1) != 0 {
			bad(m.field, fmt.Sprintf("%#x", m.v), "want a single bit")
		}
	}
	if s.markAccept == s.markPass {
		bad("MarkPass", fmt.Sprintf("%#x", s.markPass), "must differ from MarkAccept")
	}
	in, out := c.FailsafeInbound, c.FailsafeOutbound
	if in == nil {
		in = DefaultFailsafeInbound()
	}
	if out == nil {
		out = DefaultFailsafeOutbound()
	}
	var err error
	if s.failsafeIn, err = parseFailsafe("FailsafeInbound", in); err != nil {
		errs = append(errs, err)
	}
	if s.failsafeOut, err = parseFailsafe("FailsafeOutbound", out); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return s, nil
}

func parseFailsafe(field string, pps []v3.ProtoPort) ([]failsafe, error) {
	out := make([]failsafe, 0, len(pps))
	for i, pp := range pps {
		f := failsafe{port: pp.Port}
		switch strings.ToUpper(pp.Protocol) {
		case "", "TCP":
			f.proto = protoTCP
		case "UDP":
			f.proto = protoUDP
		case "SCTP":
			f.proto = protoSCTP
		default:
			return nil, fmt.Errorf("%w: %s[%d].protocol %q: want TCP, UDP or SCTP", ErrConfig, field, i, pp.Protocol)
		}
		if pp.Net != "" {
			p, err := parseNet(pp.Net)
			if err != nil {
				return nil, fmt.Errorf("%w: %s[%d].net %q: %w", ErrConfig, field, i, pp.Net, err)
			}
			f.net = p
		}
		out = append(out, f)
	}
	return out, nil
}

// parseNet accepts a CIDR or a bare address.
func parseNet(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}
