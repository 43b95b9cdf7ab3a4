//go:build linux

package agent

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	v3 "github.com/tabby-project/tabby/api/v3"
	"github.com/tabby-project/tabby/dataplane/nft"
	"github.com/tabby-project/tabby/datastore"
	"github.com/tabby-project/tabby/datastore/memory"
	"github.com/tabby-project/tabby/lab"
)

// needRoot skips a test that builds network namespaces unless it runs as
// root; under CI=true it fails instead.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("the agent's kernel tests need root (network namespaces, nftables)")
	}
	t.Skip("the agent's kernel tests need root (network namespaces, nftables)")
}

// syncBuffer is a bytes.Buffer safe for one writer and concurrent readers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// flowLogs returns the lines written so far, decoded.
func (b *syncBuffer) flowLogs(t *testing.T) []FlowLog {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []FlowLog
	sc := bufio.NewScanner(bytes.NewReader(b.buf.Bytes()))
	for sc.Scan() {
		var fl FlowLog
		if err := json.Unmarshal(sc.Bytes(), &fl); err != nil {
			t.Fatalf("flow log line %q: %v", sc.Text(), err)
		}
		out = append(out, fl)
	}
	return out
}

// labBed is a two-host lab: x/a on node-1, whose agent the test runs,
// and x/b on node-2, which has no agent. Both serve TCP 80.
type labBed struct {
	t     *testing.T
	f     *lab.Fabric
	store *memory.Store
	ns    *os.File
	flow  *syncBuffer
	a, b  lab.WorkloadRef
	aIP   netip.Addr
}

func newLabBed(t *testing.T) *labBed {
	t.Helper()
	needRoot(t)
	id := make([]byte, 3)
	if _, err := rand.Read(id); err != nil {
		t.Fatal(err)
	}
	runID := "a" + hex.EncodeToString(id)
	t.Cleanup(func() {
		if err := lab.Cleanup(lab.PrefixFor(runID)); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	port := []lab.Port{{Port: 80, Protocol: lab.TCP}}
	topo := &lab.Topology{Hosts: []lab.Host{
		{Name: "node-1", Workloads: []lab.Workload{{Namespace: "x", Name: "a", Labels: map[string]string{"pod": "a"}, IPs: []string{"10.100.1.1"}, Ports: port}}},
		{Name: "node-2", Workloads: []lab.Workload{{Namespace: "x", Name: "b", Labels: map[string]string{"pod": "b"}, IPs: []string{"10.100.1.2"}, Ports: port}}},
	}}
	f, err := lab.Up(context.Background(), topo, lab.Options{RunID: runID, ProbeTimeout: 250 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := f.Down(); err != nil {
			t.Errorf("down: %v", err)
		}
	})
	lb := &labBed{t: t, f: f, store: memory.New(), flow: &syncBuffer{},
		a: lab.WorkloadRef{Namespace: "x", Name: "a"}, b: lab.WorkloadRef{Namespace: "x", Name: "b"}}
	objs := []v3.Object{nsProfile("x")}
	for _, h := range topo.Hosts {
		for _, w := range h.Workloads {
			info, _ := f.Workload(w.Ref())
			objs = append(objs, wep(w.Namespace, w.Name, h.Name, info.InterfaceName, info.IPs[0].String(), w.Labels))
		}
	}
	put(t, lb.store, objs...)
	info, _ := f.Workload(lb.a)
	lb.aIP = info.IPs[0]
	host, _ := f.Host("node-1")
	if lb.ns, err = os.Open(host.NetNSPath); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lb.ns.Close() })
	return lb
}

// startAgent runs an agent of node-1 in its namespace, waits until it is
// ready and returns the function that stops it (without cleanup, as a
// killed agent would leave things).
func (lb *labBed) startAgent(reg prometheus.Registerer) (stop func()) {
	lb.t.Helper()
	a, err := New(Config{
		NodeName:        "node-1",
		Store:           lb.store,
		DataplaneConfig: nft.Config{NetNS: int(lb.ns.Fd()), LogGroup: 7},
		FlowLog:         lb.flow,
		Registerer:      reg,
		RetryMin:        10 * time.Millisecond,
		RetryMax:        100 * time.Millisecond,
		Coalesce:        20 * time.Millisecond,
	})
	if err != nil {
		lb.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	select {
	case <-a.Ready():
	case err := <-done:
		cancel()
		lb.t.Fatalf("agent stopped before it was ready: %v", err)
	case <-time.After(10 * time.Second):
		cancel()
		lb.t.Fatal("agent not ready after 10s")
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				lb.t.Errorf("Run: %v", err)
			}
		})
	}
	lb.t.Cleanup(stop)
	return stop
}

// probe sends one TCP connection attempt from x/b to x/a port 80.
func (lb *labBed) probe() lab.Result {
	return lb.f.Probe(context.Background(), lb.b, lb.aIP, lab.TCP, 80, 0)
}

// waitProbe polls until the probe's outcome is connected, within a
// bounded time.
func (lb *labBed) waitProbe(what string, connected bool) {
	lb.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		r := lb.probe()
		if r.Connected == connected {
			return
		}
		if time.Now().After(deadline) {
			lb.t.Fatalf("%s: x/b → x/a:80 still %v after 5s", what, r)
		}
	}
}

// denyB denies x/b → x/a, logging first.
func denyB() *v3.NetworkPolicy {
	return &v3.NetworkPolicy{
		ObjectMeta: meta("x", "deny-b", nil),
		Spec: v3.NetworkPolicySpec{
			Selector: "pod == 'a'",
			Ingress: []v3.Rule{
				{Action: v3.Log, Source: v3.EntityRule{Selector: "pod == 'b'"}},
				{Action: v3.Deny, Source: v3.EntityRule{Selector: "pod == 'b'"}},
				{Action: v3.Allow},
			},
		},
	}
}

