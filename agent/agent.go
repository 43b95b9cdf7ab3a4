package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	v3 "github.com/tabby-project/tabby/api/v3"
	"github.com/tabby-project/tabby/dataplane/nft"
	"github.com/tabby-project/tabby/datastore"
)

// Defaults of Config's zero fields.
const (
	DefaultRetryMin       = 100 * time.Millisecond
	DefaultRetryMax       = 5 * time.Second
	DefaultCoalesce       = 10 * time.Millisecond
	DefaultHealthInterval = 10 * time.Second
)

// Errors New and Run return.
var (
	// ErrConfig is wrapped by the errors of New for a Config it cannot use.
	ErrConfig = errors.New("agent: invalid configuration")
	// ErrRunning is returned by a second call of Run on the same Agent.
	ErrRunning = errors.New("agent: already running")
)

// errWatchClosed ends a session whose watch channel closed without an
// Error event (the store was closed).
var errWatchClosed = errors.New("agent: watch closed")

// Dataplane is what the agent needs of a dataplane: *nft.Dataplane
// implements it. Sync makes the kernel hold what in renders, as one atomic
// change from what it programmed before; it must not retain in, which the
// agent keeps changing. Counters and Programmed read back what is
// programmed (nft.ErrNotProgrammed, nil before the first Sync). Close
// releases the dataplane and leaves the programmed rules in the kernel.
type Dataplane interface {
	Sync(ctx context.Context, in *nft.Input) (nft.Changes, error)
	Counters(ctx context.Context) ([]nft.Counter, error)
	Programmed() *nft.Model
	Close() error
}

var _ Dataplane = (*nft.Dataplane)(nil)

// NewNFTDataplane returns an nftables dataplane for cfg (nft.New): the
// default Config.NewDataplane.
func NewNFTDataplane(cfg nft.Config) (Dataplane, error) {
	dp, err := nft.New(cfg)
	if err != nil {
		return nil, err
	}
	return dp, nil
}

// Config configures an Agent. NodeName and Store are required; every
// other zero field has a working default.
type Config struct {
	// NodeName is the Calico node name of this host: the workload and host
	// endpoints whose spec.node equals it are enforced here, and the
	// FelixConfiguration named "node.<NodeName>" applies.
	NodeName string
	// Store is the datastore to list and watch. The agent never writes to
	// it and does not close it.
	Store datastore.Store

	// DataplaneConfig is the dataplane configuration before
	// FelixConfiguration: the FelixConfiguration "default", then
	// "node.<NodeName>", then Felix are applied over it (nft.Config
	// ApplyFelix), later ones winning, as Felix ranks global, per-host and
	// environment settings. Its NetNS is also where the flow-log reader
	// and the host-endpoint interface lookup work, and LogGroup the nflog
	// group flow logs are read from.
	DataplaneConfig nft.Config
	// Felix holds FelixConfiguration fields set in the environment
	// (FELIX_<FIELD>, see FromEnv); they override the datastore's. Nil
	// means none.
	Felix *v3.FelixConfigurationSpec
	// NewDataplane creates a dataplane for a configuration; nil means
	// NewNFTDataplane. The agent creates one after its first list, and a
	// new one whenever the effective configuration changes (a
	// FelixConfiguration edit), which it syncs in full before closing the
	// old one.
	NewDataplane func(nft.Config) (Dataplane, error)

	// Registerer receives the agent's metrics (see metrics.go); nil means
	// no metrics.
	Registerer prometheus.Registerer
	// FlowLog receives a JSON line (FlowLog) for every packet the rules
	// log to DataplaneConfig.LogGroup; nil disables flow logs. It is
	// written from one goroutine.
	FlowLog io.Writer
	// Logger receives the agent's own log; nil discards it.
	Logger *slog.Logger

	// OnReady is called once, after the first successful Sync.
	OnReady func()
	// ReadyFile, if set, is created after the first successful Sync and
	// removed when Run starts and when it returns: a readiness probe can
	// test for it.
	ReadyFile string

	// InterfaceForIPs finds the interface holding one of addrs, for host
	// endpoints with expectedIPs and no interfaceName; nil means a lookup
	// of the addresses in DataplaneConfig.NetNS.
	InterfaceForIPs func(ctx context.Context, addrs []netip.Addr) (string, error)

	// RetryMin and RetryMax bound the exponential backoff between attempts
	// while the datastore or the dataplane fails (DefaultRetryMin,
	// DefaultRetryMax when zero).
	RetryMin, RetryMax time.Duration
	// Coalesce is how long the agent waits for a further watch event before
	// programming what it has (DefaultCoalesce when zero): a burst of
	// changes, such as the events of one transaction, becomes one Sync.
	// A batch is cut after 20 times Coalesce however busy the watch is.
	Coalesce time.Duration
	// HealthInterval is how often the agent checks that the datastore
	// answers, for the connection-state gauge (DefaultHealthInterval when
	// zero; negative disables the check).
	HealthInterval time.Duration
}

