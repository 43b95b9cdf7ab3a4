package lab

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseTopology(t *testing.T) {
	data := []byte(`
hosts:
- name: node-1
  hostEndpoints:
  - {name: node-1-eth0, interfaceName: eth0, labels: {role: node}, ports: [{port: 22, protocol: TCP}]}
  workloads:
  - namespace: x
    name: a
    labels: {pod: a}
    serviceAccount: sa-a
    ips: [10.100.1.1, "fd00:100::1"]
    ports: [{port: 80, protocol: TCP, name: http}, {port: 80, protocol: UDP}]
`)
	want := &Topology{Hosts: []Host{{
		Name: "node-1",
		HostEndpoints: []HostEndpoint{{
			Name: "node-1-eth0", InterfaceName: "eth0", Labels: map[string]string{"role": "node"},
			Ports: []Port{{Port: 22, Protocol: TCP}},
		}},
		Workloads: []Workload{{
			Namespace: "x", Name: "a", Labels: map[string]string{"pod": "a"}, ServiceAccount: "sa-a",
			IPs:   []string{"10.100.1.1", "fd00:100::1"},
			Ports: []Port{{Port: 80, Protocol: TCP, Name: "http"}, {Port: 80, Protocol: UDP}},
		}},
	}}}
	got, err := ParseTopology(data)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ParseTopology (-want +got):\n%s", diff)
	}
}

