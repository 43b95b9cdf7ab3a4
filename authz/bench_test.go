package authz

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	v3 "github.com/tabby-project/tabby/api/v3"
	"github.com/tabby-project/tabby/datastore/memory"
)

// benchPolicies is cluster.yaml plus n NetworkPolicies spread over ten
// namespaces; one in ten selects the protected web pod (with a rule for
// its own service account and path prefix), the others other apps.
func benchPolicies(b *testing.B, n int) (*memory.Store, string) {
	b.Helper()
	store := loadStore(b, "cluster.yaml")
	var sb strings.Builder
	last := ""
	for i := range n {
		ns, app := fmt.Sprintf("ns%d", i%10), fmt.Sprintf("svc-%d", i)
		if i%10 == 0 {
			ns, app = "prod", "web"
			last = fmt.Sprintf("/svc-%d/", i)
		}
		fmt.Fprintf(&sb, `---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: p%04d, namespace: %s}
spec:
  order: %d
  selector: app == '%s'
  ingress:
  - action: Allow
    protocol: TCP
    source:
      serviceAccounts: {names: [sa-%d]}
    destination:
      ports: [8080]
    http:
      methods: [GET, POST]
      paths: [{prefix: /svc-%d/}, {exact: /svc-%d}]
`, i, ns, i, app, i, i, i)
	}
	objs, err := v3.Decode([]byte(sb.String()))
	if err != nil {
		b.Fatal(err)
	}
	for _, o := range objs {
		if _, err := store.Create(context.Background(), o); err != nil {
			b.Fatal(err)
		}
	}
	return store, last
}

// reportLatency reports p50 and p99 of durations and the rate of checks.
func reportLatency(b *testing.B, durations []time.Duration) {
	slices.Sort(durations)
	if len(durations) == 0 {
		return
	}
	b.ReportMetric(float64(durations[len(durations)/2].Nanoseconds())/1e3, "p50-µs")
	b.ReportMetric(float64(durations[len(durations)*99/100].Nanoseconds())/1e3, "p99-µs")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "checks/s")
}

// BenchmarkCheck1000Policies measures Check over a unix socket with a
// real gRPC client, 1,000 policies loaded (100 of them applying to the
// destination), the request allowed by the last one in order: every
// applicable policy is walked.
func BenchmarkCheck1000Policies(b *testing.B) {
	store, path := benchPolicies(b, 1000)
	a := startAuthorizer(b, store, Config{Destination: Destination{Endpoint: webKey}})
	dir, err := os.MkdirTemp("", "authz")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	lis, err := Listen(filepath.Join(dir, "a.sock"))
	if err != nil {
		b.Fatal(err)
	}
	srv := grpc.NewServer()
	a.RegisterGRPC(srv)
	go srv.Serve(lis)
	b.Cleanup(srv.Stop)
	conn, err := grpc.NewClient("unix://"+lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close() })
	c := authv3.NewAuthorizationClient(conn)
	principal := "spiffe://cluster.local/ns/prod/sa/sa-" + strings.Trim(strings.TrimPrefix(path, "/svc-"), "/")
	req := envoyCheck(principal, client, web8080, "GET", path+"items")
	if resp, err := c.Check(context.Background(), req); err != nil || resp.GetStatus().GetCode() != int32(code.Code_OK) {
		b.Fatalf("the benchmark request is not allowed: %v %v", resp.GetStatus(), err)
	}

	b.Run("serial", func(b *testing.B) {
		durations := make([]time.Duration, 0, b.N)
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			start := time.Now()
			if _, err := c.Check(context.Background(), req); err != nil {
				b.Fatal(err)
			}
			durations = append(durations, time.Since(start))
		}
		b.StopTimer()
		reportLatency(b, durations)
	})
	b.Run("parallel", func(b *testing.B) {
		var mu sync.Mutex
		var durations []time.Duration
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			var local []time.Duration
			for pb.Next() {
				start := time.Now()
				if _, err := c.Check(context.Background(), req); err != nil {
					b.Error(err)
					return
				}
				local = append(local, time.Since(start))
			}
			mu.Lock()
			durations = append(durations, local...)
			mu.Unlock()
		})
		b.StopTimer()
		reportLatency(b, durations)
	})
	b.Run("decide only", func(b *testing.B) {
		r, malformed := requestFromCheck(req)
		if malformed != "" {
			b.Fatal(malformed)
		}
		durations := make([]time.Duration, 0, b.N)
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			start := time.Now()
			if !a.Decide(r).Allowed {
				b.Fatal("denied")
			}
			durations = append(durations, time.Since(start))
		}
		b.StopTimer()
		reportLatency(b, durations)
	})
}
