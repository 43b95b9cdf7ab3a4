package v3

import (
	"bytes"
	"fmt"
	"io"
	"testing"
)

// policyFile returns a multi-document YAML file of n policies as people
// write them: alternately namespaced and global, each with a selector, an
// order, four to six ingress and egress rules (selectors, namespace
// selectors, ports, ranges, named ports, nets, ICMP, HTTP) and labels.
func policyFile(n int) []byte {
	var b bytes.Buffer
	for i := range n {
		if i > 0 {
			b.WriteString("---\n")
		}
		b.WriteString("apiVersion: projectcalico.org/v3\n")
		if i%2 == 0 {
			fmt.Fprintf(&b, "kind: NetworkPolicy\nmetadata:\n  name: allow-app-%d\n  namespace: team-%d\n", i, i%17)
		} else {
			fmt.Fprintf(&b, "kind: GlobalNetworkPolicy\nmetadata:\n  name: security.app-%d\n", i)
		}
		fmt.Fprintf(&b, `  labels:
    owner: team-%d
    env: production
spec:
  tier: %s
  order: %d.5
  selector: app == 'app-%d' && role in {'api', 'web'}
  types:
  - Ingress
  - Egress
  ingress:
  - action: Allow
    protocol: TCP
    source:
      selector: role == 'frontend'
      namespaceSelector: team == 'team-%d'
    destination:
      ports: [80, 443, "8080:8090", http-alt]
  - action: Allow
    protocol: ICMP
    icmp:
      type: 8
      code: 0
  - action: Log
    source:
      nets: [10.%d.0.0/16, 192.168.%d.0/24]
  - action: Deny
    protocol: UDP
    source:
      notNets: [10.0.0.0/8]
    destination:
      notPorts: ["1:1023"]
  egress:
  - action: Allow
    protocol: UDP
    destination:
      selector: k8s-app == "kube-dns"
      ports: [53]
  - action: Allow
    protocol: TCP
    destination:
      nets: [172.16.%d.0/24]
      ports: [5432]
`, i%17, []string{"default", "security"}[i%2], i, i, i%17, i%256, i%256, i%256)
		if i%2 == 0 {
			b.WriteString(`  - action: Deny
    destination:
      notSelector: has(trusted)
`)
		}
	}
	return b.Bytes()
}

func BenchmarkDecode1000Policies(b *testing.B) {
	data := policyFile(1000)
	if objs, err := Decode(data); err != nil || len(objs) != 1000 {
		b.Fatalf("generated file decodes to %d objects, error %v", len(objs), err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(data); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1000, "ns/policy")
}

func BenchmarkValidate1000Policies(b *testing.B) {
	objs, err := Decode(policyFile(1000))
	if err != nil {
		b.Fatal(err)
	}
	for _, o := range objs {
		Default(o)
		if err := Validate(o); err != nil {
			b.Fatalf("generated policy is invalid: %v", err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		for _, o := range objs {
			if err := Validate(o); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1000, "ns/policy")
}

func BenchmarkEncode1000Policies(b *testing.B) {
	objs, err := Decode(policyFile(1000))
	if err != nil {
		b.Fatal(err)
	}
	for _, format := range []Format{FormatYAML, FormatJSON} {
		b.Run(format.String(), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := Encode(io.Discard, format, objs...); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1000, "ns/policy")
		})
	}
}