// Agent is the per-host loop: datastore → engine → dataplane. Create it
// with New and run it with Run.
type Agent struct {
	cfg     Config
	log     *slog.Logger
	m       *metrics
	ready   chan struct{}
	readyMu sync.Once
	running atomic.Bool

	// mu guards dp and dpCfg, which Run replaces and the metrics collector
	// and the flow-log reader read.
	mu    sync.Mutex
	dp    Dataplane
	dpCfg nft.Config

	// felixErr is the last FelixConfiguration problem logged, so that it
	// is logged once rather than at every Sync (Run's goroutine only).
	felixErr string
}

// New checks cfg, fills in its defaults and registers the metrics. The
// dataplane configuration (DataplaneConfig with Felix applied) must be
// valid: a FelixConfiguration in the datastore that is not is ignored at
// run time, with an error logged, in favour of this one.
func New(cfg Config) (*Agent, error) {
	var errs []error
	if cfg.NodeName == "" {
		errs = append(errs, fmt.Errorf("%w: NodeName is empty", ErrConfig))
	}
	if cfg.Store == nil {
		errs = append(errs, fmt.Errorf("%w: Store is nil", ErrConfig))
	}
	if cfg.FlowLog != nil && cfg.DataplaneConfig.LogGroup == 0 {
		errs = append(errs, fmt.Errorf("%w: FlowLog needs DataplaneConfig.LogGroup, the nflog group to read", ErrConfig))
	}
	if err := checkDataplaneConfig(baseDataplaneConfig(cfg)); err != nil {
		errs = append(errs, fmt.Errorf("%w: %w", ErrConfig, err))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if cfg.NewDataplane == nil {
		cfg.NewDataplane = NewNFTDataplane
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.InterfaceForIPs == nil {
		cfg.InterfaceForIPs = interfaceLookup(cfg.DataplaneConfig.NetNS)
	}
	if cfg.RetryMin <= 0 {
		cfg.RetryMin = DefaultRetryMin
	}
	if cfg.RetryMax <= 0 {
		cfg.RetryMax = DefaultRetryMax
	}
	cfg.RetryMax = max(cfg.RetryMax, cfg.RetryMin)
	if cfg.Coalesce <= 0 {
		cfg.Coalesce = DefaultCoalesce
	}
	if cfg.HealthInterval == 0 {
		cfg.HealthInterval = DefaultHealthInterval
	}
	a := &Agent{cfg: cfg, log: cfg.Logger.With("node", cfg.NodeName), ready: make(chan struct{})}
	a.m = newMetrics(a)
	if cfg.Registerer != nil {
		if err := a.m.register(cfg.Registerer); err != nil {
			return nil, fmt.Errorf("agent: register metrics: %w", err)
		}
	}
	return a, nil
}

// Ready returns a channel closed once the agent has programmed the
// dataplane for the first time.
func (a *Agent) Ready() <-chan struct{} { return a.ready }

// Run enforces the datastore's policy on this host until ctx is done, then
// returns nil; it returns an error only for a second call. It never
// removes what it programmed: the kernel keeps enforcing the last policy
// after Run returns or the process dies, and a later Run reconciles from
// there.
//
// Run lists every resource at one revision, computes the local endpoints'
// policy and programs it (then the agent is ready), and watches from that
// revision, programming each batch of changes. After a watch error or a
// compaction it lists again into a fresh engine and programs the result
// as one change, so policy goes from one consistent state of the datastore
// to another and nothing the datastore denies is let through meanwhile.
// While the datastore is unreachable it retries with backoff and leaves
// the programmed rules alone.
func (a *Agent) Run(ctx context.Context) error {
	if !a.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	a.removeReadyFile()
	defer a.removeReadyFile()
	defer a.closeDataplane()

	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if a.cfg.FlowLog != nil {
		wg.Go(func() { a.runFlowLogs(ctx) })
	}
	if a.cfg.HealthInterval > 0 {
		wg.Go(func() { a.checkHealth(ctx) })
	}

	delay := a.cfg.RetryMin
	resync := false
	for {
		programmed, err := a.session(ctx, resync)
		if ctx.Err() != nil {
			return nil
		}
		if programmed {
			resync, delay = true, a.cfg.RetryMin
		}
		a.log.Warn("resynchronising from a full list", "error", err, "after", delay)
		if !sleep(ctx, delay) {
			return nil
		}
		delay = min(2*delay, a.cfg.RetryMax)
	}
}

// session lists, programs and watches until the watch fails; resync says
// whether an earlier session programmed the dataplane. programmed reports
// whether this one did.
func (a *Agent) session(ctx context.Context, resync bool) (programmed bool, err error) {
	list, err := a.cfg.Store.List(ctx, "", "")
	if err != nil {
		a.m.connected.Set(0)
		return false, fmt.Errorf("list: %w", err)
	}
	a.m.connected.Set(1)
	st := newState(a.cfg.NodeName, a.cfg.InterfaceForIPs, a.log)
	for _, obj := range list.Items {
		st.upsert(obj)
	}
	st.flush(ctx)
	if err := a.program(ctx, st); err != nil {
		return false, err
	}
	if resync {
		a.m.resyncs.Inc()
	}
	a.markReady()
	a.log.Info("programmed from a full list", "revision", list.Revision,
		"endpoints", len(st.in.Endpoints), "resources", len(list.Items))

	events, err := a.cfg.Store.Watch(ctx, "", list.Revision)
	if err != nil {
		a.m.connected.Set(0)
		return true, fmt.Errorf("watch from revision %d: %w", list.Revision, err)
	}
	return true, a.watch(ctx, st, events)
}

// watch applies the events to st in batches and programs each batch.
// A failed Sync is retried with backoff while events keep coming in; the
// Input always holds the latest state, so the retry programs that.
func (a *Agent) watch(ctx context.Context, st *state, events <-chan datastore.Event) error {
	var received []time.Time // events applied but not yet programmed
	var retry <-chan time.Time
	delay := a.cfg.RetryMin
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-retry:
			retry = nil
		case ev, ok := <-events:
			if !ok {
				return errWatchClosed
			}
			batch, err := a.collect(ctx, ev, events)
			if err != nil {
				// The resync that follows reads everything again.
				if errors.Is(err, datastore.ErrUnavailable) {
					a.m.connected.Set(0)
				}
				return err
			}
			for _, te := range batch {
				st.apply(te.ev)
				received = append(received, te.at)
			}
			st.flush(ctx)
		}
		if len(received) == 0 || retry != nil {
			continue
		}
		if err := a.program(ctx, st); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			a.log.Error("programming the dataplane failed; retrying", "error", err, "after", delay)
			retry = time.After(delay)
			delay = min(2*delay, a.cfg.RetryMax)
			continue
		}
		delay = a.cfg.RetryMin
		done := time.Now()
		for _, t := range received {
			a.m.latency.Observe(done.Sub(t).Seconds())
		}
		received = received[:0]
	}
}

