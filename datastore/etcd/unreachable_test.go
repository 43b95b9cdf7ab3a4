package etcd_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/tabby-project/tabby/api/v3"
	"github.com/tabby-project/tabby/datastore"
	"github.com/tabby-project/tabby/datastore/etcd"
	"github.com/tabby-project/tabby/datastore/etcd/embedded"
)

// closedPort returns a loopback URL nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

func TestOpenOfAnUnreachableDatastoreFailsWithErrUnavailableWithinTheDialTimeout(t *testing.T) {
	tests := []struct {
		name string
		cfg  etcd.Config
	}{
		{"one closed port", etcd.Config{Endpoints: []string{closedPort(t)}}},
		{"several closed ports", etcd.Config{Endpoints: []string{closedPort(t), closedPort(t)}}},
		{"a closed port with credentials", etcd.Config{Endpoints: []string{closedPort(t)}, Username: "u", Password: "p"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.DialTimeout = 500 * time.Millisecond
			start := time.Now()
			s, err := etcd.Open(context.Background(), tt.cfg)
			elapsed := time.Since(start)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if !errors.Is(err, datastore.ErrUnavailable) {
				t.Errorf("error %q does not match ErrUnavailable", err)
			}
			if !strings.Contains(err.Error(), tt.cfg.Endpoints[0]) {
				t.Errorf("error %q does not name the endpoints", err)
			}
			if !strings.Contains(err.Error(), "connection refused") {
				t.Errorf("error %q does not say the connection was refused", err)
			}
			if elapsed > 3*time.Second {
				t.Errorf("Open took %v with a 500ms dial timeout", elapsed)
			}
		})
	}
}

func TestRequestsToADatastoreThatWentAwayFailWithErrUnavailableWithinTheRequestTimeout(t *testing.T) {
	ctx := context.Background()
	srv, err := embedded.Start(ctx, embedded.Config{Dir: t.TempDir(), ClientURL: "http://127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	s, err := etcd.Open(ctx, etcd.Config{Endpoints: srv.Endpoints(), RequestTimeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	srv.Close()

	ops := []struct {
		name string
		do   func() error
	}{
		{"get", func() error {
			_, err := s.Get(ctx, v3.Key{Kind: v3.KindTier, Name: "t"})
			return err
		}},
		{"list", func() error { _, err := s.List(ctx, "", ""); return err }},
		{"create", func() error {
			_, err := s.Create(ctx, &v3.Tier{ObjectMeta: metav1.ObjectMeta{Name: "t"}})
			return err
		}},
		{"apply", func() error {
			_, err := s.Apply(ctx, &v3.Tier{ObjectMeta: metav1.ObjectMeta{Name: "t"}})
			return err
		}},
		{"watch from now", func() error { _, err := s.Watch(ctx, "", 0); return err }},
	}
	for _, op := range ops {
		t.Run(op.name, func(t *testing.T) {
			start := time.Now()
			err := op.do()
			if !errors.Is(err, datastore.ErrUnavailable) {
				t.Errorf("error = %v, want ErrUnavailable", err)
			}
			if elapsed := time.Since(start); elapsed > 3*time.Second {
				t.Errorf("took %v with a 500ms request timeout", elapsed)
			}
		})
	}
}

func TestRequestsEndWithTheCallersContext(t *testing.T) {
	s := newStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := s.Get(ctx, v3.Key{Kind: v3.KindTier, Name: "t"})
	if !errors.Is(err, context.Canceled) || errors.Is(err, datastore.ErrUnavailable) {
		t.Errorf("error = %v, want context.Canceled and not ErrUnavailable", err)
	}
}

func TestOpenRejectsBadConfigurationsWithoutNetworkTraffic(t *testing.T) {
	tests := []struct {
		name string
		cfg  etcd.Config
		want string
	}{
		{"no endpoints", etcd.Config{}, "no etcd endpoints specified"},
		{"an endpoint without a scheme", etcd.Config{Endpoints: []string{"127.0.0.1:2379"}}, "want http://host:port, https://host:port or unix:///path"},
		{"a username without a password", etcd.Config{Endpoints: []string{"http://127.0.0.1:1"}, Username: "u"}, "username and password must be given together"},
		{"inline and file certificates mixed", etcd.Config{Endpoints: []string{"https://127.0.0.1:1"}, CACert: "x", CertFile: "/c"},
			"cannot mix inline certificate-key and certificate / key files"},
		{"a certificate without a key", etcd.Config{Endpoints: []string{"https://127.0.0.1:1"}, CertFile: "testdata/write/tier.json"},
			"etcd client certificate and key must be given together"},
		{"a missing CA file", etcd.Config{Endpoints: []string{"https://127.0.0.1:1"}, CACertFile: "/nonexistent/ca.pem"},
			"read etcd TLS file: open /nonexistent/ca.pem"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := etcd.Open(context.Background(), tt.cfg)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
		})
	}
}
