package main

import (
	"fmt"
	"strings"
	"testing"
)

// benchPolicies is a file of n NetworkPolicies spread over ten
// namespaces, each with an ingress and an egress rule.
func benchPolicies(n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteString("---\n")
		}
		fmt.Fprintf(&b, `apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata:
  name: policy-%04d
  namespace: ns-%d
  labels: {team: t%d}
spec:
  order: %d
  selector: app == 'app-%d'
  ingress:
  - action: Allow
    protocol: TCP
    source: {selector: role == 'frontend', namespaceSelector: all()}
    destination: {ports: [80, 443, "8000:8080"]}
  egress:
  - action: Allow
    protocol: UDP
    destination: {nets: [10.0.0.0/8], ports: [53]}
`, i, i%10, i%7, i, i)
	}
	return b.String()
}

// BenchmarkApply1000Policies measures calicoctl apply of a file of 1,000
// new policies (decode, validate, write) against an embedded etcd.
func BenchmarkApply1000Policies(b *testing.B) {
	const n = 1000
	e := startDatastore(b)
	in := benchPolicies(n)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		e.reset(b)
		b.StartTimer()
		if r := e.ctl(b, in, "apply", "-f", "-"); r.code != 0 || r.stdout != "Successfully applied 1000 'NetworkPolicy' resource(s)\n" {
			b.Fatalf("apply: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "policies/s")
}

// BenchmarkReapply1000Policies measures calicoctl apply of the same 1,000
// policies again: every one is read and replaced.
func BenchmarkReapply1000Policies(b *testing.B) {
	const n = 1000
	e := startDatastore(b)
	in := benchPolicies(n)
	e.mustCtl(b, in, "apply", "-f", "-")
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if r := e.ctl(b, in, "apply", "-f", "-"); r.code != 0 {
			b.Fatalf("apply: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "policies/s")
}

// BenchmarkGetAllNamespaces1000Policies measures calicoctl get np -A of
// 1,000 stored policies, as a table and as YAML.
func BenchmarkGetAllNamespaces1000Policies(b *testing.B) {
	const n = 1000
	e := startDatastore(b)
	e.mustCtl(b, benchPolicies(n), "apply", "-f", "-")
	for _, output := range []string{"ps", "yaml"} {
		b.Run(output, func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				r := e.ctl(b, "", "get", "np", "-A", "-o", output)
				if r.code != 0 {
					b.Fatalf("get: exit %d\n%s", r.code, r.stderr)
				}
				if output == "ps" && strings.Count(r.stdout, "\n") != n+2 {
					b.Fatalf("get printed %d lines, want %d", strings.Count(r.stdout, "\n"), n+2)
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "policies/s")
		})
	}
}
