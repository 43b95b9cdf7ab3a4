package authz

import (
	"os"
	"path/filepath"
	"testing"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

func TestCheckOverRealListeners(t *testing.T) {
	// A unix socket path must stay under 108 bytes, which a directory
	// named after the test may not.
	dir, err := os.MkdirTemp("", "authz")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "authz.sock")
	// A stale socket file left by a previous run must not stop Listen.
	stale, err := Listen("unix:" + sock)
	if err != nil {
		t.Fatal(err)
	}
	stale.(interface{ SetUnlinkOnClose(bool) }).SetUnlinkOnClose(false)
	stale.Close()

	store := loadStore(t, "cluster.yaml")
	a := startAuthorizer(t, store, Config{Destination: Destination{Endpoint: webKey}})
	tests := []struct {
		name, listen, dial string
	}{
		{"a unix socket named with unix:", "unix:" + sock, "unix://" + sock},
		{"a unix socket named by its path", sock, "unix://" + sock},
		{"a TCP address on loopback", "127.0.0.1:0", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lis, err := Listen(tt.listen)
			if err != nil {
				t.Fatal(err)
			}
			srv := grpc.NewServer()
			a.RegisterGRPC(srv)
			go srv.Serve(lis)
			t.Cleanup(srv.Stop)
			target := tt.dial
			if target == "" {
				target = lis.Addr().String()
			}
			conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { conn.Close() })
			c := authv3.NewAuthorizationClient(conn)
			if got := check(t, c, envoyCheck(frontend, client, web8080, "GET", "/api/items")); got != allowed() {
				t.Errorf("allowed request: %+v", got)
			}
			if got, want := check(t, c, envoyCheck(frontend, client, web8080, "PUT", "/api/items")), denied(endOfDefaultTier); got != want {
				t.Errorf("denied request: %+v, want %+v", got, want)
			}
			srv.Stop()
		})
	}
}
