package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	v3 "github.com/tabby-project/tabby/api/v3"
	"github.com/tabby-project/tabby/dataplane/nft"
	"github.com/tabby-project/tabby/datastore"
)

// The world of the fast tests: namespace x with pods a and b on node-1
// (this host), c (with a named port) and d on node-2.
func world() []v3.Object {
	return []v3.Object{
		nsProfile("x"),
		wep("x", "a", "node-1", "cali-a", "10.0.0.1", map[string]string{"pod": "a"}),
		wep("x", "b", "node-1", "cali-b", "10.0.0.2", map[string]string{"pod": "b"}),
		wep("x", "c", "node-2", "cali-c", "10.0.0.3", map[string]string{"pod": "c"},
			v3.WorkloadEndpointPort{Name: "http", Protocol: v3.ProtocolFromString("TCP"), Port: 80}),
		wep("x", "d", "node-2", "cali-d", "10.0.0.4", map[string]string{"pod": "d"}),
	}
}

// worldSummary is what node-1 programs for world().
func worldSummary() summary {
	return summary{
		Endpoints: map[string]endpointSummary{
			"x/a": {Interface: "cali-a", Profiles: []string{"kns.x"}},
			"x/b": {Interface: "cali-b", Profiles: []string{"kns.x"}},
		},
		Remote:   []string{"x/c"},
		Profiles: []string{"kns.x", datastore.DefaultAllowProfileName},
	}
}

// withDenyC is worldSummary with x/deny-c (deny from pod c to pod a).
func withDenyC(policy string) summary {
	s := worldSummary()
	s.Endpoints["x/a"] = endpointSummary{Interface: "cali-a", Profiles: []string{"kns.x"},
		Ingress: []string{"default: x/" + policy}}
	s.Sets = []string{"x/c"}
	return s
}

func TestInitialSync(t *testing.T) {
	hep := &v3.HostEndpoint{
		ObjectMeta: meta("", "node-1-eth0", map[string]string{"role": "node"}),
		Spec:       v3.HostEndpointSpec{Node: "node-1", ExpectedIPs: []string{"172.16.0.1"}, Profiles: []string{datastore.DefaultAllowProfileName}},
	}
	remoteHEP := &v3.HostEndpoint{
		ObjectMeta: meta("", "node-2-eth0", nil),
		Spec: v3.HostEndpointSpec{Node: "node-2", InterfaceName: "eth0",
			Ports: []v3.EndpointPort{{Name: "ssh", Protocol: v3.ProtocolFromString("TCP"), Port: 22}}},
	}
	h := newHarness(t, append(world(), hep, remoteHEP)...)
	var asked []netip.Addr
	h.cfg.InterfaceForIPs = func(_ context.Context, addrs []netip.Addr) (string, error) {
		asked = addrs
		return "eth7", nil
	}
	h.start().waitReady()

	want := worldSummary()
	want.Endpoints["node-1-eth0"] = endpointSummary{Interface: "eth7", Profiles: []string{datastore.DefaultAllowProfileName}}
	want.Remote = []string{"node-2-eth0", "x/c"}
	got := h.rec.records()
	if len(got) != 1 {
		t.Fatalf("ready after %d Syncs, want 1", len(got))
	}
	if d := cmp.Diff(want, got[0].summary); d != "" {
		t.Errorf("first Sync (-want +got):\n%s", d)
	}
	if want := []netip.Addr{netip.MustParseAddr("172.16.0.1")}; !slices.Equal(asked, want) {
		t.Errorf("interface asked for %v, want %v", asked, want)
	}
}

