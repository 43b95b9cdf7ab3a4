package embedded_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/tabby-project/tabby/api/v3"
	"github.com/tabby-project/tabby/datastore/etcd"
	"github.com/tabby-project/tabby/datastore/etcd/embedded"
)

// open starts a member on dir and opens a store on it; both are closed
// when the test ends unless the caller closes them first.
func open(t *testing.T, ctx context.Context, cfg embedded.Config) (*embedded.Server, *etcd.Store) {
	t.Helper()
	srv, err := embedded.Start(ctx, cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	s, err := etcd.Open(ctx, etcd.Config{Endpoints: srv.Endpoints()})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return srv, s
}

func TestDataSurvivesARestartOnTheSameDirectory(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg := embedded.Config{Dir: t.TempDir(), ClientURL: "http://127.0.0.1:0"}

	srv, s := open(t, ctx, cfg)
	order := 10.0
	created, err := s.Create(ctx, &v3.GlobalNetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "survivor"},
		Spec:       v3.GlobalNetworkPolicySpec{Order: &order, Selector: "all()"},
	})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	before, err := s.List(ctx, "", "")
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	s.Close()
	srv.Close()

	_, s = open(t, ctx, cfg)
	got, err := s.Get(ctx, v3.KeyOf(created))
	if err != nil {
		t.Fatalf("Get after restart: %v", err)
	}
	opt := cmp.Comparer(func(a, b metav1.Time) bool { return a.Equal(&b) })
	if diff := cmp.Diff(created, got, opt); diff != "" {
		t.Errorf("object after restart (-before +after):\n%s", diff)
	}
	after, err := s.List(ctx, "", "")
	if err != nil {
		t.Fatalf("List after restart: %v", err)
	}
	if after.Revision != before.Revision {
		t.Errorf("revision after restart = %d, want %d", after.Revision, before.Revision)
	}
	// The revision counter goes on from where it was, so resourceVersions
	// stay comparable across the restart.
	next, err := s.Create(ctx, &v3.Tier{ObjectMeta: metav1.ObjectMeta{Name: "next"}})
	if err != nil {
		t.Fatalf("Create after restart: %v", err)
	}
	if rev(t, next) <= after.Revision {
		t.Errorf("resourceVersion after restart %s is not above the revision %d before it", next.GetResourceVersion(), after.Revision)
	}
}

func TestServesEveryClientURL(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv, err := embedded.Start(ctx, embedded.Config{Dir: t.TempDir(),
		ClientURLs: []string{"http://127.0.0.1:0", "http://127.0.0.2:0"}})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	defer srv.Close()
	eps := srv.Endpoints()
	if len(eps) != 2 || eps[0] == eps[1] {
		t.Fatalf("Endpoints = %v, want two distinct URLs", eps)
	}
	if !srv.IsLeader() {
		t.Error("a single member does not report itself leader")
	}
	for _, ep := range eps {
		s, err := etcd.Open(ctx, etcd.Config{Endpoints: []string{ep}})
		if err != nil {
			t.Fatalf("Open %s: %v", ep, err)
		}
		if _, err := s.List(ctx, v3.KindTier, ""); err != nil {
			t.Errorf("List through %s: %v", ep, err)
		}
		s.Close()
	}
}

func TestStartRejectsBadConfigurations(t *testing.T) {
	tests := []struct {
		name string
		cfg  embedded.Config
		want string
	}{
		{"no data directory", embedded.Config{}, "no data directory"},
		{"client URLs of two schemes", embedded.Config{Dir: t.TempDir(),
			ClientURLs: []string{"http://127.0.0.1:0", "https://127.0.0.1:0"}}, "same scheme"},
		{"an https client URL without a certificate", embedded.Config{Dir: t.TempDir(),
			ClientURL: "https://127.0.0.1:0"}, "needs a certificate and key"},
		{"a client URL with a path", embedded.Config{Dir: t.TempDir(),
			ClientURL: "http://127.0.0.1:0/etcd"}, "must not have a path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, err := embedded.Start(context.Background(), tt.cfg)
			if err == nil {
				srv.Close()
				t.Fatal("Start succeeded")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
		})
	}
}

func rev(t *testing.T, o v3.Object) int64 {
	t.Helper()
	r, err := strconv.ParseInt(o.GetResourceVersion(), 10, 64)
	if err != nil {
		t.Fatalf("resourceVersion %q: %v", o.GetResourceVersion(), err)
	}
	return r
}