// timedEvent is a watch event and when the agent received it.
type timedEvent struct {
	ev datastore.Event
	at time.Time
}

// collect gathers a burst of events: first, and those following it with
// less than Coalesce between two, for at most 20 Coalesce. An Error event
// or the end of the stream ends the burst with an error.
func (a *Agent) collect(ctx context.Context, first datastore.Event, events <-chan datastore.Event) ([]timedEvent, error) {
	if first.Type == datastore.Error {
		return nil, watchError(first)
	}
	batch := []timedEvent{{first, time.Now()}}
	gap := time.NewTimer(a.cfg.Coalesce)
	defer gap.Stop()
	limit := time.NewTimer(20 * a.cfg.Coalesce)
	defer limit.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-gap.C:
			return batch, nil
		case <-limit.C:
			return batch, nil
		case ev, ok := <-events:
			if !ok {
				return nil, errWatchClosed
			}
			if ev.Type == datastore.Error {
				return nil, watchError(ev)
			}
			batch = append(batch, timedEvent{ev, time.Now()})
			gap.Reset(a.cfg.Coalesce)
		}
	}
}

func watchError(ev datastore.Event) error {
	if ev.Err == nil {
		return errors.New("agent: watch failed")
	}
	return fmt.Errorf("watch: %w", ev.Err)
}

// program syncs st's Input to the dataplane, first replacing the dataplane
// if the effective configuration changed. A new dataplane's first Sync
// replaces the table whole in one transaction, so a configuration change
// never leaves a moment without policy either.
func (a *Agent) program(ctx context.Context, st *state) error {
	want := a.dataplaneConfig(st)
	a.mu.Lock()
	dp, have := a.dp, a.dpCfg
	a.mu.Unlock()
	if dp != nil && reflect.DeepEqual(want, have) {
		return a.sync(ctx, dp, st)
	}
	ndp, err := a.cfg.NewDataplane(want)
	if err != nil {
		return fmt.Errorf("create dataplane: %w", err)
	}
	if err := a.sync(ctx, ndp, st); err != nil {
		if dp == nil {
			// The first dataplane is kept for the retries.
			a.mu.Lock()
			a.dp, a.dpCfg = ndp, want
			a.mu.Unlock()
		} else if cerr := ndp.Close(); cerr != nil {
			a.log.Warn("closing a dataplane that failed its first sync", "error", cerr)
		}
		return err
	}
	a.mu.Lock()
	a.dp, a.dpCfg = ndp, want
	a.mu.Unlock()
	if dp != nil {
		a.log.Info("dataplane configuration changed; dataplane replaced")
		if err := dp.Close(); err != nil {
			a.log.Warn("closing the previous dataplane", "error", err)
		}
	}
	return nil
}

