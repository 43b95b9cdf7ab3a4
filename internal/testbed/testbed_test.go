//go:build linux

package testbed

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/vishvananda/netns"

	v3 "github.com/tabby-project/tabby/api/v3"
	"github.com/tabby-project/tabby/lab"
)

// needLab skips the test unless it runs as root; under CI=true it fails
// instead.
func needLab(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("the testbed needs root")
		}
		t.Skip("the testbed needs root")
	}
}

func runID(t *testing.T) string {
	b := make([]byte, 3)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "b" + hex.EncodeToString(b)
}

func readTopology(t *testing.T, path string) *lab.Topology {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	topo, err := lab.ParseTopology(data)
	if err != nil {
		t.Fatal(err)
	}
	return topo
}

// testLogger sends the agents' warnings to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// up brings a lab up for the test and removes it afterwards, also when the
// test fails half way.
func up(t *testing.T, topo *lab.Topology, opts Options) *Lab {
	t.Helper()
	needLab(t)
	if opts.RunID == "" {
		opts.RunID = runID(t)
	}
	opts.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	t.Cleanup(func() {
		if err := lab.Cleanup(lab.PrefixFor(opts.RunID)); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	l, err := Up(ctx, topo, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Down(); err != nil {
			t.Errorf("down: %v", err)
		}
	})
	t.Logf("lab %s up in %v", l.Fabric().RunID(), time.Since(start).Round(time.Millisecond))
	return l
}

func TestLab(t *testing.T) {
	// Few workers, so that retries queue up behind each other.
	l := up(t, readTopology(t, "testdata/two-hosts.yaml"), Options{Workers: 16})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	t.Run("with no policy every probe connects, as the engine predicts", func(t *testing.T) {
		m, err := l.Matrix(ctx, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if d := m.Disagreements(); len(d) > 0 {
			var b strings.Builder
			m.Print(&b)
			t.Fatalf("%d disagreements:\n%s", len(d), b.String())
		}
		sent := 0
		for _, c := range m.Cells {
			if c.Skipped == "" {
				sent++
				if !c.Connected {
					t.Errorf("%s did not connect: %s", c.Probe, c.Error)
				}
			}
		}
		if want := len(l.Fabric().AllPairs()); len(m.Cells) != want || sent == 0 {
			t.Errorf("%d cells (%d sent), want %d", len(m.Cells), sent, want)
		}
	})

	t.Run("a probe request resolves to one probe per shared address family", func(t *testing.T) {
		tests := []struct {
			name    string
			req     ProbeRequest
			want    []string
			wantErr bool
		}{
			{"dual-stack to dual-stack", ProbeRequest{From: "x/a", To: "y/b", Protocol: "tcp", Port: 80},
				[]string{"x/a -> 10.100.2.2 TCP/80", "x/a -> fd00:100::2:2 TCP/80"}, false},
			{"to an IPv4-only workload", ProbeRequest{From: "x/a", To: "z/b", Protocol: "UDP", Port: 80},
				[]string{"x/a -> 10.100.3.2 UDP/80"}, false},
			{"to an address, ICMP ignoring the port", ProbeRequest{From: "x/a", To: "10.100.3.1", Protocol: "icmp", Port: 9},
				[]string{"x/a -> 10.100.3.1 ICMP"}, false},
			{"from an unknown workload", ProbeRequest{From: "x/q", To: "y/b", Protocol: "TCP", Port: 80}, nil, true},
			{"without a port", ProbeRequest{From: "x/a", To: "y/b", Protocol: "TCP"}, nil, true},
			{"with an unknown protocol", ProbeRequest{From: "x/a", To: "y/b", Protocol: "GRE", Port: 1}, nil, true},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				specs, err := l.Resolve(tt.req)
				if (err != nil) != tt.wantErr {
					t.Fatalf("err = %v, want error %v", err, tt.wantErr)
				}
				var got []string
				for _, s := range specs {
					got = append(got, s.String())
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("(-want +got):\n%s", diff)
				}
			})
		}
	})

	t.Run("a client gets matrices and probes from the lab's socket", func(t *testing.T) {
		sock := filepath.Join(t.TempDir(), "lab.sock")
		sctx, stop := context.WithCancel(ctx)
		served := make(chan error, 1)
		go func() { served <- Serve(sctx, l, sock) }()
		defer func() {
			stop()
			if err := <-served; err != nil {
				t.Error(err)
			}
		}()
		c := NewClient(sock)
		var m *Matrix
		var err error
		// The socket exists once Serve listens.
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
			if m, err = c.Probe(ctx, ProbeRequest{From: "x/a", To: "y/a", Protocol: "TCP", Port: 81}); err == nil {
				break
			}
			if _, serr := os.Stat(sock); serr == nil {
				break
			}
			runtime.Gosched()
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Cells) != 2 || !m.Cells[0].Connected || !m.Cells[0].Predicted.Allowed {
			t.Errorf("probe answer: %+v", m.Cells)
		}
		full, err := c.Matrix(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(full.Cells) != len(l.Fabric().AllPairs()) || len(full.Workloads) != 6 {
			t.Errorf("matrix answer: %d cells, %d workloads", len(full.Cells), len(full.Workloads))
		}
		if _, err := c.Probe(ctx, ProbeRequest{From: "nope", To: "y/a", Protocol: "TCP", Port: 81}); err == nil || !strings.Contains(err.Error(), "namespace/name") {
			t.Errorf("bad request: err = %v", err)
		}
	})

	t.Run("packets dropped behind the agents' back are disagreements", func(t *testing.T) {
		victim := lab.WorkloadRef{Namespace: "z", Name: "b"}
		w, _ := l.Fabric().Workload(victim)
		h, _ := l.Fabric().Host(w.Host)
		removeTable := dropForwardedTo(t, h.NetNSPath, w.InterfaceName)
		m, err := l.Matrix(ctx, nil, nil)
		removeTable()
		if err != nil {
			t.Fatal(err)
		}
		// The victim's own probes fail too: their answers are dropped.
		var want, got []string
		for _, c := range m.Cells {
			if c.Skipped == "" && (c.Probe.To == w.IPs[0] || c.Probe.From == victim) {
				want = append(want, c.Probe.String())
			}
		}
		for _, c := range m.Disagreements() {
			got = append(got, c.Probe.String())
			if c.Connected || !c.Predicted.Allowed {
				t.Errorf("%s: connected=%v predicted=%v", c.Probe, c.Connected, c.Predicted.Allowed)
			}
		}
		if len(want) <= 16 {
			t.Fatalf("only %d probes to the victim: too few to queue retries", len(want))
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("disagreements (-want +got):\n%s", diff)
		}
	})

	t.Run("a workload without an endpoint is cut off, as the engine predicts", func(t *testing.T) {
		gone := lab.WorkloadRef{Namespace: "z", Name: "a"}
		key := l.snapshotKey(t, ctx, gone)
		if err := l.Delete(ctx, key); err != nil {
			t.Fatal(err)
		}
		m, err := l.Matrix(ctx, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if d := m.Disagreements(); len(d) > 0 {
			var b strings.Builder
			m.Print(&b)
			t.Fatalf("%d disagreements:\n%s", len(d), b.String())
		}
		cut := 0
		for _, c := range m.Cells {
			_, to := l.snapshotOwner(c.Probe.To)
			involved := c.Probe.From == gone || to == gone
			if c.Skipped != "" {
				continue
			}
			if c.Connected == involved {
				t.Errorf("%s: connected=%v", c.Probe, c.Connected)
			}
			if involved {
				cut++
				if !strings.Contains(c.Predicted.Reason, "no WorkloadEndpoint") {
					t.Errorf("%s: reason %q", c.Probe, c.Predicted.Reason)
				}
			}
		}
		if cut == 0 {
			t.Error("no probe involved the workload")
		}
	})
}

// snapshotKey returns the endpoint key of a workload in the datastore.
func (l *Lab) snapshotKey(t *testing.T, ctx context.Context, ref lab.WorkloadRef) v3.Key {
	t.Helper()
	s, err := l.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	k, ok := s.keys[ref]
	if !ok {
		t.Fatalf("no endpoint for %s", ref)
	}
	return k
}

// snapshotOwner returns the workload holding addr.
func (l *Lab) snapshotOwner(addr netip.Addr) (lab.WorkloadInfo, lab.WorkloadRef) {
	s := &Snapshot{fabric: l.fabric}
	w, _ := s.workloadAt(addr)
	return w, w.Ref
}

func TestBenchMeasuresEveryFigure(t *testing.T) {
	needLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rep, err := Bench(ctx, BenchOptions{
		RunID: runID(t), Endpoints: 20, Policies: 20, SetMembers: 200, Changes: 4, Rounds: 1,
		Duration: 200 * time.Millisecond, MaxBytes: 64 << 20, ScaleUnits: []int{1, 2},
		Logger: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	rep.Print(&b)
	t.Log("\n" + b.String())
	for name, v := range map[string]float64{
		"throughput without policy": rep.Throughput.Baseline, "throughput with policy": rep.Throughput.WithPolicy,
		"connections without policy": rep.ConnectionRate.Baseline, "connections with policy": rep.ConnectionRate.WithPolicy,
	} {
		if v <= 0 {
			t.Errorf("%s: %v", name, v)
		}
	}
	if len(rep.Enforce) != 4 || rep.Enforce[0] <= 0 {
		t.Errorf("enforcement times: %v", rep.Enforce)
	}
	if len(rep.Ruleset) != 2 || rep.Ruleset[1].Rules <= rep.Ruleset[0].Rules {
		t.Errorf("ruleset points: %+v", rep.Ruleset)
	}
	if rep.Loaded.Elements < 200 {
		t.Errorf("%d set elements on the server's host, want the 200 members at least", rep.Loaded.Elements)
	}
}

// dropForwardedTo adds, in the host namespace at nsPath, a table of its own
// that drops every forwarded packet leaving through iface, and returns a
// function removing it.
func dropForwardedTo(t *testing.T, nsPath, iface string) func() {
	t.Helper()
	ns, err := netns.GetFromPath(nsPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Close() })
	c, err := nftables.New(nftables.WithNetNSFd(int(ns)))
	if err != nil {
		t.Fatal(err)
	}
	table := c.AddTable(&nftables.Table{Family: nftables.TableFamilyINet, Name: "test-drop"})
	chain := c.AddChain(&nftables.Chain{Name: "forward", Table: table, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookForward, Priority: nftables.ChainPriorityFilter})
	name := make([]byte, 16)
	copy(name, iface)
	c.AddRule(&nftables.Rule{Table: table, Chain: chain, Exprs: []expr.Any{
		&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: name},
		&expr.Verdict{Kind: expr.VerdictDrop},
	}})
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	return func() {
		c.DelTable(table)
		if err := c.Flush(); err != nil {
			t.Errorf("remove the test table: %v", err)
		}
	}
}
