package etcd_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/tabby-project/tabby/api/v3"
	"github.com/tabby-project/tabby/datastore"
	"github.com/tabby-project/tabby/datastore/etcd"
	"github.com/tabby-project/tabby/datastore/etcd/embedded"
)

func TestOpenReachesAMemberServingOnAUnixSocket(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dir := t.TempDir()
	sock := "unix://" + filepath.Join(dir, "client.sock")
	srv, err := embedded.Start(ctx, embedded.Config{Dir: dir, ClientURL: sock})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if got := srv.Endpoints(); len(got) != 1 || got[0] != sock {
		t.Fatalf("the server serves on %v, want [%s]", got, sock)
	}
	s, err := etcd.Open(ctx, etcd.Config{Endpoints: srv.Endpoints()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tier := &v3.Tier{ObjectMeta: metav1.ObjectMeta{Name: "over-a-socket"}}
	if _, err := s.Create(ctx, tier); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, v3.KeyOf(tier))
	if err != nil {
		t.Fatal(err)
	}
	if got.GetName() != tier.Name {
		t.Errorf("read back %q, want %q", got.GetName(), tier.Name)
	}
}

func TestOpenOfAUnixSocketNothingServesOnFailsAtOnce(t *testing.T) {
	dir := t.TempDir()
	// A file that is no listening socket refuses connections.
	stale := filepath.Join(dir, "stale.sock")
	if err := os.WriteFile(stale, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		endpoint string
		cause    string
	}{
		{"a socket file that does not exist", "unix://" + filepath.Join(dir, "missing.sock"), "no such file or directory"},
		{"a file nothing listens on", "unix://" + stale, "connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			s, err := etcd.Open(context.Background(), etcd.Config{Endpoints: []string{tt.endpoint}, DialTimeout: 5 * time.Second})
			elapsed := time.Since(start)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if !errors.Is(err, datastore.ErrUnavailable) {
				t.Errorf("error %q does not match ErrUnavailable", err)
			}
			if !strings.Contains(err.Error(), tt.endpoint) || !strings.Contains(err.Error(), tt.cause) {
				t.Errorf("error %q does not name the endpoint and say %q", err, tt.cause)
			}
			if elapsed > 2*time.Second {
				t.Errorf("Open took %v, want the probe's refusal well within the 5s dial timeout", elapsed)
			}
		})
	}
}

func TestOpenRejectsUnixEndpointsWithoutAnAbsolutePath(t *testing.T) {
	tests := []struct {
		name     string
		endpoint string
	}{
		{"a relative socket path", "unix://etcd.sock"},
		{"no path at all", "unix://"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := etcd.Open(context.Background(), etcd.Config{Endpoints: []string{tt.endpoint}})
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if want := "want http://host:port, https://host:port or unix:///path"; !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not say %q", err, want)
			}
		})
	}
}