func TestParseTopologyFile(t *testing.T) {
	data, err := os.ReadFile("testdata/two-hosts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	topo, err := ParseTopology(data)
	if err != nil {
		t.Fatal(err)
	}
	var refs []string
	for _, h := range topo.Hosts {
		for _, w := range h.Workloads {
			refs = append(refs, h.Name+":"+w.Ref().String()+":"+w.Interface())
			if len(w.Ports) != 4 {
				t.Errorf("workload %s has %d ports, want the 4 of the YAML anchor", w.Ref(), len(w.Ports))
			}
		}
	}
	want := []string{
		"node-1:x/a:" + CalicoInterfaceName("x", "a"),
		"node-1:x/b:" + CalicoInterfaceName("x", "b"),
		"node-1:y/a:tap-y-a",
		"node-2:y/b:" + CalicoInterfaceName("y", "b"),
		"node-2:z/a:" + CalicoInterfaceName("z", "a"),
		"node-2:z/b:" + CalicoInterfaceName("z", "b"),
	}
	if diff := cmp.Diff(want, refs); diff != "" {
		t.Errorf("workloads (-want +got):\n%s", diff)
	}
}

func TestCalicoInterfaceName(t *testing.T) {
	// Expected values from `echo -n <namespace>.<name> | sha1sum`.
	tests := []struct {
		name      string
		namespace string
		pod       string
		want      string
	}{
		{"a pod in the default namespace", "default", "nginx", "calic440f455693"},
		{"a pod with a one-letter name", "x", "a", "cali456b416f2bf"},
		{"a pod with a generated name", "kube-system", "coredns-7db6d8ff4d-abcde", "calif90c21019df"},
	}
	for _, tt := range tests {
		t.Run(tt.name+" gets cali and 11 hex digits of sha1(namespace.name)", func(t *testing.T) {
			if got := CalicoInterfaceName(tt.namespace, tt.pod); got != tt.want {
				t.Errorf("CalicoInterfaceName(%q, %q) = %q, want %q", tt.namespace, tt.pod, got, tt.want)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	valid := func() *Topology {
		return &Topology{Hosts: []Host{
			{Name: "node-1", Workloads: []Workload{
				{Namespace: "x", Name: "a", IPs: []string{"10.0.0.1"}, Ports: []Port{{Port: 80, Protocol: TCP, Name: "http"}}},
				{Namespace: "x", Name: "b", IPs: []string{"10.0.0.2", "fd00:1::2"}},
			}, HostEndpoints: []HostEndpoint{{Name: "node-1-eth0", InterfaceName: "eth0"}}},
			{Name: "node-2", Workloads: []Workload{
				{Namespace: "y", Name: "a", IPs: []string{"10.0.1.1"}},
			}},
		}}
	}
	tests := []struct {
		name   string
		mutate func(*Topology)
		// want are substrings of the error, each naming a field path; nil
		// means valid.
		want []string
	}{
		{"a valid topology passes", func(*Topology) {}, nil},
		{"a topology without hosts is invalid", func(t *Topology) { t.Hosts = nil }, []string{"hosts: at least one host"}},
		{"a host without a name is invalid", func(t *Topology) { t.Hosts[1].Name = "" }, []string{"hosts[1].name: required"}},
		{"a host name must be a DNS label", func(t *Topology) { t.Hosts[1].Name = "Node_2" }, []string{`hosts[1].name: "Node_2"`}},
		{"two hosts may not share a name", func(t *Topology) { t.Hosts[1].Name = "node-1" }, []string{`hosts[1].name: duplicate host "node-1" (also hosts[0].name)`}},
		{"a workload needs a namespace", func(t *Topology) { t.Hosts[0].Workloads[0].Namespace = "" }, []string{"hosts[0].workloads[0].namespace: required"}},
		{"a workload name must be a DNS subdomain", func(t *Topology) { t.Hosts[0].Workloads[1].Name = "B!" }, []string{`hosts[0].workloads[1].name: "B!"`}},
		{"two workloads may not share namespace and name, even on different hosts", func(t *Topology) { t.Hosts[1].Workloads[0].Namespace = "x" }, []string{`hosts[1].workloads[0]: duplicate workload "x/a" (also hosts[0].workloads[0])`}},
		{"a workload needs an IP", func(t *Topology) { t.Hosts[0].Workloads[0].IPs = nil }, []string{"hosts[0].workloads[0].ips: at least one IP"}},
		{"an IP must parse", func(t *Topology) { t.Hosts[0].Workloads[1].IPs[1] = "10.1" }, []string{`hosts[0].workloads[1].ips[1]: "10.1" is not an IP address`}},
		{"an IP is not a CIDR", func(t *Topology) { t.Hosts[0].Workloads[0].IPs[0] = "10.0.0.1/32" }, []string{`hosts[0].workloads[0].ips[0]: "10.0.0.1/32" is not an IP address`}},
		{"two workloads may not share an IP", func(t *Topology) { t.Hosts[1].Workloads[0].IPs[0] = "10.0.0.2" }, []string{`hosts[1].workloads[0].ips[0]: duplicate IP "10.0.0.2" (also hosts[0].workloads[1].ips[0])`}},
		{"an IP may not be in the fabric range", func(t *Topology) { t.Hosts[0].Workloads[0].IPs[0] = "172.31.255.7" }, []string{`hosts[0].workloads[0].ips[0]: "172.31.255.7": inside the lab's fabric range`}},
		{"an IPv6 IP may not be in the fabric range", func(t *Topology) { t.Hosts[0].Workloads[1].IPs[1] = "fd00:7ab::9" }, []string{`hosts[0].workloads[1].ips[1]: "fd00:7ab::9": inside the lab's fabric range`}},
		{"an IP may not be link-local like the gateway", func(t *Topology) { t.Hosts[0].Workloads[0].IPs[0] = "169.254.1.1" }, []string{`hosts[0].workloads[0].ips[0]: "169.254.1.1": must be a global or private unicast address`}},
		{"an IP may not be loopback", func(t *Topology) { t.Hosts[0].Workloads[0].IPs[0] = "127.0.0.1" }, []string{`hosts[0].workloads[0].ips[0]: "127.0.0.1": must be a global or private unicast`}},
		{"a port needs a number", func(t *Topology) { t.Hosts[0].Workloads[0].Ports[0].Port = 0 }, []string{"hosts[0].workloads[0].ports[0].port: must be between 1 and 65535"}},
		{"a port needs a protocol", func(t *Topology) { t.Hosts[0].Workloads[0].Ports[0].Protocol = "" }, []string{"hosts[0].workloads[0].ports[0].protocol: required (TCP, UDP or SCTP)"}},
		{"a port protocol must be TCP, UDP or SCTP", func(t *Topology) { t.Hosts[0].Workloads[0].Ports[0].Protocol = "ICMP" }, []string{`hosts[0].workloads[0].ports[0].protocol: "ICMP": must be TCP, UDP or SCTP`}},
		{"a port protocol is upper case as in Calico", func(t *Topology) { t.Hosts[0].Workloads[0].Ports[0].Protocol = "tcp" }, []string{`hosts[0].workloads[0].ports[0].protocol: "tcp"`}},
		{"a port may not repeat with the same protocol", func(t *Topology) {
			t.Hosts[0].Workloads[0].Ports = append(t.Hosts[0].Workloads[0].Ports, Port{Port: 80, Protocol: TCP})
		}, []string{"hosts[0].workloads[0].ports[1]: duplicate port TCP/80 (also hosts[0].workloads[0].ports[0])"}},
		{"a port may repeat with another protocol", func(t *Topology) {
			t.Hosts[0].Workloads[0].Ports = append(t.Hosts[0].Workloads[0].Ports, Port{Port: 80, Protocol: UDP})
		}, nil},
		{"a port name must be an IANA service name", func(t *Topology) { t.Hosts[0].Workloads[0].Ports[0].Name = "a-very-long-port-name" }, []string{`hosts[0].workloads[0].ports[0].name: "a-very-long-port-name"`}},
		{"a port name may not repeat", func(t *Topology) {
			t.Hosts[0].Workloads[0].Ports = append(t.Hosts[0].Workloads[0].Ports, Port{Port: 81, Protocol: TCP, Name: "http"})
		}, []string{`hosts[0].workloads[0].ports[1].name: duplicate port name "http"`}},
		{"a label key must be a qualified name", func(t *Topology) { t.Hosts[0].Workloads[0].Labels = map[string]string{"bad key": "v"} }, []string{`hosts[0].workloads[0].labels: key "bad key"`}},
		{"a label value must be a label value", func(t *Topology) { t.Hosts[0].Workloads[0].Labels = map[string]string{"k": "bad value"} }, []string{`hosts[0].workloads[0].labels[k]: "bad value"`}},
		{"a service account must be a DNS subdomain", func(t *Topology) { t.Hosts[0].Workloads[0].ServiceAccount = "SA" }, []string{`hosts[0].workloads[0].serviceAccount: "SA"`}},
		{"an interface name longer than 15 characters is invalid", func(t *Topology) { t.Hosts[0].Workloads[0].InterfaceName = "cali0123456789abc" }, []string{`hosts[0].workloads[0].interfaceName: "cali0123456789abc": longer than 15`}},
		{"an interface name may not be the host's own", func(t *Topology) { t.Hosts[0].Workloads[0].InterfaceName = "eth0" }, []string{`hosts[0].workloads[0].interfaceName: "eth0": reserved`}},
		{"two workloads on a host may not share an interface name", func(t *Topology) {
			t.Hosts[0].Workloads[1].InterfaceName = CalicoInterfaceName("x", "a")
		}, []string{"hosts[0].workloads[1].interfaceName: interface \"" + CalicoInterfaceName("x", "a") + "\" already used on this host by hosts[0].workloads[0]"}},
		{"workloads on different hosts may share an interface name", func(t *Topology) {
			t.Hosts[0].Workloads[0].InterfaceName = "tap0"
			t.Hosts[1].Workloads[0].InterfaceName = "tap0"
		}, nil},
		{"a host endpoint needs a name", func(t *Topology) { t.Hosts[0].HostEndpoints[0].Name = "" }, []string{"hosts[0].hostEndpoints[0].name: required"}},
		{"a host endpoint names the host's interface", func(t *Topology) { t.Hosts[0].HostEndpoints[0].InterfaceName = "ens3" }, []string{`hosts[0].hostEndpoints[0].interfaceName: "ens3": a lab host has one interface`}},
		{"a host endpoint may apply to all interfaces", func(t *Topology) { t.Hosts[0].HostEndpoints[0].InterfaceName = "*" }, nil},
		{"two host endpoints may not share a name", func(t *Topology) {
			t.Hosts[1].HostEndpoints = []HostEndpoint{{Name: "node-1-eth0"}}
		}, []string{`hosts[1].hostEndpoints[0].name: duplicate host endpoint "node-1-eth0" (also hosts[0].hostEndpoints[0].name)`}},
		{"every problem is reported", func(t *Topology) {
			t.Hosts[0].Name = ""
			t.Hosts[1].Workloads[0].IPs[0] = "bogus"
		}, []string{"hosts[0].name: required", `hosts[1].workloads[0].ips[0]: "bogus"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			topo := valid()
			tt.mutate(topo)
			err := topo.Validate()
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidTopology) {
				t.Fatalf("Validate() = %v, want an error wrapping ErrInvalidTopology", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %v\nwant it to contain %q", err, w)
				}
			}
		})
	}
}

func TestParseTopologyRejects(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want string
	}{
		{"an unknown field is an error", "hosts: [{name: n, bogus: 1}]", `unknown field "bogus"`},
		{"a port above 65535 is an error naming the field", "hosts: [{name: n, workloads: [{namespace: x, name: a, ips: [10.0.0.1], ports: [{port: 70000, protocol: TCP}]}]}]", "ports.port"},
		{"a decoded topology is validated", "hosts: [{name: n, workloads: [{namespace: x, name: a, ips: [nope]}]}]", `hosts[0].workloads[0].ips[0]: "nope"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseTopology([]byte(tt.yaml))
			if !errors.Is(err, ErrInvalidTopology) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ParseTopology() = %v, want an ErrInvalidTopology containing %q", err, tt.want)
			}
		})
	}
}
