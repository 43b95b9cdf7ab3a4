package k8s_test

import (
	"fmt"

	v3 "github.com/tabby-project/tabby/api/v3"
	"github.com/tabby-project/tabby/k8s"
)

// Kubernetes YAML is split into documents, decoded, and converted; every
// object Calico would not represent comes back as a report saying why.
func Example() {
	yaml := `
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {team: blue}}
---
apiVersion: v1
kind: Pod
metadata: {name: web-0, namespace: shop, labels: {app: web}}
spec: {nodeName: node-1, hostNetwork: true, containers: [{name: web, image: nginx}]}
status: {podIP: 192.0.2.10}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-web, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from: [{namespaceSelector: {matchLabels: {team: blue}}}]
    ports: [{port: 443}, {port: 53, protocol: UDP}]
`
	var objs []v3.Object
	var reports []k8s.Report
	for _, doc := range k8s.SplitYAML([]byte(yaml)) {
		decoded, ok, err := k8s.DecodeKubernetes(doc)
		if err != nil || !ok {
			fmt.Println("not a Kubernetes object:", err)
			continue
		}
		res := k8s.Convert(decoded)
		objs = append(objs, res.Objects...)
		reports = append(reports, res.Reports...)
	}
	for _, o := range objs {
		fmt.Println(v3.KeyOf(o))
		if np, ok := o.(*v3.NetworkPolicy); ok {
			fmt.Println("  selector:", np.Spec.Selector)
			for _, r := range np.Spec.Ingress {
				fmt.Println("  allow", r.Protocol, r.Destination.Ports, "from", r.Source.NamespaceSelector)
			}
		}
	}
	for _, r := range reports {
		fmt.Println(r)
	}
	// Output:
	// Profile(kns.shop)
	// NetworkPolicy(shop/knp.default.allow-web)
	//   selector: projectcalico.org/orchestrator == 'k8s' && app == 'web'
	//   allow TCP [443] from team == 'blue'
	//   allow UDP [53] from team == 'blue'
	// skipped: pod shop/web-0: k8s: pod is not a workload endpoint: it uses the host network
}
