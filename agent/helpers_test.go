package agent

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/tabby-project/tabby/api/v3"
	"github.com/tabby-project/tabby/dataplane/nft"
	"github.com/tabby-project/tabby/datastore"
	"github.com/tabby-project/tabby/datastore/memory"
)

// waitFor is how long a fast test waits for the agent to reach a state.
const waitFor = 5 * time.Second

// eventually polls cond until it holds or waitFor passes; cond returns a
// description of what it saw for the failure message.
func eventually(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		ok, saw := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached after %v; last saw:\n%s", what, waitFor, saw)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// --- resources ---

func meta(ns, name string, labels map[string]string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels}
}

func wep(ns, name, node, iface, ip string, labels map[string]string, ports ...v3.WorkloadEndpointPort) *v3.WorkloadEndpoint {
	return &v3.WorkloadEndpoint{
		ObjectMeta: meta(ns, name, labels),
		Spec: v3.WorkloadEndpointSpec{
			Orchestrator:  v3.OrchestratorKubernetes,
			Node:          node,
			Pod:           name,
			Endpoint:      "eth0",
			InterfaceName: iface,
			IPNetworks:    []string{ip + "/32"},
			Profiles:      []string{"kns." + ns},
			Ports:         ports,
		},
	}
}

func nsProfile(ns string) *v3.Profile {
	return &v3.Profile{
		ObjectMeta: meta("", "kns."+ns, nil),
		Spec: v3.ProfileSpec{
			Ingress:       []v3.Rule{{Action: v3.Allow}},
			Egress:        []v3.Rule{{Action: v3.Allow}},
			LabelsToApply: map[string]string{"pcns.projectcalico.org/name": ns},
		},
	}
}

// denyFrom is a NetworkPolicy of ns denying ingress to the pods of
// selector from the pods of from.
func denyFrom(ns, name, selector, from string) *v3.NetworkPolicy {
	return &v3.NetworkPolicy{
		ObjectMeta: meta(ns, name, nil),
		Spec: v3.NetworkPolicySpec{
			Selector: selector,
			Ingress: []v3.Rule{
				{Action: v3.Deny, Source: v3.EntityRule{Selector: from}},
				{Action: v3.Allow},
			},
		},
	}
}

func felixConfig(name string, spec v3.FelixConfigurationSpec) *v3.FelixConfiguration {
	return &v3.FelixConfiguration{ObjectMeta: meta("", name, nil), Spec: spec}
}

func keyOf(o v3.Object) v3.Key { return v3.KeyOf(o) }

// --- a store that fails on demand ---

// faultStore is a memory store that can be taken down (every call fails
// with ErrUnavailable and open watches end with an Error event), whose
// watches can be broken, and which can run a hook before the next Watch
// starts.
type faultStore struct {
	datastore.Store
	mu          sync.Mutex
	down        bool
	breaks      []chan error
	beforeWatch func(fromRevision int64)
	lists       int
	watches     int
}

var errDown = fmt.Errorf("test store is down: %w", datastore.ErrUnavailable)

func newFaultStore() *faultStore { return &faultStore{Store: memory.New()} }

// mem returns the memory store a fault store made by newFaultStore wraps,
// for writes and compactions the agent must not see coming.
func (s *faultStore) mem() *memory.Store { return s.Store.(*memory.Store) }

func (s *faultStore) isDown() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.down
}

// setDown takes the store down (breaking every watch) or brings it back.
func (s *faultStore) setDown(down bool) {
	s.mu.Lock()
	s.down = down
	s.mu.Unlock()
	if down {
		s.breakWatches(errDown)
	}
}

// breakWatches ends every open watch with an Error event carrying err.
func (s *faultStore) breakWatches(err error) {
	s.mu.Lock()
	breaks := s.breaks
	s.breaks = nil
	s.mu.Unlock()
	for _, b := range breaks {
		b <- err
	}
}

func (s *faultStore) listCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lists
}

