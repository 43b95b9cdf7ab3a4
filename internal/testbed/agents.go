//go:build linux

package testbed

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tabby-project/tabby/agent"
	v3 "github.com/tabby-project/tabby/api/v3"
	"github.com/tabby-project/tabby/dataplane/nft"
	"github.com/tabby-project/tabby/datastore"
	"github.com/tabby-project/tabby/datastore/etcd"
)

// ErrUnknownHost is returned for a host name the topology does not have.
var ErrUnknownHost = errors.New("testbed: unknown host")

// BarrierName is the FelixConfiguration WaitProgrammed writes: a name
// Felix and the agent ignore (only "default" and "node.<name>" configure
// anything), so writing it changes no rule and only makes every agent
// program once more.
const BarrierName = "tabby-lab-barrier"

// barrierAnnotation carries a counter, so that every barrier write is a
// change.
const barrierAnnotation = "tabby-lab/barrier"

// hostAgent is the agent of one host, run in this process: agent.Run in a
// goroutine, programming nftables in the host's namespace through
// nft.New(Config{NetNS: fd}).
//
// It tracks the datastore revision its dataplane holds: the store it reads
// through notes the revision of every List and of every watch event the
// agent has received (after the agent took it), and the dataplane it
// programs notes, at the start of each Sync, the revision received so far,
// and makes it the programmed revision when the Sync succeeds. The agent
// applies everything it received before it programs, so a Sync that
// started after an event was received includes it.
type hostAgent struct {
	host string
	ns   *os.File
	// received is the highest revision handed to the agent.
	received atomic.Int64

	mu         sync.Mutex
	programmed int64
	changed    chan struct{} // closed and replaced when programmed changes
	dp         agent.Dataplane

	cancel   context.CancelFunc
	stopOnce sync.Once
	done     chan struct{}
	ready    <-chan struct{}
	store    datastore.Store
}

// StartAgent starts the agent of host, which must not be running. Its
// first programming replaces whatever table an earlier agent left, in one
// transaction.
func (l *Lab) StartAgent(ctx context.Context, host string) error {
	info, ok := l.fabric.Host(host)
	if !ok {
		return fmt.Errorf("%w %q", ErrUnknownHost, host)
	}
	l.mu.Lock()
	if a, ok := l.agents[host]; ok && !a.stopped() {
		l.mu.Unlock()
		return fmt.Errorf("testbed: the agent of host %s is running", host)
	}
	l.mu.Unlock()
	ns, err := os.Open(info.NetNSPath)
	if err != nil {
		return fmt.Errorf("testbed: open the namespace of host %s: %w", host, err)
	}
	// Every agent has its own client, as every host of a cluster has.
	store, err := etcd.Open(ctx, l.cfg)
	if err != nil {
		ns.Close()
		return fmt.Errorf("testbed: datastore client for host %s: %w", host, err)
	}
	h := &hostAgent{host: host, ns: ns, changed: make(chan struct{}), done: make(chan struct{}), store: store}
	a, err := agent.New(agent.Config{
		NodeName: host,
		Store:    &trackedStore{Store: store, h: h},
		DataplaneConfig: nft.Config{
			NetNS:    int(ns.Fd()),
			LogGroup: agent.DefaultLogGroup,
		},
		NewDataplane: func(c nft.Config) (agent.Dataplane, error) {
			dp, err := agent.NewNFTDataplane(c)
			if err != nil {
				return nil, err
			}
			return &trackedDataplane{Dataplane: dp, h: h}, nil
		},
		FlowLog: l.opts.FlowLog,
		Logger:  l.log.With("host", host),
	})
	if err != nil {
		store.Close()
		ns.Close()
		return fmt.Errorf("testbed: agent of host %s: %w", host, err)
	}
	h.ready = a.Ready()
	runCtx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() {
		defer close(h.done)
		if err := a.Run(runCtx); err != nil {
			l.log.Error("agent stopped", "host", host, "error", err)
		}
	}()
	l.mu.Lock()
	l.agents[host] = h
	l.mu.Unlock()
	return nil
}

// StopAgent stops the agent of host as a crash would stop it: its context
// ends and nothing is cleaned up, so the rules it programmed stay in force.
// Stopping an agent that is not running does nothing.
func (l *Lab) StopAgent(host string) error {
	a := l.agent(host)
	if a == nil {
		return fmt.Errorf("%w %q", ErrUnknownHost, host)
	}
	a.stop()
	return nil
}

// agent returns the current agent of host, or nil.
func (l *Lab) agent(host string) *hostAgent {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.agents[host]
}

// stop ends the agent and releases its client and namespace handle; it
// may be called more than once.
func (h *hostAgent) stop() {
	h.stopOnce.Do(func() {
		h.cancel()
		<-h.done
		h.store.Close()
		h.ns.Close()
	})
}

func (h *hostAgent) stopped() bool {
	select {
	case <-h.done:
		return true
	default:
		return false
	}
}

func (h *hostAgent) waitReady(ctx context.Context) error {
	select {
	case <-h.ready:
		return nil
	case <-h.done:
		return errors.New("testbed: agent stopped before it was ready")
	case <-ctx.Done():
		return fmt.Errorf("%w: not ready: %w", ErrNotReady, ctx.Err())
	}
}

// state returns the programmed revision and a channel closed when it
// changes.
func (h *hostAgent) state() (int64, <-chan struct{}) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.programmed, h.changed
}

