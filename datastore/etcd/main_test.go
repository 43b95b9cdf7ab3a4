package etcd_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/tabby-project/tabby/datastore"
	"github.com/tabby-project/tabby/datastore/etcd"
	"github.com/tabby-project/tabby/datastore/etcd/embedded"
	"github.com/tabby-project/tabby/datastore/storetest"
)

// server is the embedded etcd every test of the package shares. Tests run
// one at a time and each starts from an empty /calico/ prefix.
var server *embedded.Server

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "tabby-etcd-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	server, err = embedded.Start(ctx, embedded.Config{Dir: dir, ClientURL: "http://127.0.0.1:0"})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer server.Close()
	return m.Run()
}

// rawClient returns a plain etcd client of the shared server.
func rawClient(t testing.TB) *clientv3.Client {
	t.Helper()
	c, err := clientv3.New(clientv3.Config{Endpoints: server.Endpoints(), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatalf("etcd client: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// newStore empties the shared server's /calico/ prefix and opens a Store on it.
func newStore(t testing.TB) *etcd.Store {
	t.Helper()
	ctx := context.Background()
	if _, err := rawClient(t).Delete(ctx, "/calico/", clientv3.WithPrefix()); err != nil {
		t.Fatalf("clean /calico/: %v", err)
	}
	s, err := etcd.Open(ctx, etcd.Config{Endpoints: server.Endpoints()})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) datastore.Store { return newStore(t) })
}