// waitWatching waits until the agent has started n watches.
func (s *faultStore) waitWatching(t *testing.T, n int) {
	t.Helper()
	eventually(t, "the agent watching", func() (bool, string) {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.watches >= n, fmt.Sprintf("%d watches", s.watches)
	})
}

func (s *faultStore) Get(ctx context.Context, key v3.Key) (v3.Object, error) {
	if s.isDown() {
		return nil, errDown
	}
	return s.Store.Get(ctx, key)
}

func (s *faultStore) List(ctx context.Context, kind, namespace string) (datastore.ListResult, error) {
	s.mu.Lock()
	down := s.down
	s.lists++
	s.mu.Unlock()
	if down {
		return datastore.ListResult{}, errDown
	}
	return s.Store.List(ctx, kind, namespace)
}

func (s *faultStore) Watch(ctx context.Context, kind string, from int64) (<-chan datastore.Event, error) {
	s.mu.Lock()
	down, hook := s.down, s.beforeWatch
	s.beforeWatch = nil
	s.mu.Unlock()
	if down {
		return nil, errDown
	}
	if hook != nil {
		hook(from)
	}
	wctx, cancel := context.WithCancel(ctx)
	inner, err := s.Store.Watch(wctx, kind, from)
	if err != nil {
		cancel()
		return nil, err
	}
	brk := make(chan error, 1)
	s.mu.Lock()
	s.breaks = append(s.breaks, brk)
	s.watches++
	s.mu.Unlock()
	out := make(chan datastore.Event)
	go func() {
		defer close(out)
		defer cancel()
		for {
			var ev datastore.Event
			select {
			case <-wctx.Done():
				return
			case err := <-brk:
				ev = datastore.Event{Type: datastore.Error, Err: err}
			case e, ok := <-inner:
				if !ok {
					return
				}
				ev = e
			}
			select {
			case out <- ev:
			case <-wctx.Done():
				return
			}
			if ev.Type == datastore.Error {
				return
			}
		}
	}()
	return out, nil
}

// put defaults, validates and applies objects to the store, one write
// each.
func put(t *testing.T, s datastore.Store, objs ...v3.Object) {
	t.Helper()
	for _, o := range objs {
		v3.Default(o)
		if err := v3.Validate(o); err != nil {
			t.Fatalf("invalid %s: %v", v3.KeyOf(o), err)
		}
		if _, err := s.Apply(context.Background(), o); err != nil {
			t.Fatalf("apply %s: %v", v3.KeyOf(o), err)
		}
	}
}

// txn applies ops in one transaction.
func txn(t *testing.T, s datastore.Store, ops ...datastore.Op) {
	t.Helper()
	for _, op := range ops {
		if op.Object != nil {
			v3.Default(op.Object)
		}
	}
	if _, err := s.Txn(context.Background(), ops); err != nil {
		t.Fatalf("transaction: %v", err)
	}
}

func del(t *testing.T, s datastore.Store, keys ...v3.Key) {
	t.Helper()
	for _, k := range keys {
		if _, err := s.Delete(context.Background(), k, ""); err != nil {
			t.Fatalf("delete %s: %v", k, err)
		}
	}
}

// --- a dataplane that records what it is asked to program ---

// summary is an Input reduced to what the tests assert on.
type summary struct {
	// Endpoints by "<namespace>/<name>" (host endpoints by name).
	Endpoints map[string]endpointSummary
	// Remote are the endpoints whose named ports are known.
	Remote []string
	// Profiles are the profiles' names.
	Profiles []string
	// Sets are the members of each rule selector set, each set as its
	// sorted member names joined by commas.
	Sets []string
}

type endpointSummary struct {
	Interface string
	// Ingress and Egress list "<tier>: <policy>" in evaluation order.
	Ingress, Egress []string
	Profiles        []string
	NoPolicy        bool
}

func name(k v3.Key) string {
	if k.Namespace == "" {
		return k.Name
	}
	return k.Namespace + "/" + k.Name
}

