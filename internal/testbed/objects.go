//go:build linux

package testbed

import (
	"fmt"
	"net/netip"
	"slices"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/tabby-project/tabby/api/v3"
	"github.com/tabby-project/tabby/k8s"
	"github.com/tabby-project/tabby/lab"
)

// TopologyObjects returns what a Calico cluster's datastore holds for the
// topology running on f: for each Kubernetes namespace of a workload, the
// profile kns.<ns> Calico keeps for it (allow all; labelled as the API
// server labels a namespace, kubernetes.io/metadata.name=<ns>); for each
// service account, its profile ksa.<ns>.<sa>; for each workload, the
// WorkloadEndpoint Calico makes of a pod with the workload's labels,
// addresses, named ports and service account, running on its host, with
// the workload's host-side interface; for each host endpoint, a
// HostEndpoint on its host (no profile, so Calico denies all but the
// failsafe ports) with the host's fabric addresses as expected IPs when it
// names no interface. Profiles come first, so that no endpoint ever refers
// to a missing one.
func TopologyObjects(topo *lab.Topology, f *lab.Fabric) ([]v3.Object, error) {
	return topologyObjects(topo, f.Workload, f.Host)
}

// topologyObjects is TopologyObjects with the lab's workloads and hosts
// looked up by the given functions.
func topologyObjects(topo *lab.Topology, workload func(lab.WorkloadRef) (lab.WorkloadInfo, bool), host func(string) (lab.HostInfo, bool)) ([]v3.Object, error) {
	var profiles, endpoints []v3.Object
	seenNS := map[string]bool{}
	seenSA := map[string]bool{}
	for _, h := range topo.Hosts {
		for i := range h.Workloads {
			w := &h.Workloads[i]
			if !seenNS[w.Namespace] {
				seenNS[w.Namespace] = true
				profiles = append(profiles, k8s.NamespaceProfile(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
					Name:   w.Namespace,
					Labels: map[string]string{"kubernetes.io/metadata.name": w.Namespace},
				}}))
			}
			if sa := w.ServiceAccount; sa != "" && !seenSA[w.Namespace+"/"+sa] {
				seenSA[w.Namespace+"/"+sa] = true
				profiles = append(profiles, k8s.ServiceAccountProfile(&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{
					Name: sa, Namespace: w.Namespace,
				}}))
			}
			info, ok := workload(w.Ref())
			if !ok {
				return nil, fmt.Errorf("testbed: workload %s is not in the lab", w.Ref())
			}
			wep, err := workloadEndpoint(h.Name, w, info)
			if err != nil {
				return nil, err
			}
			endpoints = append(endpoints, wep)
		}
		for i := range h.HostEndpoints {
			info, ok := host(h.Name)
			if !ok {
				return nil, fmt.Errorf("testbed: host %s is not in the lab", h.Name)
			}
			endpoints = append(endpoints, hostEndpoint(h.Name, &h.HostEndpoints[i], info))
		}
	}
	return append(profiles, endpoints...), nil
}

// workloadEndpoint converts the workload as Calico converts a pod.
func workloadEndpoint(host string, w *lab.Workload, info lab.WorkloadInfo) (*v3.WorkloadEndpoint, error) {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: w.Name, Namespace: w.Namespace, Labels: w.Labels},
		Spec: corev1.PodSpec{
			NodeName:           host,
			ServiceAccountName: w.ServiceAccount,
			Containers:         []corev1.Container{{Name: "workload", Image: "tabby-lab"}},
		},
		Status: corev1.PodStatus{Phase: corev1.PodRunning},
	}
	for _, p := range w.Ports {
		if p.Name == "" {
			continue
		}
		pod.Spec.Containers[0].Ports = append(pod.Spec.Containers[0].Ports, corev1.ContainerPort{
			Name: p.Name, ContainerPort: int32(p.Port), Protocol: corev1.Protocol(p.Protocol),
		})
	}
	for _, ip := range info.IPs {
		pod.Status.PodIPs = append(pod.Status.PodIPs, corev1.PodIP{IP: ip.String()})
	}
	pod.Status.PodIP = pod.Status.PodIPs[0].IP
	wep, err := k8s.WorkloadEndpoint(pod)
	if err != nil {
		return nil, fmt.Errorf("testbed: workload %s: %w", w.Ref(), err)
	}
	wep.Spec.InterfaceName = info.InterfaceName
	wep.Spec.MAC = info.MAC.String()
	return wep, nil
}

func hostEndpoint(host string, he *lab.HostEndpoint, info lab.HostInfo) *v3.HostEndpoint {
	hep := &v3.HostEndpoint{
		TypeMeta:   metav1.TypeMeta{APIVersion: v3.APIVersion, Kind: v3.KindHostEndpoint},
		ObjectMeta: metav1.ObjectMeta{Name: he.Name, Labels: he.Labels},
		Spec:       v3.HostEndpointSpec{Node: host, InterfaceName: he.InterfaceName},
	}
	if he.InterfaceName == "" {
		for _, a := range info.IPs {
			hep.Spec.ExpectedIPs = append(hep.Spec.ExpectedIPs, a.String())
		}
	}
	for _, p := range he.Ports {
		if p.Name != "" {
			hep.Spec.Ports = append(hep.Spec.Ports, v3.EndpointPort{Name: p.Name, Protocol: v3.ProtocolFromString(string(p.Protocol)), Port: p.Port})
		}
	}
	return hep
}

// workloadKeys maps the lab's workloads to the endpoints of snapshot objs
// that the dataplane enforces for them: the WorkloadEndpoint on the
// workload's host with the workload's host-side interface.
func workloadKeys(f *lab.Fabric, objs []v3.Object) map[lab.WorkloadRef]v3.Key {
	type hostIface struct{ host, iface string }
	byIface := map[hostIface]v3.Key{}
	for _, o := range objs {
		if wep, ok := o.(*v3.WorkloadEndpoint); ok {
			byIface[hostIface{wep.Spec.Node, wep.Spec.InterfaceName}] = v3.KeyOf(wep)
		}
	}
	out := map[lab.WorkloadRef]v3.Key{}
	for _, w := range f.Workloads() {
		if k, ok := byIface[hostIface{w.Host, w.InterfaceName}]; ok {
			out[w.Ref] = k
		}
	}
	return out
}

// firstAddr returns the first of addrs in the family of like.
func firstAddr(addrs []netip.Addr, like netip.Addr) (netip.Addr, bool) {
	i := slices.IndexFunc(addrs, func(a netip.Addr) bool { return a.Is4() == like.Is4() })
	if i < 0 {
		return netip.Addr{}, false
	}
	return addrs[i], true
}
