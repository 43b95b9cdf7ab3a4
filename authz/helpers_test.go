package authz

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"

	v3 "github.com/tabby-project/tabby/api/v3"
	"github.com/tabby-project/tabby/datastore"
	"github.com/tabby-project/tabby/datastore/memory"
)

// webKey is the protected workload of testdata/cluster.yaml.
var webKey = v3.Key{Kind: v3.KindWorkloadEndpoint, Namespace: "prod", Name: "node1-k8s-web-eth0"}

// loadStore returns a memory store holding the resources of the files in
// testdata.
func loadStore(t testing.TB, files ...string) *memory.Store {
	t.Helper()
	s := memory.New()
	t.Cleanup(func() { s.Close() })
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join("testdata", f))
		if err != nil {
			t.Fatal(err)
		}
		objs, err := v3.Decode(data)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, o := range objs {
			if _, err := s.Create(context.Background(), o); err != nil {
				t.Fatalf("%s: create %s: %v", f, v3.KeyOf(o), err)
			}
		}
	}
	return s
}

// startAuthorizer runs an Authorizer on store until the test ends and
// waits until it is ready.
func startAuthorizer(t testing.TB, store datastore.Store, cfg Config) *Authorizer {
	t.Helper()
	cfg.RetryMin = time.Millisecond
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := a.Run(ctx, store); err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	t.Cleanup(func() { cancel(); wg.Wait() })
	waitFor(t, "the authorizer to be ready", a.Ready)
	return a
}

// waitFor polls cond until it holds or 10 s pass.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// grpcClient serves a's Authorization service on an in-memory connection
// and returns a client of it.
func grpcClient(t testing.TB, a *Authorizer) authv3.AuthorizationClient {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer()
	a.RegisterGRPC(srv)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient("passthrough:///bufconn",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return authv3.NewAuthorizationClient(conn)
}

// envoyCheck builds a CheckRequest as Envoy's HTTP ext_authz filter sends
// it for a request on an mTLS listener: peers with socket addresses and
// principals, and the HTTP attributes with the pseudo-headers.
func envoyCheck(principal, src, dst, method, path string) *authv3.CheckRequest {
	return &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Source: &authv3.AttributeContext_Peer{
			Address:   socketAddress(src),
			Principal: principal,
		},
		Destination: &authv3.AttributeContext_Peer{
			Address:   socketAddress(dst),
			Principal: "spiffe://cluster.local/ns/prod/sa/web",
		},
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Id:     "4f3c5b2a-1d2e-4b5c-9a8b-7c6d5e4f3a2b",
			Method: method,
			Path:   path,
			Host:   "web.prod.svc.cluster.local",
			Headers: map[string]string{
				":authority":   "web.prod.svc.cluster.local",
				":method":      method,
				":path":        path,
				":scheme":      "http",
				"user-agent":   "curl/8.5.0",
				"x-request-id": "4f3c5b2a-1d2e-4b5c-9a8b-7c6d5e4f3a2b",
			},
			Scheme:   "http",
			Protocol: "HTTP/1.1",
		}},
	}}
}

func socketAddress(hostport string) *corev3.Address {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		panic(err)
	}
	p, err := strconv.ParseUint(port, 10, 32)
	if err != nil {
		panic(err)
	}
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address:       host,
		PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: uint32(p)},
	}}}
}

func mustAddrPort(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

// metricValue reads a counter, gauge or the sample count of a histogram.
func metricValue(t testing.TB, m prometheus.Metric) float64 {
	t.Helper()
	var pb dto.Metric
	if err := m.Write(&pb); err != nil {
		t.Fatal(err)
	}
	switch {
	case pb.Counter != nil:
		return pb.Counter.GetValue()
	case pb.Gauge != nil:
		return pb.Gauge.GetValue()
	case pb.Histogram != nil:
		return float64(pb.Histogram.GetSampleCount())
	}
	t.Fatalf("metric %s has no value", m.Desc())
	return 0
}