func summarize(in *nft.Input) summary {
	s := summary{Endpoints: map[string]endpointSummary{}}
	for k, ep := range in.Endpoints {
		es := endpointSummary{Interface: ep.Interface, NoPolicy: ep.Policy == nil}
		if ep.Policy != nil {
			for _, tp := range ep.Policy.Ingress {
				for _, p := range tp.Policies {
					es.Ingress = append(es.Ingress, tp.Tier+": "+name(p.Key))
				}
			}
			for _, tp := range ep.Policy.Egress {
				for _, p := range tp.Policies {
					es.Egress = append(es.Egress, tp.Tier+": "+name(p.Key))
				}
			}
			es.Profiles = ep.Policy.Profiles
		}
		s.Endpoints[name(k)] = es
	}
	for k := range in.RemotePorts {
		s.Remote = append(s.Remote, name(k))
	}
	slices.Sort(s.Remote)
	for p := range in.Profiles {
		s.Profiles = append(s.Profiles, p)
	}
	slices.Sort(s.Profiles)
	for _, members := range in.Sets {
		var names []string
		for _, m := range members {
			names = append(names, name(m.Key))
		}
		slices.Sort(names)
		s.Sets = append(s.Sets, strings.Join(names, ","))
	}
	slices.Sort(s.Sets)
	return s
}

// syncRecord is one Sync a fake dataplane received.
type syncRecord struct {
	cfg     nft.Config
	summary summary
}

// recorder is shared by the fake dataplanes one test creates.
type recorder struct {
	mu       sync.Mutex
	syncs    []syncRecord
	created  []nft.Config
	closed   int
	fail     int // how many of the next Syncs fail
	attempts int // Syncs asked for, failed ones included
	counters []nft.Counter
	// events lists "create", "sync" and "close" calls, each followed by
	// the dataplane's LogPrefix.
	events []string
}

var errSyncFailed = errors.New("fake dataplane: sync failed")

func (r *recorder) newDataplane(cfg nft.Config) (Dataplane, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.created = append(r.created, cfg)
	r.events = append(r.events, "create "+cfg.LogPrefix)
	return &fakeDataplane{r: r, cfg: cfg}, nil
}

func (r *recorder) failNext(n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fail = n
}

func (r *recorder) syncAttempts() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.attempts
}

func (r *recorder) eventLog() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

func (r *recorder) closedCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closed
}

func (r *recorder) setCounters(cs []nft.Counter) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.counters = cs
}

func (r *recorder) records() []syncRecord {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.syncs)
}

// last returns the summary of the last Sync, false before any.
func (r *recorder) last() (summary, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.syncs) == 0 {
		return summary{}, false
	}
	return r.syncs[len(r.syncs)-1].summary, true
}

// fakeDataplane renders what it is given, as the real one does, and
// records it instead of programming a kernel.
type fakeDataplane struct {
	r          *recorder
	cfg        nft.Config
	mu         sync.Mutex
	programmed *nft.Model
	closed     bool
}

func (f *fakeDataplane) Sync(ctx context.Context, in *nft.Input) (nft.Changes, error) {
	f.r.mu.Lock()
	defer f.r.mu.Unlock()
	f.r.attempts++
	if f.r.fail > 0 {
		f.r.fail--
		return nft.Changes{}, errSyncFailed
	}
	m, err := nft.Render(f.cfg, in)
	if err != nil {
		return nft.Changes{}, err
	}
	if p := m.Problems(); len(p) > 0 {
		return nft.Changes{}, fmt.Errorf("render problems: %v", p)
	}
	f.mu.Lock()
	f.programmed = m
	f.mu.Unlock()
	f.r.syncs = append(f.r.syncs, syncRecord{cfg: f.cfg, summary: summarize(in)})
	f.r.events = append(f.r.events, "sync "+f.cfg.LogPrefix)
	return nft.Changes{RulesWritten: m.Stats().Rules}, nil
}

