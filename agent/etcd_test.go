package agent

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/tabby-project/tabby/datastore/etcd"
	"github.com/tabby-project/tabby/datastore/etcd/embedded"
)

// TestAgentOnEmbeddedEtcd runs the agent against a real etcd: the list
// revision and the watch from it must fit together, and a watch whose
// history etcd compacted must end in a resync.
func TestAgentOnEmbeddedEtcd(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv, err := embedded.Start(ctx, embedded.Config{Dir: t.TempDir(), ClientURL: "http://127.0.0.1:0", Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	store, err := etcd.Open(ctx, etcd.Config{Endpoints: srv.Endpoints()})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	raw, err := clientv3.New(clientv3.Config{Endpoints: srv.Endpoints(), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()

	h := newHarness(t)
	h.store.Store = store
	put(t, store, world()...)
	// Between the agent's list and its watch a policy and a profile are
	// added and etcd compacts its history past the list's revision.
	h.store.beforeWatch = func(int64) {
		put(t, store, denyFrom("x", "deny-c", "pod == 'a'", "pod == 'c'"), nsProfile("y"))
		resp, err := raw.Get(ctx, "/calico/", clientv3.WithPrefix(), clientv3.WithCountOnly())
		if err != nil {
			t.Error(err)
			return
		}
		if _, err := raw.Compact(ctx, resp.Header.Revision); err != nil {
			t.Error(err)
		}
	}
	h.start().waitReady()
	if d := cmp.Diff(worldSummary(), h.rec.records()[0].summary); d != "" {
		t.Errorf("first Sync (-want +got):\n%s", d)
	}
	want := withDenyC("deny-c")
	want.Profiles = []string{"kns.x", "kns.y", "projectcalico-default-allow"}
	h.waitProgrammed("the state after the compaction", want)
	eventually(t, "a resync after the compaction", func() (bool, string) {
		n := h.metric("tabby_agent_resyncs_total")
		return n >= 1, fmt.Sprintf("%v resyncs", n)
	})

	// Watched changes flow as with any store.
	put(t, store, wep("x", "d", "node-1", "cali-d", "10.0.0.4", map[string]string{"pod": "d"}))
	want.Endpoints["x/d"] = endpointSummary{Interface: "cali-d", Profiles: []string{"kns.x"}}
	h.waitProgrammed("a watched change", want)
}
