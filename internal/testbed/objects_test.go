//go:build linux

package testbed

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"

	v3 "github.com/tabby-project/tabby/api/v3"
	"github.com/tabby-project/tabby/lab"
)

func TestTopologyObjects(t *testing.T) {
	topo := &lab.Topology{Hosts: []lab.Host{
		{Name: "node-1", Workloads: []lab.Workload{
			{Namespace: "x", Name: "a", Labels: map[string]string{"app": "web"}, ServiceAccount: "reader",
				IPs: []string{"10.0.0.1", "fd00::1"}, InterfaceName: "caliweb",
				Ports: []lab.Port{{Port: 80, Protocol: lab.TCP, Name: "http"}, {Port: 81, Protocol: lab.UDP}}},
			{Namespace: "x", Name: "b", ServiceAccount: "reader", IPs: []string{"10.0.0.2"}},
		}, HostEndpoints: []lab.HostEndpoint{
			{Name: "n1-eth0", InterfaceName: "eth0", Labels: map[string]string{"role": "node"},
				Ports: []lab.Port{{Port: 22, Protocol: lab.TCP, Name: "ssh"}}},
			{Name: "n1-any"},
		}},
		{Name: "node-2", Workloads: []lab.Workload{{Namespace: "y", Name: "c", IPs: []string{"10.0.1.1"}}}},
	}}
	workloads := map[lab.WorkloadRef]lab.WorkloadInfo{}
	for _, h := range topo.Hosts {
		for _, w := range h.Workloads {
			info := lab.WorkloadInfo{Ref: w.Ref(), Host: h.Name, InterfaceName: w.Interface()}
			for _, s := range w.IPs {
				info.IPs = append(info.IPs, netip.MustParseAddr(s))
			}
			workloads[w.Ref()] = info
		}
	}
	hostIPs := []netip.Addr{netip.MustParseAddr("172.31.255.1"), netip.MustParseAddr("fd00:7ab::1")}
	objs, err := topologyObjects(topo,
		func(r lab.WorkloadRef) (lab.WorkloadInfo, bool) { i, ok := workloads[r]; return i, ok },
		func(h string) (lab.HostInfo, bool) { return lab.HostInfo{Name: h, IPs: hostIPs}, true })
	if err != nil {
		t.Fatal(err)
	}
	byKey := map[v3.Key]v3.Object{}
	var order []string
	for _, o := range objs {
		byKey[v3.KeyOf(o)] = o
		order = append(order, v3.KindOf(o))
	}
	wep := func(ns, name string) *v3.WorkloadEndpoint {
		t.Helper()
		for _, o := range objs {
			if w, ok := o.(*v3.WorkloadEndpoint); ok && w.Namespace == ns && w.Spec.Pod == name {
				return w
			}
		}
		t.Fatalf("no WorkloadEndpoint for %s/%s", ns, name)
		return nil
	}
	tests := []struct {
		name      string
		got, want any
	}{
		{"profiles come first, then the endpoints in topology order",
			order, []string{"Profile", "Profile", "Profile", "WorkloadEndpoint", "WorkloadEndpoint", "HostEndpoint", "HostEndpoint", "WorkloadEndpoint"}},
		{"each namespace and service account has Calico's profile",
			[]bool{byKey[v3.Key{Kind: "Profile", Name: "kns.x"}] != nil, byKey[v3.Key{Kind: "Profile", Name: "kns.y"}] != nil,
				byKey[v3.Key{Kind: "Profile", Name: "ksa.x.reader"}] != nil}, []bool{true, true, true}},
		{"a workload is an endpoint of its host named as Calico names a pod's",
			[]string{wep("x", "a").Name, wep("x", "a").Spec.Node, wep("y", "c").Spec.Node}, []string{"node--1-k8s-a-eth0", "node-1", "node-2"}},
		{"the endpoint's interface is the workload's host side",
			[]string{wep("x", "a").Spec.InterfaceName, wep("x", "b").Spec.InterfaceName}, []string{"caliweb", lab.CalicoInterfaceName("x", "b")}},
		{"the endpoint has every address of the workload",
			wep("x", "a").Spec.IPNetworks, []string{"10.0.0.1/32", "fd00::1/128"}},
		{"only named ports become endpoint ports",
			wep("x", "a").Spec.Ports, []v3.WorkloadEndpointPort{{Name: "http", Protocol: v3.ProtocolFromString("tcp"), Port: 80}}},
		{"labels are the workload's and Calico's",
			wep("x", "a").Labels, map[string]string{"app": "web", "projectcalico.org/namespace": "x",
				"projectcalico.org/orchestrator": "k8s", "projectcalico.org/serviceaccount": "reader"}},
		{"the profiles are the namespace's and the service account's",
			wep("x", "a").Spec.Profiles, []string{"kns.x", "ksa.x.reader"}},
		{"a host endpoint with an interface keeps it and its named ports",
			byKey[v3.Key{Kind: "HostEndpoint", Name: "n1-eth0"}].(*v3.HostEndpoint).Spec,
			v3.HostEndpointSpec{Node: "node-1", InterfaceName: "eth0", Ports: []v3.EndpointPort{{Name: "ssh", Protocol: v3.ProtocolFromString("TCP"), Port: 22}}}},
		{"a host endpoint without an interface expects the host's fabric addresses",
			byKey[v3.Key{Kind: "HostEndpoint", Name: "n1-any"}].(*v3.HostEndpoint).Spec,
			v3.HostEndpointSpec{Node: "node-1", ExpectedIPs: []string{"172.31.255.1", "fd00:7ab::1"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, tt.got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