func TestWatchedChangesAreProgrammed(t *testing.T) {
	denyC := func() v3.Object { return denyFrom("x", "deny-c", "pod == 'a'", "pod == 'c'") }
	tests := []struct {
		name    string
		initial []v3.Object
		change  func(t *testing.T, s datastore.Store)
		want    summary
	}{
		{
			name:   "a policy added applies to the local endpoints it selects",
			change: func(t *testing.T, s datastore.Store) { put(t, s, denyC()) },
			want:   withDenyC("deny-c"),
		},
		{
			name:    "a relabelled local endpoint leaves the policy's selection",
			initial: []v3.Object{denyC()},
			change: func(t *testing.T, s datastore.Store) {
				put(t, s, wep("x", "a", "node-1", "cali-a", "10.0.0.1", map[string]string{"pod": "z"}))
			},
			want: func() summary { s := worldSummary(); s.Sets = []string{"x/c"}; return s }(),
		},
		{
			name:    "a relabelled remote endpoint leaves the rule's set",
			initial: []v3.Object{denyC()},
			change: func(t *testing.T, s datastore.Store) {
				put(t, s, wep("x", "c", "node-2", "cali-c", "10.0.0.3", map[string]string{"pod": "q"},
					v3.WorkloadEndpointPort{Name: "http", Protocol: v3.ProtocolFromString("TCP"), Port: 80}))
			},
			want: func() summary { s := withDenyC("deny-c"); s.Sets = []string{""}; return s }(),
		},
		{
			name: "a deleted local endpoint is no longer programmed",
			change: func(t *testing.T, s datastore.Store) {
				del(t, s, v3.Key{Kind: v3.KindWorkloadEndpoint, Namespace: "x", Name: "b"})
			},
			want: func() summary { s := worldSummary(); delete(s.Endpoints, "x/b"); return s }(),
		},
		{
			name: "an endpoint moved to another node is no longer programmed here",
			change: func(t *testing.T, s datastore.Store) {
				put(t, s, wep("x", "b", "node-2", "cali-b", "10.0.0.2", map[string]string{"pod": "b"}))
			},
			want: func() summary { s := worldSummary(); delete(s.Endpoints, "x/b"); return s }(),
		},
		{
			name: "an endpoint moved to this node is programmed",
			change: func(t *testing.T, s datastore.Store) {
				put(t, s, wep("x", "d", "node-1", "cali-d", "10.0.0.4", map[string]string{"pod": "d"}))
			},
			want: func() summary {
				s := worldSummary()
				s.Endpoints["x/d"] = endpointSummary{Interface: "cali-d", Profiles: []string{"kns.x"}}
				return s
			}(),
		},
		{
			name: "a renamed interface is programmed though the policy is unchanged",
			change: func(t *testing.T, s datastore.Store) {
				put(t, s, wep("x", "b", "node-1", "cali-b2", "10.0.0.2", map[string]string{"pod": "b"}))
			},
			want: func() summary {
				s := worldSummary()
				s.Endpoints["x/b"] = endpointSummary{Interface: "cali-b2", Profiles: []string{"kns.x"}}
				return s
			}(),
		},
		{
			name:   "a new profile reaches the dataplane",
			change: func(t *testing.T, s datastore.Store) { put(t, s, nsProfile("y")) },
			want: func() summary {
				s := worldSummary()
				s.Profiles = []string{"kns.x", "kns.y", datastore.DefaultAllowProfileName}
				return s
			}(),
		},
		{
			name:    "a policy the engine refuses is treated as absent",
			initial: []v3.Object{denyC()},
			change: func(t *testing.T, s datastore.Store) {
				bad := denyFrom("x", "deny-c", "pod == ", "pod == 'c'")
				if _, err := s.Apply(context.Background(), bad); err != nil {
					t.Fatal(err)
				}
			},
			want: worldSummary(),
		},
		{
			name: "a local endpoint the engine refuses is left to the dataplane's unknown-interface drop",
			change: func(t *testing.T, s datastore.Store) {
				bad := wep("x", "b", "node-1", "cali-b", "10.0.0.300", map[string]string{"pod": "b"})
				if _, err := s.Apply(context.Background(), bad); err != nil {
					t.Fatal(err)
				}
			},
			want: func() summary { s := worldSummary(); delete(s.Endpoints, "x/b"); return s }(),
		},
		{
			name:    "a policy replaced in one transaction is programmed in one step",
			initial: []v3.Object{denyC()},
			change: func(t *testing.T, s datastore.Store) {
				txn(t, s, datastore.DeleteOp(keyOf(denyC()), ""),
					datastore.CreateOp(denyFrom("x", "deny-c2", "pod == 'a'", "pod == 'c'")))
			},
			want: withDenyC("deny-c2"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := run(t, append(world(), tt.initial...)...)
			h.waitReady()
			before, _ := h.rec.last()
			tt.change(t, h.store)
			h.waitProgrammed("the change", tt.want)
			// Every Sync is the state before or the state after: a batch
			// is programmed whole.
			for i, r := range h.rec.records() {
				if d, d2 := cmp.Diff(before, r.summary), cmp.Diff(tt.want, r.summary); d != "" && d2 != "" {
					t.Errorf("Sync %d is neither the state before nor the state after:\n%s", i, d2)
				}
			}
			eventually(t, "the update latency observed", func() (bool, string) {
				n := h.metric("tabby_agent_update_latency_seconds")
				return n >= 1, fmt.Sprintf("%v observations", n)
			})
		})
	}
}

