package openstack

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	v3 "github.com/tabby-project/tabby/api/v3"
)

func TestConvertRule(t *testing.T) {
	str := func(s string) *string { return &s }
	n := func(i int) *int { return &i }
	proto := func(s string) *v3.Protocol { p := v3.ProtocolFromString(s); return &p }
	num := func(i int) *v3.Protocol { p := v3.ProtocolFromInt(i); return &p }
	four, six := 4, 6
	tests := []struct {
		name    string
		in      SecurityGroupRule
		want    v3.Rule
		wantErr bool
	}{
		{"a null protocol matches any protocol of the ethertype",
			SecurityGroupRule{Direction: "egress", Ethertype: "IPv6"},
			v3.Rule{Action: v3.Allow, IPVersion: &six}, false},
		{"protocol any is any",
			SecurityGroupRule{Direction: "egress", Ethertype: "IPv4", Protocol: "any"},
			v3.Rule{Action: v3.Allow, IPVersion: &four}, false},
		{"protocol 0 is any",
			SecurityGroupRule{Direction: "egress", Ethertype: "IPv4", Protocol: "0"},
			v3.Rule{Action: v3.Allow, IPVersion: &four}, false},
		{"an ingress TCP port without a remote still matches the port only",
			SecurityGroupRule{Direction: "ingress", Ethertype: "IPv4", Protocol: "tcp", PortRangeMin: n(22), PortRangeMax: n(22)},
			v3.Rule{Action: v3.Allow, IPVersion: &four, Protocol: proto("TCP"), Destination: v3.EntityRule{Ports: []v3.Port{v3.SinglePort(22)}}}, false},
		{"an egress UDP range to a prefix puts both on the destination",
			SecurityGroupRule{Direction: "egress", Ethertype: "IPv4", Protocol: "udp", PortRangeMin: n(1000), PortRangeMax: n(2000), RemoteIPPrefix: str("10.0.0.0/8")},
			v3.Rule{Action: v3.Allow, IPVersion: &four, Protocol: proto("UDP"), Destination: v3.EntityRule{Nets: []string{"10.0.0.0/8"}, Ports: []v3.Port{v3.PortRange(1000, 2000)}}}, false},
		{"a prefix with host bits is masked",
			SecurityGroupRule{Direction: "ingress", Ethertype: "IPv4", RemoteIPPrefix: str("192.168.7.9/16")},
			v3.Rule{Action: v3.Allow, IPVersion: &four, Source: v3.EntityRule{Nets: []string{"192.168.0.0/16"}}}, false},
		{"a bare address is a host prefix",
			SecurityGroupRule{Direction: "ingress", Ethertype: "IPv6", RemoteIPPrefix: str("fd00::5")},
			v3.Rule{Action: v3.Allow, IPVersion: &six, Source: v3.EntityRule{Nets: []string{"fd00::5/128"}}}, false},
		{"a remote group becomes a selector on its label",
			SecurityGroupRule{Direction: "ingress", Ethertype: "IPv4", RemoteGroupID: str("g1")},
			v3.Rule{Action: v3.Allow, IPVersion: &four, Source: v3.EntityRule{Selector: "has(sg.projectcalico.org/openstack-g1)"}}, false},
		{"icmp with type and code",
			SecurityGroupRule{Direction: "ingress", Ethertype: "IPv4", Protocol: "icmp", PortRangeMin: n(3), PortRangeMax: n(4)},
			v3.Rule{Action: v3.Allow, IPVersion: &four, Protocol: proto("ICMP"), ICMP: &v3.ICMPFields{Type: n(3), Code: n(4)}}, false},
		{"icmp in an IPv6 rule is ICMPv6",
			SecurityGroupRule{Direction: "ingress", Ethertype: "IPv6", Protocol: "icmp", PortRangeMin: n(128)},
			v3.Rule{Action: v3.Allow, IPVersion: &six, Protocol: proto("ICMPv6"), ICMP: &v3.ICMPFields{Type: n(128)}}, false},
		{"icmp type -1 means any type",
			SecurityGroupRule{Direction: "ingress", Ethertype: "IPv4", Protocol: "1", PortRangeMin: n(-1), PortRangeMax: n(-1)},
			v3.Rule{Action: v3.Allow, IPVersion: &four, Protocol: proto("ICMP")}, false},
		{"a protocol number Calico has no name for stays a number",
			SecurityGroupRule{Direction: "ingress", Ethertype: "IPv4", Protocol: "gre"},
			v3.Rule{Action: v3.Allow, IPVersion: &four, Protocol: num(47)}, false},
		{"a numeric TCP is named",
			SecurityGroupRule{Direction: "ingress", Ethertype: "IPv4", Protocol: "6", PortRangeMin: n(80), PortRangeMax: n(81)},
			v3.Rule{Action: v3.Allow, IPVersion: &four, Protocol: proto("TCP"), Destination: v3.EntityRule{Ports: []v3.Port{v3.PortRange(80, 81)}}}, false},
		{"ports on dccp cannot be expressed", SecurityGroupRule{Direction: "ingress", Ethertype: "IPv4", Protocol: "dccp", PortRangeMin: n(1), PortRangeMax: n(2)}, v3.Rule{}, true},
		{"an ICMP code without a type is refused", SecurityGroupRule{Direction: "ingress", Ethertype: "IPv4", Protocol: "icmp", PortRangeMax: n(1)}, v3.Rule{}, true},
		{"ICMP type 255 is beyond Calico", SecurityGroupRule{Direction: "ingress", Ethertype: "IPv4", Protocol: "icmp", PortRangeMin: n(255)}, v3.Rule{}, true},
		{"an address-group remote is not supported", SecurityGroupRule{Direction: "ingress", Ethertype: "IPv4", RemoteAddressGroupID: str("ag")}, v3.Rule{}, true},
		{"an unknown ethertype is refused", SecurityGroupRule{Direction: "ingress", Ethertype: "ARP"}, v3.Rule{}, true},
		{"a prefix of the other IP version is refused", SecurityGroupRule{Direction: "ingress", Ethertype: "IPv6", RemoteIPPrefix: str("10.0.0.0/8")}, v3.Rule{}, true},
		{"an unknown protocol name is refused", SecurityGroupRule{Direction: "ingress", Ethertype: "IPv4", Protocol: "tcpp"}, v3.Rule{}, true},
		{"ipv6-icmp in an IPv4 rule is refused", SecurityGroupRule{Direction: "ingress", Ethertype: "IPv4", Protocol: "ipv6-icmp"}, v3.Rule{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := convertRule(&tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			np := &v3.NetworkPolicy{Spec: v3.NetworkPolicySpec{Selector: "all()", Ingress: []v3.Rule{got}}}
			np.Name, np.Namespace = "p", "openstack"
			v3.Default(np)
			if err := v3.Validate(np); err != nil {
				t.Errorf("the rule does not validate: %v", err)
			}
		})
	}
}

func TestSanitizeLabel(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"a clean name is kept", "web", "web"},
		{"other characters become underscores", "lex servers!", "lex_servers"},
		{"leading and trailing non-alphanumerics go", "--a.b--", "a.b"},
		{"long names are truncated to the limit", "abcdefghijklmnopqrstuvwxyz0123456789", "abcdefghijklmnopqrstuvwxyz0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := sanitizeLabel(tt.in, maxSGNameLabel); got != tt.want {
				t.Errorf("sanitizeLabel(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestNames(t *testing.T) {
	p := &Port{ID: "0a1b2c3d-4e5f", DeviceID: "vm-1", HostID: "compute-1.example.com"}
	if got, want := EndpointName(p), "compute--1.example.com-openstack-vm--1-0a1b2c3d--4e5f"; got != want {
		t.Errorf("EndpointName = %q, want %q", got, want)
	}
	if got, want := InterfaceName("0a1b2c3d-4e5f-4a6b"), "tap0a1b2c3d-4e"; got != want {
		t.Errorf("InterfaceName = %q, want %q", got, want)
	}
	if got := Namespace(""); got != "openstack" {
		t.Errorf("Namespace(\"\") = %q", got)
	}
	if got := Namespace("west"); got != "openstack-region-west" {
		t.Errorf("Namespace(west) = %q", got)
	}
}
