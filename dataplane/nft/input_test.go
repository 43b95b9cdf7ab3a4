package nft

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"

	v3 "github.com/tabby-project/tabby/api/v3"
)

func TestEndpointsFromResources(t *testing.T) {
	wep := pod("x", "a", "cali-a", []string{"10.0.0.1/32", "fd00::1/128"}, nil,
		v3.WorkloadEndpointPort{Name: "http", Protocol: v3.ProtocolFromString("TCP"), Port: 8080})
	t.Run("a workload endpoint gives its interface, addresses and named ports", func(t *testing.T) {
		ep, err := WorkloadEndpointOf(wep, nil)
		if err != nil {
			t.Fatal(err)
		}
		want := Endpoint{Key: v3.KeyOf(wep), Interface: "cali-a",
			Addrs: []netip.Addr{netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("fd00::1")},
			Ports: []NamedPort{{Name: "http", Protocol: protoTCP, Port: 8080}}}
		if diff := cmp.Diff(want, ep, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
			t.Errorf("endpoint (-want +got):\n%s", diff)
		}
	})
	t.Run("a workload endpoint without an interface is refused", func(t *testing.T) {
		w := pod("x", "b", "", []string{"10.0.0.2/32"}, nil)
		if _, err := WorkloadEndpointOf(w, nil); !errors.Is(err, ErrNoInterface) {
			t.Errorf("error %v, want ErrNoInterface", err)
		}
	})
	t.Run("a host endpoint known by its expected IPs only needs its interface resolved", func(t *testing.T) {
		h := &v3.HostEndpoint{ObjectMeta: meta("", "h", nil), Spec: v3.HostEndpointSpec{Node: "node-1", ExpectedIPs: []string{"192.0.2.1"}}}
		ep, err := HostEndpointOf(h, nil)
		if !errors.Is(err, ErrNoInterface) {
			t.Fatalf("error %v, want ErrNoInterface", err)
		}
		if len(ep.Addrs) != 1 || ep.Addrs[0] != netip.MustParseAddr("192.0.2.1") {
			t.Errorf("addresses %v, want the expected IP", ep.Addrs)
		}
	})
}

func TestApplyFelix(t *testing.T) {
	none := []v3.ProtoPort{}
	ssh := []v3.ProtoPort{{Protocol: "TCP", Port: 22}}
	tests := []struct {
		name string
		spec v3.FelixConfigurationSpec
		want Config
	}{
		{"an empty FelixConfiguration changes nothing", v3.FelixConfigurationSpec{}, Config{LogGroup: 3}},
		{"an empty failsafe list disables failsafe ports",
			v3.FelixConfigurationSpec{FailsafeInboundHostPorts: &none}, Config{LogGroup: 3, FailsafeInbound: []v3.ProtoPort{}}},
		{"the fields the dataplane acts on are copied",
			v3.FelixConfigurationSpec{FailsafeOutboundHostPorts: &ssh, LogPrefix: "tabby", DropActionOverride: "LogAndDrop", DefaultEndpointToHostAction: "Accept"},
			Config{LogGroup: 3, FailsafeOutbound: ssh, LogPrefix: "tabby", DropActionOverride: ActionLogAndDrop, EndpointToHostAction: ActionAccept}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Config{LogGroup: 3}
			c.ApplyFelix(&tt.spec)
			if diff := cmp.Diff(tt.want, c); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("no failsafe ports leaves the failsafe chains empty", func(t *testing.T) {
		m, err := Render(Config{FailsafeInbound: none, FailsafeOutbound: none}, &Input{})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []string{chainFailsafeIn, chainFailsafeOut, chainFailsafeInRaw, chainFailsafeOutRaw} {
			if lines, _ := m.ChainText(c); len(lines) != 0 {
				t.Errorf("%s has rules %v", c, lines)
			}
		}
	})
}
