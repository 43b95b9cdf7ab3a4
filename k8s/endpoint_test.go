package k8s

import (
	"crypto/sha1"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/tabby-project/tabby/api/v3"
)

func TestInterfaceName(t *testing.T) {
	tests := []struct {
		name      string
		namespace string
		pod       string
		calico    string // the name Calico gave, where one is published
	}{
		{"Calico's own test pod gets Calico's name", "default", "podA", "cali7f94ce7c295"},
		{"seed 003's nginx pod gets the name calicoctl showed", "advanced-policy-demo", "nginx-701339712-x1uqe", "cali347609b8bd7"},
		{"a pod name with dots is hashed as written", "kube-system", "coredns.x", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := InterfaceName(tt.namespace, tt.pod)
			want := fmt.Sprintf("cali%x", sha1.Sum([]byte(tt.namespace+"."+tt.pod)))[:15]
			if got != want {
				t.Errorf("InterfaceName(%q, %q) = %q, want %q", tt.namespace, tt.pod, got, want)
			}
			if tt.calico != "" && got != tt.calico {
				t.Errorf("InterfaceName(%q, %q) = %q, Calico gives %q", tt.namespace, tt.pod, got, tt.calico)
			}
			if len(got) != 15 {
				t.Errorf("InterfaceName length %d, want the Linux limit 15", len(got))
			}
		})
	}
}

