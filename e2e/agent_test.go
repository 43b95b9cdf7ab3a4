//go:build linux

package e2e

import (
	"context"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	v3 "github.com/tabby-project/tabby/api/v3"
	"github.com/tabby-project/tabby/conformance"
	"github.com/tabby-project/tabby/internal/testbed"
	"github.com/tabby-project/tabby/lab"
)

// enforceBound is how long a policy change may take to reach the packets
// (write to the datastore, watch, engine, nftables) on a busy two-core
// machine with the race detector; it takes tens of milliseconds.
const enforceBound = 5 * time.Second

// From x/a (node-1) to y/a (node-2): a pair across hosts, so both agents
// take part. x/b (node-2) to y/a is the control pair the policy leaves
// open.
var (
	xa = lab.WorkloadRef{Namespace: "x", Name: "a"}
	xb = lab.WorkloadRef{Namespace: "x", Name: "b"}
)

// denyXAtoYA denies y/a's ingress from x/a and allows the rest.
const denyXAtoYA = `apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata:
  name: deny-x-a
  namespace: "y"
spec:
  selector: pod == 'a'
  ingress:
  - action: Deny
    source:
      namespaceSelector: ns == 'x'
      selector: pod == 'a'
  - action: Allow
`

// modelLab brings the conformance model up with no policy.
func modelLab(t *testing.T) (*testbed.Lab, netip.Addr) {
	t.Helper()
	m := conformance.NewModel()
	base, err := conformance.Resources(m, conformance.Case{})
	if err != nil {
		t.Fatal(err)
	}
	l := up(t, modelTopology(m), testbed.Options{Initial: base})
	return l, netip.MustParseAddr(m.IP(conformance.Peer{Namespace: "y", Name: "a"}))
}

func decode(t *testing.T, doc string) v3.Object {
	t.Helper()
	objs, err := v3.Decode([]byte(doc))
	if err != nil || len(objs) != 1 {
		t.Fatalf("decode: %v (%d objects)", err, len(objs))
	}
	v3.Default(objs[0])
	if err := v3.Validate(objs[0]); err != nil {
		t.Fatal(err)
	}
	return objs[0]
}

// untilVerdict probes from src to dst on TCP/80 until the outcome is want
// or the bound passes, and returns when the change took effect: for a
// deny, the start of the first probe that did not connect (the rule was in
// force when its SYN left); for an allow, the end of the first that did.
func untilVerdict(t *testing.T, l *testbed.Lab, src lab.WorkloadRef, dst netip.Addr, want bool, since time.Time) time.Duration {
	t.Helper()
	ctx := context.Background()
	for time.Since(since) < enforceBound {
		start := time.Now()
		r := l.Fabric().Probe(ctx, src, dst, lab.TCP, 80, 50*time.Millisecond)
		if r.Connected == want {
			if want {
				return time.Since(since)
			}
			return start.Sub(since)
		}
	}
	t.Fatalf("%s -> %s: connected is not %v %v after the change", src, dst, want, enforceBound)
	return 0
}

func TestPolicyChangeReachesThePacketsWithinABoundedTime(t *testing.T) {
	l, ya := modelLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pol := decode(t, denyXAtoYA)
	var toDeny, toAllow []time.Duration
	for range 5 {
		start := time.Now()
		if _, err := l.Apply(ctx, pol); err != nil {
			t.Fatal(err)
		}
		toDeny = append(toDeny, untilVerdict(t, l, xa, ya, false, start))
		if r := l.Fabric().Probe(ctx, xb, ya, lab.TCP, 80, time.Second); !r.Connected {
			t.Fatalf("the policy denies more than x/a: %v", r)
		}
		start = time.Now()
		if err := l.Delete(ctx, v3.KeyOf(pol)); err != nil {
			t.Fatal(err)
		}
		toAllow = append(toAllow, untilVerdict(t, l, xa, ya, true, start))
	}
	slices.Sort(toDeny)
	slices.Sort(toAllow)
	t.Logf("from the datastore write to the packets: deny in %v (median) to %v (max), allow again in %v to %v (allow measured with 50ms probes)",
		toDeny[len(toDeny)/2].Round(time.Millisecond), toDeny[len(toDeny)-1].Round(time.Millisecond),
		toAllow[len(toAllow)/2].Round(time.Millisecond), toAllow[len(toAllow)-1].Round(time.Millisecond))
}