func (a *Agent) sync(ctx context.Context, dp Dataplane, st *state) error {
	changes, err := dp.Sync(ctx, st.in)
	if err != nil {
		a.m.syncErrors.Inc()
		return fmt.Errorf("sync dataplane: %w", err)
	}
	a.m.syncs.Inc()
	if m := dp.Programmed(); m != nil {
		a.m.rules.Set(float64(m.Stats().Rules))
	}
	if !changes.Empty() {
		a.log.Debug("dataplane synced", "changes", fmt.Sprintf("%+v", changes))
	}
	return nil
}

// dataplaneConfig is the configuration the dataplane should have for st:
// DataplaneConfig, then the global and per-node FelixConfiguration, then
// the environment's. If the datastore's settings make it invalid they are
// ignored.
func (a *Agent) dataplaneConfig(st *state) nft.Config {
	c := a.cfg.DataplaneConfig
	for _, name := range []string{"default", "node." + a.cfg.NodeName} {
		if spec, ok := st.felix[name]; ok {
			c.ApplyFelix(spec)
		}
	}
	if a.cfg.Felix != nil {
		c.ApplyFelix(a.cfg.Felix)
	}
	if err := checkDataplaneConfig(c); err != nil {
		if err.Error() != a.felixErr {
			a.felixErr = err.Error()
			a.log.Error("FelixConfiguration in the datastore is not usable; ignoring it", "error", err)
		}
		return baseDataplaneConfig(a.cfg)
	}
	a.felixErr = ""
	return c
}

// baseDataplaneConfig is DataplaneConfig with the environment's Felix
// settings applied.
func baseDataplaneConfig(cfg Config) nft.Config {
	c := cfg.DataplaneConfig
	if cfg.Felix != nil {
		c.ApplyFelix(cfg.Felix)
	}
	return c
}

// checkDataplaneConfig reports whether the dataplane accepts c (rendering
// nothing is how nft validates a configuration without a kernel).
func checkDataplaneConfig(c nft.Config) error {
	_, err := nft.Render(c, &nft.Input{})
	return err
}

func (a *Agent) markReady() {
	a.readyMu.Do(func() {
		if a.cfg.ReadyFile != "" {
			if err := os.WriteFile(a.cfg.ReadyFile, []byte("ready\n"), 0o644); err != nil {
				a.log.Error("writing the ready file", "file", a.cfg.ReadyFile, "error", err)
			}
		}
		if a.cfg.OnReady != nil {
			a.cfg.OnReady()
		}
		close(a.ready)
		a.log.Info("ready: policy programmed")
	})
}

func (a *Agent) removeReadyFile() {
	if a.cfg.ReadyFile == "" {
		return
	}
	if err := os.Remove(a.cfg.ReadyFile); err != nil && !errors.Is(err, os.ErrNotExist) {
		a.log.Error("removing the ready file", "file", a.cfg.ReadyFile, "error", err)
	}
}

// dataplane returns the current dataplane, nil before the first one.
func (a *Agent) dataplane() Dataplane {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.dp
}

func (a *Agent) closeDataplane() {
	a.mu.Lock()
	dp := a.dp
	a.dp = nil
	a.mu.Unlock()
	if dp != nil {
		if err := dp.Close(); err != nil {
			a.log.Warn("closing the dataplane", "error", err)
		}
	}
}

// checkHealth keeps the connection gauge current: the watch of an
// unreachable etcd stays silent rather than failing, so the agent asks the
// datastore for one resource now and then.
func (a *Agent) checkHealth(ctx context.Context) {
	t := time.NewTicker(a.cfg.HealthInterval)
	defer t.Stop()
	key := v3.Key{Kind: v3.KindFelixConfiguration, Name: "default"}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		rctx, cancel := context.WithTimeout(ctx, a.cfg.HealthInterval)
		_, err := a.cfg.Store.Get(rctx, key)
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case err == nil || errors.Is(err, datastore.ErrNotFound):
			a.m.connected.Set(1)
		default:
			a.m.connected.Set(0)
		}
	}
}

// sleep waits d or until ctx is done, and reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