func (f *fakeDataplane) Counters(context.Context) ([]nft.Counter, error) {
	f.mu.Lock()
	programmed := f.programmed != nil
	f.mu.Unlock()
	if !programmed {
		return nil, nft.ErrNotProgrammed
	}
	f.r.mu.Lock()
	defer f.r.mu.Unlock()
	return slices.Clone(f.r.counters), nil
}

func (f *fakeDataplane) Programmed() *nft.Model {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.programmed
}

func (f *fakeDataplane) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.closed {
		f.closed = true
		f.r.mu.Lock()
		f.r.closed++
		f.r.events = append(f.r.events, "close "+f.cfg.LogPrefix)
		f.r.mu.Unlock()
	}
	return nil
}

// --- running an agent ---

type harness struct {
	t     *testing.T
	store *faultStore
	rec   *recorder
	reg   *prometheus.Registry
	cfg   Config
	agent *Agent
	stop  context.CancelFunc
	done  chan error
}

const node = "node-1"

// newHarness prepares an agent of node-1 on a fault store holding objs,
// with a fake dataplane and quick retries; the test may adjust h.cfg and
// the store before start.
func newHarness(t *testing.T, objs ...v3.Object) *harness {
	t.Helper()
	h := &harness{t: t, store: newFaultStore(), rec: &recorder{}, reg: prometheus.NewRegistry()}
	put(t, h.store, objs...)
	h.cfg = Config{
		NodeName:       node,
		Store:          h.store,
		NewDataplane:   h.rec.newDataplane,
		Registerer:     h.reg,
		RetryMin:       5 * time.Millisecond,
		RetryMax:       20 * time.Millisecond,
		Coalesce:       20 * time.Millisecond,
		HealthInterval: 10 * time.Millisecond,
	}
	return h
}

// run is newHarness and start.
func run(t *testing.T, objs ...v3.Object) *harness {
	t.Helper()
	return newHarness(t, objs...).start()
}

// start creates the agent from h.cfg and runs it until the test ends.
func (h *harness) start() *harness {
	h.t.Helper()
	a, err := New(h.cfg)
	if err != nil {
		h.t.Fatal(err)
	}
	h.agent = a
	ctx, cancel := context.WithCancel(context.Background())
	h.stop = cancel
	h.done = make(chan error, 1)
	go func() { h.done <- a.Run(ctx) }()
	h.t.Cleanup(h.shutdown)
	return h
}

// shutdown stops the agent and waits for Run to return.
func (h *harness) shutdown() {
	h.t.Helper()
	h.stop()
	select {
	case err := <-h.done:
		if err != nil {
			h.t.Errorf("Run: %v", err)
		}
		h.done <- nil
	case <-time.After(waitFor):
		h.t.Fatal("Run did not return after its context was cancelled")
	}
}

// waitProgrammed waits until the last Sync programmed want.
func (h *harness) waitProgrammed(what string, want summary) {
	h.t.Helper()
	eventually(h.t, what, func() (bool, string) {
		got, ok := h.rec.last()
		if !ok {
			return false, "no Sync yet"
		}
		d := cmp.Diff(want, got)
		return d == "", "diff (-want +got):\n" + d
	})
}

func (h *harness) waitReady() {
	h.t.Helper()
	select {
	case <-h.agent.Ready():
	case <-time.After(waitFor):
		h.t.Fatal("agent not ready")
	}
}

// metric returns the value of a counter or gauge without labels.
func (h *harness) metric(name string) float64 {
	h.t.Helper()
	mfs, err := h.reg.Gather()
	if err != nil {
		h.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		m := mf.GetMetric()[0]
		switch mf.GetType() {
		case dto.MetricType_COUNTER:
			return m.GetCounter().GetValue()
		case dto.MetricType_GAUGE:
			return m.GetGauge().GetValue()
		case dto.MetricType_HISTOGRAM:
			return float64(m.GetHistogram().GetSampleCount())
		}
	}
	h.t.Fatalf("no metric %s", name)
	return 0
}