func (h *hostAgent) setProgrammed(rev int64, dp agent.Dataplane) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.dp = dp
	if rev > h.programmed {
		h.programmed = rev
		close(h.changed)
		h.changed = make(chan struct{})
	}
}

func (h *hostAgent) dataplane() agent.Dataplane {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.dp
}

func storeMax(v *atomic.Int64, n int64) {
	for {
		cur := v.Load()
		if n <= cur || v.CompareAndSwap(cur, n) {
			return
		}
	}
}

// trackedStore notes the revisions the agent receives.
type trackedStore struct {
	datastore.Store
	h *hostAgent
}

func (s *trackedStore) List(ctx context.Context, kind, namespace string) (datastore.ListResult, error) {
	r, err := s.Store.List(ctx, kind, namespace)
	if err == nil && kind == "" {
		storeMax(&s.h.received, r.Revision)
	}
	return r, err
}

func (s *trackedStore) Watch(ctx context.Context, kind string, fromRevision int64) (<-chan datastore.Event, error) {
	in, err := s.Store.Watch(ctx, kind, fromRevision)
	if err != nil || kind != "" {
		return in, err
	}
	out := make(chan datastore.Event)
	go func() {
		defer close(out)
		for ev := range in {
			select {
			case out <- ev:
			case <-ctx.Done():
				return
			}
			// Only now has the agent taken the event.
			if ev.Type != datastore.Error {
				storeMax(&s.h.received, ev.Revision)
			}
		}
	}()
	return out, nil
}

// trackedDataplane notes the revision each successful Sync programmed.
type trackedDataplane struct {
	agent.Dataplane
	h *hostAgent
}

func (d *trackedDataplane) Sync(ctx context.Context, in *nft.Input) (nft.Changes, error) {
	rev := d.h.received.Load()
	c, err := d.Dataplane.Sync(ctx, in)
	if err == nil {
		d.h.setProgrammed(rev, d.Dataplane)
	}
	return c, err
}

// Programmed returns, for every host whose agent runs, the datastore
// revision its rules reflect.
func (l *Lab) Programmed() map[string]int64 {
	out := map[string]int64{}
	l.mu.Lock()
	defer l.mu.Unlock()
	for host, a := range l.agents {
		if !a.stopped() {
			out[host], _ = a.state()
		}
	}
	return out
}

// Ruleset returns the size of the table the agent of host last
// programmed, or false if it has programmed none.
func (l *Lab) Ruleset(host string) (nft.Stats, bool) {
	a := l.agent(host)
	if a == nil {
		return nft.Stats{}, false
	}
	dp := a.dataplane()
	if dp == nil {
		return nft.Stats{}, false
	}
	m := dp.Programmed()
	if m == nil {
		return nft.Stats{}, false
	}
	return m.Stats(), true
}

// WaitProgrammed returns once every running agent's rules reflect the
// datastore as it is when WaitProgrammed is called, with the revision they
// reflect. It writes the barrier FelixConfiguration (BarrierName) and waits
// until each agent has programmed its revision; if an agent has not within
// a second, it writes the barrier again (an agent only counts an event as
// received once a later one, or the programming that follows it, shows it
// took it). Without a deadline in ctx it gives up after
// DefaultSyncTimeout, with an error wrapping ErrNotReady.
func (l *Lab) WaitProgrammed(ctx context.Context) (int64, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultSyncTimeout)
		defer cancel()
	}
	for {
		rev, err := l.writeBarrier(ctx)
		if err != nil {
			return 0, err
		}
		done, err := l.waitRevision(ctx, rev, time.Second)
		if err != nil {
			return 0, err
		}
		if done {
			return rev, nil
		}
	}
}

func (l *Lab) writeBarrier(ctx context.Context) (int64, error) {
	l.mu.Lock()
	l.barrier++
	n := l.barrier
	l.mu.Unlock()
	fc := &v3.FelixConfiguration{
		TypeMeta: metav1.TypeMeta{APIVersion: v3.APIVersion, Kind: v3.KindFelixConfiguration},
		ObjectMeta: metav1.ObjectMeta{Name: BarrierName, Annotations: map[string]string{
			barrierAnnotation: strconv.Itoa(n),
		}},
	}
	stored, err := l.Apply(ctx, fc)
	if err != nil {
		return 0, err
	}
	rev, err := strconv.ParseInt(stored[0].GetResourceVersion(), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("testbed: barrier revision %q: %w", stored[0].GetResourceVersion(), err)
	}
	return rev, nil
}

// waitRevision waits until every running agent has programmed rev, for at
// most patience; done is false when patience ran out first.
func (l *Lab) waitRevision(ctx context.Context, rev int64, patience time.Duration) (done bool, err error) {
	t := time.NewTimer(patience)
	defer t.Stop()
	for {
		l.mu.Lock()
		var lagging *hostAgent
		for _, a := range l.agents {
			if a.stopped() {
				continue
			}
			if p, _ := a.state(); p < rev {
				lagging = a
				break
			}
		}
		l.mu.Unlock()
		if lagging == nil {
			return true, nil
		}
		p, changed := lagging.state()
		if p >= rev {
			continue
		}
		select {
		case <-changed:
		case <-lagging.done:
		case <-t.C:
			return false, nil
		case <-ctx.Done():
			p, _ := lagging.state()
			return false, fmt.Errorf("%w: host %s programmed revision %d, want %d: %w", ErrNotReady, lagging.host, p, rev, ctx.Err())
		}
	}
}