func TestReadyOnlyAfterTheFirstSuccessfulSync(t *testing.T) {
	h := newHarness(t, world()...)
	h.cfg.ReadyFile = filepath.Join(t.TempDir(), "ready")
	if err := os.WriteFile(h.cfg.ReadyFile, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	readyCalls := 0
	h.cfg.OnReady = func() {
		readyCalls++
		if len(h.rec.records()) == 0 {
			t.Error("OnReady called before a successful Sync")
		}
	}
	h.rec.failNext(1 << 30)
	h.start()

	eventually(t, "three failed Syncs", func() (bool, string) {
		n := h.rec.syncAttempts()
		return n >= 3, fmt.Sprintf("%d attempts", n)
	})
	select {
	case <-h.agent.Ready():
		t.Fatal("ready while every Sync fails")
	default:
	}
	if _, err := os.Stat(h.cfg.ReadyFile); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ready file (left by an earlier run) exists while every Sync fails: %v", err)
	}

	h.rec.failNext(0)
	h.waitReady()
	if _, err := os.Stat(h.cfg.ReadyFile); err != nil {
		t.Errorf("ready file after the first Sync: %v", err)
	}
	if d := cmp.Diff(worldSummary(), h.rec.records()[0].summary); d != "" {
		t.Errorf("first Sync (-want +got):\n%s", d)
	}

	h.shutdown()
	if readyCalls != 1 {
		t.Errorf("OnReady called %d times, want 1", readyCalls)
	}
	if _, err := os.Stat(h.cfg.ReadyFile); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ready file after Run returned: %v", err)
	}
	if n := h.rec.closedCount(); n != 1 {
		t.Errorf("dataplane closed %d times, want 1", n)
	}
}