func TestAgentEnforcesPolicyOnRealPackets(t *testing.T) {
	lb := newLabBed(t)
	reg := prometheus.NewRegistry()
	stop := lb.startAgent(reg)
	lb.waitProbe("no policy: the namespace profile allows", true)

	put(t, lb.store, denyB())
	lb.waitProbe("deny policy applied", false)

	t.Run("a Log rule writes a flow log line naming its policy and rule", func(t *testing.T) {
		want := FlowLog{
			Src: lb.f.Workloads()[1].IPs[0], Dst: lb.aIP, Proto: "TCP", DstPort: 80,
			Direction: "ingress", Tier: "default", Policy: "x/deny-b", Rule: 0, Match: "rule", Action: "Log",
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			for _, fl := range lb.flow.flowLogs(t) {
				got := fl
				got.Time, got.SrcPort, got.Bytes = time.Time{}, 0, 0
				// A TCP SYN over IPv4 is at least 40 bytes.
				if got == want && fl.SrcPort != 0 && fl.Bytes >= 40 && time.Since(fl.Time) < time.Minute {
					return
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("no flow log line like %+v after 5s; lines: %+v", want, lb.flow.flowLogs(t))
			}
			lb.probe()
		}
	})

	t.Run("the policy's nftables counters are exported", func(t *testing.T) {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]float64{}
		for _, mf := range mfs {
			for _, m := range mf.GetMetric() {
				if labels(m) == "kind=NetworkPolicy,name=deny-b,namespace=x" {
					got[mf.GetName()] = m.GetCounter().GetValue()
				}
				if mf.GetName() == "tabby_agent_rules_programmed" {
					got[mf.GetName()] = m.GetGauge().GetValue()
				}
			}
		}
		// Every denied probe's SYN (and its retransmissions) went through
		// the policy and matched its Log and Deny rules.
		for _, name := range []string{"tabby_policy_evaluated_packets_total", "tabby_policy_evaluated_bytes_total",
			"tabby_policy_matched_packets_total", "tabby_policy_matched_bytes_total", "tabby_agent_rules_programmed"} {
			if got[name] <= 0 {
				t.Errorf("%s = %v, want more than 0 (all: %v)", name, got[name], got)
			}
		}
		if got["tabby_policy_matched_packets_total"] < 2*got["tabby_policy_evaluated_packets_total"] {
			t.Errorf("matched %v packets of %v evaluated: each denied packet matches the Log and the Deny rule",
				got["tabby_policy_matched_packets_total"], got["tabby_policy_evaluated_packets_total"])
		}
	})

	del(t, lb.store, keyOf(denyB()))
	lb.waitProbe("deny policy removed", true)
	put(t, lb.store, denyB())
	lb.waitProbe("deny policy applied again", false)

	stop()
	for i := range 3 {
		if r := lb.probe(); r.Connected {
			t.Fatalf("probe %d after the agent stopped: connected; the kernel rules must keep enforcing", i)
		}
	}

	// A new agent takes over while x/b keeps trying to connect, from
	// several probers at once.
	var probes, leaks atomic.Int64
	quit := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-quit:
					return
				default:
				}
				probes.Add(1)
				if lb.probe().Connected {
					leaks.Add(1)
				}
			}
		})
	}
	stop2 := lb.startAgent(nil)
	before := probes.Load()
	for probes.Load() < before+8 {
		time.Sleep(10 * time.Millisecond)
	}
	close(quit)
	wg.Wait()
	if n := leaks.Load(); n > 0 {
		t.Fatalf("%d of %d probes connected while a new agent took over", n, probes.Load())
	}
	t.Logf("%d probes during the restart, none connected", probes.Load())

	del(t, lb.store, keyOf(denyB()))
	lb.waitProbe("the new agent follows the datastore", true)
	stop2()
}

// TestAgentResyncsAgainstTheKernel breaks the agent's view of the
// datastore while it enforces a deny, and changes the policy meanwhile.
func TestAgentResyncsAgainstTheKernel(t *testing.T) {
	lb := newLabBed(t)
	fs := &faultStore{Store: lb.store}
	a, err := New(Config{
		NodeName:        "node-1",
		Store:           fs,
		DataplaneConfig: nft.Config{NetNS: int(lb.ns.Fd()), LogGroup: 7},
		RetryMin:        10 * time.Millisecond,
		RetryMax:        50 * time.Millisecond,
		Coalesce:        20 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	put(t, lb.store, denyB())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	<-a.Ready()
	lb.waitProbe("deny policy applied", false)
	fs.waitWatching(t, 1)

	fs.setDown(true)
	// The deny is replaced by an equivalent one in one transaction while
	// the agent cannot see the datastore.
	deny2 := denyB()
	deny2.Name = "deny-b2"
	v3.Default(deny2)
	if _, err := lb.store.Txn(context.Background(), []datastore.Op{
		datastore.DeleteOp(keyOf(denyB()), ""), datastore.CreateOp(deny2)}); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if r := lb.probe(); r.Connected {
			t.Fatalf("probe %d while the datastore is down: connected", i)
		}
	}
	fs.setDown(false)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if r := lb.probe(); r.Connected {
			t.Fatal("connected during the resync")
		}
		ref, ok := a.logRef("calico-packet: I default x/deny-b2 r0")
		if ok && ref.Policy.Name == "deny-b2" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal(fmt.Errorf("the resync did not program deny-b2 within 5s"))
		}
	}
	for i := range 3 {
		if r := lb.probe(); r.Connected {
			t.Fatalf("probe %d after the resync: connected", i)
		}
	}
}