// denyInForce applies denyXAtoYA, waits until both agents enforce it and
// checks it on the packets.
func denyInForce(t *testing.T, ctx context.Context, l *testbed.Lab, ya netip.Addr) {
	t.Helper()
	if _, err := l.Apply(ctx, decode(t, denyXAtoYA)); err != nil {
		t.Fatal(err)
	}
	if _, err := l.WaitProgrammed(ctx); err != nil {
		t.Fatal(err)
	}
	if r := l.Fabric().Probe(ctx, xa, ya, lab.TCP, 80, 0); r.Connected {
		t.Fatalf("the deny is not enforced: %v", r)
	}
}

func TestRulesStayEnforcedAfterTheAgentsDie(t *testing.T) {
	l, ya := modelLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	denyInForce(t, ctx, l, ya)
	// In-process agents die by having their context cancelled, with no
	// clean-up, as a killed process would.
	for _, h := range l.Fabric().Hosts() {
		if err := l.StopAgent(h.Name); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.FlushConntrack(); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		if r := l.Fabric().Probe(ctx, xa, ya, lab.TCP, 80, 100*time.Millisecond); r.Connected {
			t.Fatalf("with the agents dead, denied traffic connects: %v", r)
		}
		if r := l.Fabric().Probe(ctx, xb, ya, lab.TCP, 80, time.Second); !r.Connected {
			t.Fatalf("with the agents dead, allowed traffic does not connect: %v", r)
		}
	}
}

func TestAgentRestartNeverLetsDeniedTrafficThrough(t *testing.T) {
	l, ya := modelLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	denyInForce(t, ctx, l, ya)

	// Probe the denied pair and the allowed one without pause, from
	// several goroutines, while the agents die and restart, five times.
	stop := make(chan struct{})
	ticks := make(chan struct{}, 4096)
	var wg sync.WaitGroup
	var denied, leaked, allowed, cut atomic.Int64
	var firstLeak, firstCut atomic.Value
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if r := l.Fabric().Probe(ctx, xa, ya, lab.TCP, 80, 20*time.Millisecond); r.Connected {
					leaked.Add(1)
					firstLeak.CompareAndSwap(nil, r.String())
				} else {
					denied.Add(1)
				}
				if r := l.Fabric().Probe(ctx, xb, ya, lab.TCP, 80, time.Second); r.Connected {
					allowed.Add(1)
				} else {
					cut.Add(1)
					firstCut.CompareAndSwap(nil, r.String())
				}
				select {
				case ticks <- struct{}{}:
				default:
				}
			}
		})
	}
	// probes waits until the probers have done n more rounds.
	probes := func(n int) {
		t.Helper()
		for range n {
			select {
			case <-ticks:
			case <-ctx.Done():
				t.Fatal("the probes stalled")
			}
		}
	}
	var restarts []time.Duration
	for range 5 {
		for _, h := range l.Fabric().Hosts() {
			if err := l.StopAgent(h.Name); err != nil {
				t.Fatal(err)
			}
		}
		probes(8)
		start := time.Now()
		for _, h := range l.Fabric().Hosts() {
			if err := l.StartAgent(ctx, h.Name); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := l.WaitProgrammed(ctx); err != nil {
			t.Fatal(err)
		}
		restarts = append(restarts, time.Since(start))
		probes(8)
	}
	close(stop)
	wg.Wait()
	t.Logf("5 restarts of both agents (each programmed in %v); meanwhile %d probes of the denied pair, %d of the allowed one",
		restarts, denied.Load()+leaked.Load(), allowed.Load()+cut.Load())
	if n := leaked.Load(); n > 0 {
		t.Errorf("%d probes of the denied pair connected while the agents restarted, first: %v", n, firstLeak.Load())
	}
	if n := cut.Load(); n > 0 {
		t.Errorf("%d probes of the allowed pair failed while the agents restarted, first: %v", n, firstCut.Load())
	}
}