func TestResync(t *testing.T) {
	denyC := denyFrom("x", "deny-c", "pod == 'a'", "pod == 'c'")
	tests := []struct {
		name    string
		initial []v3.Object
		// before runs before the agent starts.
		before func(h *harness)
		// fault runs once the agent is ready.
		fault func(h *harness)
		want  summary
	}{
		{
			name:  "a broken watch resynchronises to the same state",
			fault: func(h *harness) { h.store.breakWatches(errors.New("stream reset")) },
			want:  worldSummary(),
		},
		{
			name: "a compacted history resynchronises to the latest state",
			before: func(h *harness) {
				// Between the agent's list and its watch a policy and a
				// profile are added and the history compacted.
				h.store.beforeWatch = func(int64) {
					put(h.t, h.store.mem(), denyFrom("x", "deny-c", "pod == 'a'", "pod == 'c'"), nsProfile("y"))
					if err := h.store.mem().Compact(context.Background(), h.store.mem().Revision()); err != nil {
						h.t.Error(err)
					}
				}
			},
			want: func() summary {
				s := withDenyC("deny-c")
				s.Profiles = []string{"kns.x", "kns.y", datastore.DefaultAllowProfileName}
				return s
			}(),
		},
		{
			name:    "a policy replaced while the watch was down is programmed in one step",
			initial: []v3.Object{denyC},
			fault: func(h *harness) {
				h.store.setDown(true)
				txn(h.t, h.store.mem(), datastore.DeleteOp(keyOf(denyC), ""),
					datastore.CreateOp(denyFrom("x", "deny-c2", "pod == 'a'", "pod == 'c'")))
				h.store.setDown(false)
			},
			want: withDenyC("deny-c2"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, append(world(), tt.initial...)...)
			if tt.before != nil {
				tt.before(h)
			}
			h.start().waitReady()
			h.store.waitWatching(t, 1)
			before, _ := h.rec.last()
			if tt.fault != nil {
				tt.fault(h)
			}
			eventually(t, "a resync", func() (bool, string) {
				return h.metric("tabby_agent_resyncs_total") >= 1 && h.store.listCount() >= 2, "no resync yet"
			})
			h.waitProgrammed("the resynchronised state", tt.want)
			for i, r := range h.rec.records() {
				if d, d2 := cmp.Diff(before, r.summary), cmp.Diff(tt.want, r.summary); d != "" && d2 != "" {
					t.Errorf("Sync %d is neither the state before nor the state after:\n%s", i, d2)
				}
			}
			if n := h.rec.closedCount(); n != 0 {
				t.Errorf("dataplane closed %d times during a resync", n)
			}
		})
	}
}

func TestDatastoreDownThenBack(t *testing.T) {
	h := run(t, world()...)
	h.waitReady()
	if v := h.metric("tabby_agent_datastore_connected"); v != 1 {
		t.Fatalf("connected = %v while the datastore answers", v)
	}
	syncs := len(h.rec.records())
	h.store.waitWatching(t, 1)

	h.store.setDown(true)
	lists := h.store.listCount()
	eventually(t, "retries while the datastore is down", func() (bool, string) {
		return h.store.listCount() >= lists+3 && h.metric("tabby_agent_datastore_connected") == 0, "still waiting"
	})
	// Someone changes the policy while this agent cannot see it.
	put(t, h.store.mem(), denyFrom("x", "deny-c", "pod == 'a'", "pod == 'c'"))
	if n := len(h.rec.records()); n != syncs {
		t.Errorf("%d Syncs while the datastore was down, want none", n-syncs)
	}
	if n := h.rec.closedCount(); n != 0 {
		t.Errorf("dataplane closed while the datastore was down")
	}

	h.store.setDown(false)
	h.waitProgrammed("the state after the outage", withDenyC("deny-c"))
	eventually(t, "connected again after one resync", func() (bool, string) {
		c, r := h.metric("tabby_agent_datastore_connected"), h.metric("tabby_agent_resyncs_total")
		return c == 1 && r == 1, fmt.Sprintf("connected %v, %v resyncs", c, r)
	})
}