func TestWorkloadEndpointName(t *testing.T) {
	tests := []struct {
		name    string
		node    string
		pod     string
		want    string
		wantErr bool
	}{
		{"plain names are joined with dashes", "nodeA", "podA", "nodeA-k8s-podA-eth0", false},
		{"dashes in each part are doubled", "k8s-node-01", "nginx-701339712-x1uqe", "k8s--node--01-k8s-nginx--701339712--x1uqe-eth0", false},
		{"dots are kept", "node.example.com", "web-0", "node.example.com-k8s-web--0-eth0", false},
		{"an empty node is refused", "", "p", "", true},
		{"a pod ending in a dash is refused", "n", "p-", "", true},
		{"a node beginning with a dash is refused", "-n", "p", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := WorkloadEndpointName(tt.node, tt.pod)
			if tt.wantErr {
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("WorkloadEndpointName = %q, %v; want an error wrapping ErrInvalid", got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("WorkloadEndpointName = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func runningPod(ns, name, node string, ips ...string) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:       corev1.PodSpec{NodeName: node},
		Status:     corev1.PodStatus{Phase: corev1.PodRunning},
	}
	if len(ips) > 0 {
		p.Status.PodIP = ips[0]
	}
	for _, ip := range ips {
		p.Status.PodIPs = append(p.Status.PodIPs, corev1.PodIP{IP: ip})
	}
	return p
}

func wepMeta() metav1.TypeMeta {
	return metav1.TypeMeta{APIVersion: "projectcalico.org/v3", Kind: "WorkloadEndpoint"}
}

func TestWorkloadEndpoint(t *testing.T) {
	tests := []struct {
		name string
		in   func() *corev1.Pod
		want *v3.WorkloadEndpoint
	}{
		{
			name: "seed 003's nginx pod becomes its Calico endpoint",
			in: func() *corev1.Pod {
				p := runningPod("advanced-policy-demo", "nginx-701339712-x1uqe", "k8s-node-01", "192.168.44.65")
				p.Labels = map[string]string{"pod-template-hash": "701339712", "run": "nginx"}
				return p
			},
			want: &v3.WorkloadEndpoint{
				TypeMeta: wepMeta(),
				ObjectMeta: metav1.ObjectMeta{
					Name: "k8s--node--01-k8s-nginx--701339712--x1uqe-eth0", Namespace: "advanced-policy-demo",
					Labels: map[string]string{
						"pod-template-hash": "701339712", "run": "nginx",
						"projectcalico.org/namespace": "advanced-policy-demo", "projectcalico.org/orchestrator": "k8s",
					},
				},
				Spec: v3.WorkloadEndpointSpec{
					Orchestrator: "k8s", Node: "k8s-node-01", Pod: "nginx-701339712-x1uqe", Endpoint: "eth0",
					InterfaceName: "cali347609b8bd7",
					IPNetworks:    []string{"192.168.44.65/32"},
					Profiles:      []string{"kns.advanced-policy-demo"},
				},
			},
		},
		{
			name: "a dual-stack pod with a service account gets both networks, the SA label and profile",
			in: func() *corev1.Pod {
				p := runningPod("shop", "api-0", "node-1", "10.0.0.7", "fd5f:8067::7")
				p.Spec.ServiceAccountName = "api"
				p.Labels = map[string]string{"app": "api", "projectcalico.org/namespace": "spoofed"}
				return p
			},
			want: &v3.WorkloadEndpoint{
				TypeMeta: wepMeta(),
				ObjectMeta: metav1.ObjectMeta{
					Name: "node--1-k8s-api--0-eth0", Namespace: "shop",
					Labels: map[string]string{
						"app": "api", "projectcalico.org/namespace": "shop", "projectcalico.org/orchestrator": "k8s",
						"projectcalico.org/serviceaccount": "api",
					},
				},
				Spec: v3.WorkloadEndpointSpec{
					Orchestrator: "k8s", Node: "node-1", Pod: "api-0", Endpoint: "eth0",
					InterfaceName:      InterfaceName("shop", "api-0"),
					IPNetworks:         []string{"10.0.0.7/32", "fd5f:8067::7/128"},
					Profiles:           []string{"kns.shop", "ksa.shop.api"},
					ServiceAccountName: "api",
				},
			},
		},
		{
			name: "named container ports and host ports are listed, containers before init containers",
			in: func() *corev1.Pod {
				p := runningPod("x", "a", "node-1", "10.0.1.1")
				p.Spec.Containers = []corev1.Container{
					{Name: "c1", Ports: []corev1.ContainerPort{
						{ContainerPort: 5678},
						{Name: "serve-80-tcp", ContainerPort: 80},
						{Name: "serve-80-udp", ContainerPort: 80, Protocol: corev1.ProtocolUDP},
					}},
					{Name: "c2", Ports: []corev1.ContainerPort{
						{Name: "serve-81-sctp", ContainerPort: 81, Protocol: corev1.ProtocolSCTP},
						{ContainerPort: 500, HostPort: 5000, Protocol: corev1.ProtocolTCP},
						{Name: "dns", ContainerPort: 53, HostPort: 53, HostIP: "1.2.3.4", Protocol: corev1.ProtocolUDP},
					}},
				}
				p.Spec.InitContainers = []corev1.Container{{Name: "init", Ports: []corev1.ContainerPort{
					{Name: "init-http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP},
				}}}
				return p
			},
			want: &v3.WorkloadEndpoint{
				TypeMeta: wepMeta(),
				ObjectMeta: metav1.ObjectMeta{Name: "node--1-k8s-a-eth0", Namespace: "x",
					Labels: map[string]string{"projectcalico.org/namespace": "x", "projectcalico.org/orchestrator": "k8s"}},
				Spec: v3.WorkloadEndpointSpec{
					Orchestrator: "k8s", Node: "node-1", Pod: "a", Endpoint: "eth0",
					InterfaceName: InterfaceName("x", "a"),
					IPNetworks:    []string{"10.0.1.1/32"},
					Profiles:      []string{"kns.x"},
					Ports: []v3.WorkloadEndpointPort{
						{Name: "serve-80-tcp", Protocol: v3.ProtocolFromString("tcp"), Port: 80},
						{Name: "serve-80-udp", Protocol: v3.ProtocolFromString("udp"), Port: 80},
						{Name: "serve-81-sctp", Protocol: v3.ProtocolFromString("sctp"), Port: 81},
						{Protocol: v3.ProtocolFromString("tcp"), Port: 500, HostPort: 5000},
						{Name: "dns", Protocol: v3.ProtocolFromString("udp"), Port: 53, HostPort: 53, HostIP: "1.2.3.4"},
						{Name: "init-http", Protocol: v3.ProtocolFromString("tcp"), Port: 8080},
					},
				},
			},
		},
		{
			name: "Calico's annotations give the container ID, floating IPs, spoofable prefixes and network status",
			in: func() *corev1.Pod {
				p := runningPod("", "vm", "n1", "10.0.0.9", "fd00::9")
				p.Annotations = map[string]string{
					"cni.projectcalico.org/containerID":           "abc123",
					"cni.projectcalico.org/floatingIPs":           `["172.16.0.9", "2001:db8::9"]`,
					"cni.projectcalico.org/allowedSourcePrefixes": `["192.168.5.7/24"]`,
					"k8s.v1.cni.cncf.io/network-status":           `[{"name":"calico"}]`,
					"unrelated":                                   "ignored",
				}
				return p
			},
			want: &v3.WorkloadEndpoint{
				TypeMeta: wepMeta(),
				ObjectMeta: metav1.ObjectMeta{Name: "n1-k8s-vm-eth0", Namespace: "default",
					Labels:      map[string]string{"projectcalico.org/namespace": "default", "projectcalico.org/orchestrator": "k8s"},
					Annotations: map[string]string{"k8s.v1.cni.cncf.io/network-status": `[{"name":"calico"}]`}},
				Spec: v3.WorkloadEndpointSpec{
					Orchestrator: "k8s", Node: "n1", Pod: "vm", Endpoint: "eth0", ContainerID: "abc123",
					InterfaceName: InterfaceName("default", "vm"),
					IPNetworks:    []string{"10.0.0.9/32", "fd00::9/128"},
					IPNATs: []v3.IPNAT{
						{InternalIP: "10.0.0.9", ExternalIP: "172.16.0.9"},
						{InternalIP: "fd00::9", ExternalIP: "2001:db8::9"},
					},
					AllowSpoofedSourcePrefixes: []string{"192.168.5.0/24"},
					Profiles:                   []string{"kns.default"},
				},
			},
		},
		{
			name: "without status IPs the Calico podIPs annotation is read, CIDRs masked",
			in: func() *corev1.Pod {
				p := runningPod("x", "b", "n1")
				p.Annotations = map[string]string{
					"cni.projectcalico.org/podIP":  "192.168.0.1/32",
					"cni.projectcalico.org/podIPs": "192.168.0.1/32,fd5f:8067::1/128",
				}
				return p
			},
			want: &v3.WorkloadEndpoint{
				TypeMeta: wepMeta(),
				ObjectMeta: metav1.ObjectMeta{Name: "n1-k8s-b-eth0", Namespace: "x",
					Labels: map[string]string{"projectcalico.org/namespace": "x", "projectcalico.org/orchestrator": "k8s"}},
				Spec: v3.WorkloadEndpointSpec{
					Orchestrator: "k8s", Node: "n1", Pod: "b", Endpoint: "eth0",
					InterfaceName: InterfaceName("x", "b"),
					IPNetworks:    []string{"192.168.0.1/32", "fd5f:8067::1/128"},
					Profiles:      []string{"kns.x"},
				},
			},
		},
		{
			name: "a service account name of 63 characters gets a profile but no label",
			in: func() *corev1.Pod {
				p := runningPod("x", "c", "n1", "10.0.0.3")
				p.Spec.ServiceAccountName = strings.Repeat("s", 63)
				return p
			},
			want: &v3.WorkloadEndpoint{
				TypeMeta: wepMeta(),
				ObjectMeta: metav1.ObjectMeta{Name: "n1-k8s-c-eth0", Namespace: "x",
					Labels: map[string]string{"projectcalico.org/namespace": "x", "projectcalico.org/orchestrator": "k8s"}},
				Spec: v3.WorkloadEndpointSpec{
					Orchestrator: "k8s", Node: "n1", Pod: "c", Endpoint: "eth0",
					InterfaceName:      InterfaceName("x", "c"),
					IPNetworks:         []string{"10.0.0.3/32"},
					Profiles:           []string{"kns.x", "ksa.x." + strings.Repeat("s", 63)},
					ServiceAccountName: strings.Repeat("s", 63),
				},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in()
			before := in.DeepCopy()
			got, err := WorkloadEndpoint(in)
			if err != nil {
				t.Fatalf("WorkloadEndpoint: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("WorkloadEndpoint (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(before, in); diff != "" {
				t.Errorf("WorkloadEndpoint modified its input:\n%s", diff)
			}
		})
	}
}

func TestWorkloadEndpointSkipsPodsCalicoDoesNotRepresent(t *testing.T) {
	deleting := metav1.Now()
	tests := []struct {
		name string
		pod  func() *corev1.Pod
		want error
	}{
		{"a host-networked pod is not an endpoint", func() *corev1.Pod {
			p := runningPod("x", "a", "n1", "10.0.0.1")
			p.Spec.HostNetwork = true
			return p
		}, ErrHostNetwork},
		{"an unscheduled pod is not an endpoint", func() *corev1.Pod {
			return runningPod("x", "a", "")
		}, ErrNotScheduled},
		{"a succeeded pod is not an endpoint even with its old IP", func() *corev1.Pod {
			p := runningPod("x", "a", "n1", "10.0.0.1")
			p.Status.Phase = corev1.PodSucceeded
			return p
		}, ErrFinished},
		{"a failed pod is not an endpoint", func() *corev1.Pod {
			p := runningPod("x", "a", "n1", "10.0.0.1")
			p.Status.Phase = corev1.PodFailed
			return p
		}, ErrFinished},
		{"a deleting pod whose CNI cleared its IP annotation is not an endpoint", func() *corev1.Pod {
			p := runningPod("x", "a", "n1", "10.0.0.1")
			p.DeletionTimestamp = &deleting
			p.Annotations = map[string]string{"cni.projectcalico.org/podIP": ""}
			return p
		}, ErrFinished},
		{"a pending pod without an IP is not an endpoint", func() *corev1.Pod {
			p := runningPod("x", "a", "n1")
			p.Status.Phase = corev1.PodPending
			return p
		}, ErrNoIP},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := WorkloadEndpoint(tt.pod())
			if !errors.Is(err, tt.want) || !errors.Is(err, ErrNotEndpoint) {
				t.Fatalf("WorkloadEndpoint = %v, %v; want an error wrapping %v and ErrNotEndpoint", got, err, tt.want)
			}
			if !strings.Contains(err.Error(), "pod x/a") {
				t.Errorf("error %q does not name the pod", err)
			}
		})
	}
}

func TestWorkloadEndpointRejectsInvalidPods(t *testing.T) {
	tests := []struct {
		name string
		pod  func() *corev1.Pod
		want string
	}{
		{"a pod IP that does not parse", func() *corev1.Pod {
			return runningPod("x", "a", "n1", "10.0.0.300")
		}, "10.0.0.300"},
		{"an unsupported container port protocol", func() *corev1.Pod {
			p := runningPod("x", "a", "n1", "10.0.0.1")
			p.Spec.Containers = []corev1.Container{{Name: "c", Ports: []corev1.ContainerPort{{Name: "p", ContainerPort: 1, Protocol: "ICMP"}}}}
			return p
		}, "spec.containers[0].ports[0].protocol"},
		{"a container port out of range", func() *corev1.Pod {
			p := runningPod("x", "a", "n1", "10.0.0.1")
			p.Spec.InitContainers = []corev1.Container{{Name: "c", Ports: []corev1.ContainerPort{{Name: "p", ContainerPort: 70000}}}}
			return p
		}, "spec.initContainers[0].ports[0].containerPort"},
		{"a floating IPs annotation that is not JSON", func() *corev1.Pod {
			p := runningPod("x", "a", "n1", "10.0.0.1")
			p.Annotations = map[string]string{"cni.projectcalico.org/floatingIPs": "1.2.3.4"}
			return p
		}, "cni.projectcalico.org/floatingIPs"},
		{"an allowed source prefix that is not a CIDR", func() *corev1.Pod {
			p := runningPod("x", "a", "n1", "10.0.0.1")
			p.Annotations = map[string]string{"cni.projectcalico.org/allowedSourcePrefixes": `["bogus"]`}
			return p
		}, "bogus"},
		{"a pod name that is not a DNS subdomain", func() *corev1.Pod {
			return runningPod("x", "A_pod", "n1", "10.0.0.1")
		}, "metadata.name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := WorkloadEndpoint(tt.pod())
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("WorkloadEndpoint = %v, %v; want an error wrapping ErrInvalid", got, err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
		})
	}
}