func TestFelixConfiguration(t *testing.T) {
	tests := []struct {
		name    string
		initial []v3.Object
		env     *v3.FelixConfigurationSpec
		// change, if set, runs once the agent is ready.
		change func(t *testing.T, s datastore.Store)
		want   nft.Config
		// wantState is what the last Sync programs.
		wantState summary
		// wantCalls, if set, are the calls the dataplanes get.
		wantCalls []string
	}{
		{
			name: "the node's configuration overrides the global one and others' are ignored",
			initial: []v3.Object{
				felixConfig("default", v3.FelixConfigurationSpec{LogPrefix: "global", DropActionOverride: nft.ActionLogAndDrop}),
				felixConfig("node.node-1", v3.FelixConfigurationSpec{LogPrefix: "mine"}),
				felixConfig("node.node-2", v3.FelixConfigurationSpec{LogPrefix: "theirs"}),
			},
			want:      nft.Config{LogGroup: 5, LogPrefix: "mine", DropActionOverride: nft.ActionLogAndDrop},
			wantState: worldSummary(),
		},
		{
			name:      "the environment overrides the datastore",
			initial:   []v3.Object{felixConfig("default", v3.FelixConfigurationSpec{DefaultEndpointToHostAction: nft.ActionReturn})},
			env:       &v3.FelixConfigurationSpec{DefaultEndpointToHostAction: nft.ActionAccept},
			want:      nft.Config{LogGroup: 5, EndpointToHostAction: nft.ActionAccept},
			wantState: worldSummary(),
		},
		{
			name: "a configuration change replaces the dataplane, synced whole before the old one is closed",
			change: func(t *testing.T, s datastore.Store) {
				put(t, s, felixConfig("default", v3.FelixConfigurationSpec{LogPrefix: "changed"}))
			},
			want:      nft.Config{LogGroup: 5, LogPrefix: "changed"},
			wantState: worldSummary(),
			wantCalls: []string{"create ", "sync ", "create changed", "sync changed", "close "},
		},
		{
			name: "an unusable configuration in the datastore is ignored",
			change: func(t *testing.T, s datastore.Store) {
				bad := felixConfig("default", v3.FelixConfigurationSpec{LogPrefix: "quote\"d"})
				if _, err := s.Apply(context.Background(), bad); err != nil {
					t.Fatal(err)
				}
				put(t, s, denyFrom("x", "deny-c", "pod == 'a'", "pod == 'c'"))
			},
			want:      nft.Config{LogGroup: 5},
			wantState: withDenyC("deny-c"),
			wantCalls: []string{"create ", "sync ", "sync "},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, append(world(), tt.initial...)...)
			h.cfg.DataplaneConfig.LogGroup = 5
			h.cfg.Felix = tt.env
			h.start().waitReady()
			if tt.change != nil {
				tt.change(t, h.store)
				eventually(t, "the change programmed", func() (bool, string) {
					return len(h.rec.records()) >= 2, "one Sync"
				})
			}
			h.waitProgrammed("the state", tt.wantState)
			recs := h.rec.records()
			if d := cmp.Diff(tt.want, recs[len(recs)-1].cfg); d != "" {
				t.Errorf("dataplane configuration (-want +got):\n%s", d)
			}
			if tt.wantCalls != nil {
				if d := cmp.Diff(tt.wantCalls, h.rec.eventLog()); d != "" {
					t.Errorf("dataplane calls (-want +got):\n%s", d)
				}
			}
		})
	}
}

func TestMetrics(t *testing.T) {
	h := run(t, append(world(), denyFrom("x", "deny-c", "pod == 'a'", "pod == 'c'"))...)
	h.waitReady()
	policy := v3.Key{Kind: v3.KindNetworkPolicy, Namespace: "x", Name: "deny-c"}
	h.rec.setCounters([]nft.Counter{
		{Ref: nft.RuleRef{Kind: nft.RefPolicy, Policy: policy}, Count: nft.Count{Packets: 10, Bytes: 1000}},
		{Ref: nft.RuleRef{Kind: nft.RefPolicy, Policy: policy}, Count: nft.Count{Packets: 5, Bytes: 500}},
		{Ref: nft.RuleRef{Kind: nft.RefRule, Policy: policy}, Count: nft.Count{Packets: 3, Bytes: 300}},
		{Ref: nft.RuleRef{Kind: nft.RefStatic}, Count: nft.Count{Packets: 99, Bytes: 9900}},
	})

	rules := float64(h.agent.dataplane().Programmed().Stats().Rules)
	if rules == 0 {
		t.Fatal("the programmed model has no rules")
	}
	for _, m := range []struct {
		name string
		want float64
	}{
		{"tabby_agent_rules_programmed", rules},
		{"tabby_agent_datastore_connected", 1},
		{"tabby_agent_resyncs_total", 0},
		{"tabby_agent_syncs_total", 1},
		{"tabby_agent_sync_errors_total", 0},
	} {
		if got := h.metric(m.name); got != m.want {
			t.Errorf("%s = %v, want %v", m.name, got, m.want)
		}
	}

	mfs, err := h.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), "tabby_policy_") {
			continue
		}
		for _, m := range mf.GetMetric() {
			got[mf.GetName()+"{"+labels(m)+"}"] = m.GetCounter().GetValue()
		}
	}
	const l = "{kind=NetworkPolicy,name=deny-c,namespace=x}"
	want := map[string]float64{
		"tabby_policy_evaluated_packets_total" + l: 15,
		"tabby_policy_evaluated_bytes_total" + l:   1500,
		"tabby_policy_matched_packets_total" + l:   3,
		"tabby_policy_matched_bytes_total" + l:     300,
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("per-policy counters (-want +got):\n%s", d)
	}

	srv := httptest.NewServer(Handler(h.reg))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"tabby_agent_rules_programmed ", "tabby_agent_update_latency_seconds_bucket",
		`tabby_policy_matched_packets_total{kind="NetworkPolicy",name="deny-c",namespace="x"} 3`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

func labels(m *dto.Metric) string {
	var parts []string
	for _, lp := range m.GetLabel() {
		parts = append(parts, lp.GetName()+"="+lp.GetValue())
	}
	return strings.Join(parts, ",")
}

func TestServeMetricsServesUntilCancelled(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewGauge(prometheus.GaugeOpts{Name: "probe_gauge", Help: "A gauge."}))
	ctx, cancel := context.WithCancel(context.Background())
	// Find a free loopback port, then serve on it.
	l := httptest.NewServer(http.NotFoundHandler())
	addr := l.Listener.Addr().String()
	l.Close()
	done := make(chan error, 1)
	go func() { done <- ServeMetrics(ctx, addr, reg) }()
	eventually(t, "metrics served", func() (bool, string) {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			return false, err.Error()
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return strings.Contains(string(body), "probe_gauge 0"), string(body)
	})
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("ServeMetrics: %v", err)
		}
	case <-time.After(waitFor):
		t.Fatal("ServeMetrics did not return after cancel")
	}
}

func TestNewRejectsAnUnusableConfig(t *testing.T) {
	store := newFaultStore()
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no node name", Config{Store: store}, "NodeName is empty"},
		{"no store", Config{NodeName: node}, "Store is nil"},
		{"flow logs without an nflog group", Config{NodeName: node, Store: store, FlowLog: io.Discard}, "LogGroup"},
		{"an unusable environment setting", Config{NodeName: node, Store: store,
			Felix: &v3.FelixConfigurationSpec{DropActionOverride: "Explode"}}, "DropActionOverride"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg)
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New: %v, want ErrConfig mentioning %q", err, tt.want)
			}
		})
	}
}

func TestRunTwiceIsRefused(t *testing.T) {
	h := run(t, world()...)
	h.waitReady()
	if err := h.agent.Run(context.Background()); !errors.Is(err, ErrRunning) {
		t.Errorf("second Run: %v, want ErrRunning", err)
	}
}

func TestRegisteringTwiceIsRefused(t *testing.T) {
	h := newHarness(t)
	if _, err := New(h.cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := New(h.cfg); err == nil {
		t.Error("a second agent registered the same metrics")
	}
}

func TestStartsOnceTheDatastoreAnswers(t *testing.T) {
	h := newHarness(t, world()...)
	h.store.setDown(true)
	h.start()
	eventually(t, "retries while the datastore is down", func() (bool, string) {
		return h.store.listCount() >= 3, fmt.Sprintf("%d lists", h.store.listCount())
	})
	select {
	case <-h.agent.Ready():
		t.Fatal("ready before the datastore answered")
	default:
	}
	if n := h.rec.syncAttempts(); n != 0 {
		t.Errorf("%d Syncs before the datastore answered, want none", n)
	}
	h.store.setDown(false)
	h.waitReady()
	h.waitProgrammed("the initial state", worldSummary())
	if n := h.metric("tabby_agent_resyncs_total"); n != 0 {
		t.Errorf("%v resyncs counted for the first programming", n)
	}
}
