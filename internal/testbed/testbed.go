//go:build linux

package testbed

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	v3 "github.com/tabby-project/tabby/api/v3"
	"github.com/tabby-project/tabby/datastore"
	"github.com/tabby-project/tabby/datastore/etcd"
	"github.com/tabby-project/tabby/datastore/etcd/embedded"
	"github.com/tabby-project/tabby/lab"
)

// Defaults of Options' zero fields.
const (
	// DefaultReadyTimeout bounds the wait for every agent's first
	// programming in Up.
	DefaultReadyTimeout = 60 * time.Second
	// DefaultSyncTimeout bounds WaitProgrammed when its context has no
	// deadline.
	DefaultSyncTimeout = 30 * time.Second
	// cleanupTimeout bounds the datastore clean-up of Down.
	cleanupTimeout = 10 * time.Second
)

// ErrNotReady is wrapped by the error of Up when an agent has not
// programmed its host within Options.ReadyTimeout, and by WaitProgrammed's
// when the agents do not catch up before its deadline.
var ErrNotReady = errors.New("testbed: agents did not program the datastore's state in time")

// Options configure a Lab. The zero value is ready to use: a random run id,
// an embedded etcd in a temporary directory, the topology's endpoints
// written to it.
type Options struct {
	// RunID names the lab's network namespaces (see lab.Options).
	RunID string
	// Etcd, if not nil, is the etcd cluster to use (ETCD_ENDPOINTS);
	// nil starts an embedded etcd on a free loopback port, with its data
	// in DataDir.
	Etcd *etcd.Config
	// DataDir holds the embedded etcd's data; empty means a temporary
	// directory. Down removes it either way.
	DataDir string
	// EtcdSocket makes the embedded etcd serve clients on the unix socket
	// client.sock in DataDir instead of a loopback port: a socket file
	// reaches processes inside the lab's network namespaces, whose
	// loopback is not the test's. EtcdEndpoints then returns its
	// unix:///path URL. DataDir must then be short enough for a socket
	// path (108 bytes).
	EtcdSocket bool
	// NoAgents makes Up start no in-process agent, for callers that run
	// their own (tabby-node processes in the hosts' namespaces, say).
	// StartAgent still starts in-process ones; WaitProgrammed waits only
	// for those.
	NoAgents bool
	// Initial are the resources written before the agents start; nil means
	// TopologyObjects of the topology. Pass an empty slice to write none.
	Initial []v3.Object
	// ProbeTimeout and Workers tune the probes (see lab.Options).
	ProbeTimeout time.Duration
	Workers      int
	// ReadyTimeout bounds Up's wait for the agents (DefaultReadyTimeout if
	// zero).
	ReadyTimeout time.Duration
	// FlowLog, if set, receives the flow-log lines of every in-process
	// agent (nflog group agent.DefaultLogGroup in each host); it must be
	// safe for concurrent writes of whole lines.
	FlowLog io.Writer
	// Logger receives the agents' logs; nil discards them.
	Logger *slog.Logger
	// Progress, if set, is told what Up and Down are doing, one line at a
	// time.
	Progress func(msg string)
}

// Lab is a running testbed: the network namespaces of a topology, a
// datastore, and an agent per host enforcing the datastore's policy in the
// host's namespace. Its methods are safe for concurrent use, except Down.
type Lab struct {
	topo   *lab.Topology
	opts   Options
	fabric *lab.Fabric
	store  datastore.Store
	etcd   *embedded.Server
	cfg    etcd.Config
	// tmpDir is the data directory Up made, removed by Down.
	tmpDir string
	log    *slog.Logger

	mu     sync.Mutex
	agents map[string]*hostAgent
	// written are the keys the lab wrote, deleted by Down from an external
	// etcd.
	written map[v3.Key]bool
	barrier int

	downOnce sync.Once
	downErr  error
}

// Up builds the topology's namespaces, starts or connects to the
// datastore, writes Options.Initial, starts one agent per host (none with
// Options.NoAgents) and waits until each has programmed its host. On error everything made is removed.
// The caller must call Down, also when the program is interrupted.
func Up(ctx context.Context, topo *lab.Topology, opts Options) (l *Lab, err error) {
	if opts.ReadyTimeout <= 0 {
		opts.ReadyTimeout = DefaultReadyTimeout
	}
	l = &Lab{
		topo:    topo,
		opts:    opts,
		log:     opts.Logger,
		agents:  map[string]*hostAgent{},
		written: map[v3.Key]bool{},
	}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, l.Down())
			l = nil
		}
	}()
	l.progress("building %d hosts and %d workloads as network namespaces", len(topo.Hosts), countWorkloads(topo))
	l.fabric, err = lab.Up(ctx, topo, lab.Options{RunID: opts.RunID, ProbeTimeout: opts.ProbeTimeout, Workers: opts.Workers})
	if err != nil {
		return l, err
	}
	if err := l.openDatastore(ctx); err != nil {
		return l, err
	}
	initial := opts.Initial
	if initial == nil {
		if initial, err = TopologyObjects(topo, l.fabric); err != nil {
			return l, err
		}
	}
	if len(initial) > 0 {
		l.progress("writing %d resources to the datastore", len(initial))
		if _, err := l.Apply(ctx, initial...); err != nil {
			return l, err
		}
	}
	if opts.NoAgents {
		return l, nil
	}
	l.progress("starting an agent in each of %d hosts", len(topo.Hosts))
	for _, h := range l.fabric.Hosts() {
		if err := l.StartAgent(ctx, h.Name); err != nil {
			return l, err
		}
	}
	rctx, cancel := context.WithTimeout(ctx, opts.ReadyTimeout)
	defer cancel()
	for _, h := range l.fabric.Hosts() {
		if err := l.agent(h.Name).waitReady(rctx); err != nil {
			return l, fmt.Errorf("agent of host %s: %w", h.Name, err)
		}
	}
	return l, nil
}

func countWorkloads(topo *lab.Topology) int {
	n := 0
	for _, h := range topo.Hosts {
		n += len(h.Workloads)
	}
	return n
}

func (l *Lab) progress(format string, args ...any) {
	if l.opts.Progress != nil {
		l.opts.Progress(fmt.Sprintf(format, args...))
	}
}

// openDatastore starts the embedded etcd (unless Options.Etcd names one)
// and opens the lab's own client.
func (l *Lab) openDatastore(ctx context.Context) error {
	if l.opts.Etcd != nil {
		l.cfg = *l.opts.Etcd
		l.progress("using etcd at %v", l.cfg.Endpoints)
	} else {
		dir := l.opts.DataDir
		if dir == "" {
			tmp, err := os.MkdirTemp("", "tabby-lab-etcd-")
			if err != nil {
				return fmt.Errorf("testbed: etcd data directory: %w", err)
			}
			l.tmpDir, dir = tmp, tmp
		} else {
			l.tmpDir = dir
		}
		l.progress("starting an embedded etcd with its data in %s", dir)
		clientURL := "http://127.0.0.1:0"
		if l.opts.EtcdSocket {
			abs, err := filepath.Abs(dir)
			if err != nil {
				return fmt.Errorf("testbed: etcd data directory: %w", err)
			}
			clientURL = "unix://" + filepath.Join(abs, "client.sock")
		}
		srv, err := embedded.Start(ctx, embedded.Config{Dir: dir, ClientURL: clientURL})
		if err != nil {
			return fmt.Errorf("testbed: %w", err)
		}
		l.etcd = srv
		l.cfg = etcd.Config{Endpoints: srv.Endpoints()}
	}
	s, err := etcd.Open(ctx, l.cfg)
	if err != nil {
		return fmt.Errorf("testbed: open datastore: %w", err)
	}
	l.store = s
	return nil
}

// Fabric returns the lab's namespaces, to probe and to look workloads up.
func (l *Lab) Fabric() *lab.Fabric { return l.fabric }

// Topology returns the topology the lab was built from.
func (l *Lab) Topology() *lab.Topology { return l.topo }

// Store returns the lab's datastore client. Writes through it reach the
// agents like any other; WaitProgrammed tells when they are enforced.
func (l *Lab) Store() datastore.Store { return l.store }

// EtcdEndpoints returns the client URLs of the lab's etcd, for calicoctl
// (ETCD_ENDPOINTS).
func (l *Lab) EtcdEndpoints() []string { return slices.Clone(l.cfg.Endpoints) }

// Apply writes objs to the datastore in order, each created or replaced
// whatever its current version, as `calicoctl apply` does, and returns
// them as stored. The objects must be valid; Apply does not validate them.
func (l *Lab) Apply(ctx context.Context, objs ...v3.Object) ([]v3.Object, error) {
	out := make([]v3.Object, 0, len(objs))
	for _, o := range objs {
		stored, err := l.store.Apply(ctx, o)
		if err != nil {
			return out, fmt.Errorf("testbed: apply %s: %w", v3.KeyOf(o), err)
		}
		l.mu.Lock()
		l.written[v3.KeyOf(o)] = true
		l.mu.Unlock()
		out = append(out, stored)
	}
	return out, nil
}

// txnChunk is how many writes ApplyAll and DeleteAll put in one
// transaction.
const txnChunk = 500

// ApplyAll is Apply in transactions of up to 500 writes each, for loading
// many resources at once; each transaction takes effect at one revision.
func (l *Lab) ApplyAll(ctx context.Context, objs []v3.Object) error {
	for from := 0; from < len(objs); from += txnChunk {
		part := objs[from:min(from+txnChunk, len(objs))]
		ops := make([]datastore.Op, len(part))
		for i, o := range part {
			ops[i] = datastore.ApplyOp(o)
		}
		if _, err := l.store.Txn(ctx, ops); err != nil {
			return fmt.Errorf("testbed: apply %d resources: %w", len(part), err)
		}
		l.mu.Lock()
		for _, o := range part {
			l.written[v3.KeyOf(o)] = true
		}
		l.mu.Unlock()
	}
	return nil
}

// DeleteAll is Delete in transactions of up to 500 deletions each; every
// resource must exist.
func (l *Lab) DeleteAll(ctx context.Context, keys []v3.Key) error {
	for from := 0; from < len(keys); from += txnChunk {
		part := keys[from:min(from+txnChunk, len(keys))]
		ops := make([]datastore.Op, len(part))
		for i, k := range part {
			ops[i] = datastore.DeleteOp(k, "")
		}
		if _, err := l.store.Txn(ctx, ops); err != nil {
			return fmt.Errorf("testbed: delete %d resources: %w", len(part), err)
		}
	}
	return nil
}

// Delete removes the resources named by keys, in order; a resource that
// does not exist is not an error.
func (l *Lab) Delete(ctx context.Context, keys ...v3.Key) error {
	for _, k := range keys {
		if _, err := l.store.Delete(ctx, k, ""); err != nil && !errors.Is(err, datastore.ErrNotFound) {
			return fmt.Errorf("testbed: delete %s: %w", k, err)
		}
	}
	return nil
}

// Down stops the agents (leaving their rules, which go with the
// namespaces), removes what the lab wrote to an external etcd, stops the
// embedded etcd and removes its data, and deletes every namespace of the
// run. It is safe to call more than once and returns the first call's
// error.
func (l *Lab) Down() error {
	l.downOnce.Do(func() {
		var errs []error
		l.mu.Lock()
		agents := make([]*hostAgent, 0, len(l.agents))
		for _, a := range l.agents {
			agents = append(agents, a)
		}
		l.mu.Unlock()
		if len(agents) > 0 {
			l.progress("stopping %d agents", len(agents))
		}
		for _, a := range agents {
			a.stop()
		}
		if l.store != nil {
			if l.etcd == nil {
				errs = append(errs, l.forgetWritten())
			}
			errs = append(errs, l.store.Close())
		}
		if l.etcd != nil {
			l.progress("stopping the embedded etcd")
			errs = append(errs, l.etcd.Close())
		}
		if l.tmpDir != "" {
			errs = append(errs, os.RemoveAll(l.tmpDir))
		}
		if l.fabric != nil {
			l.progress("deleting the namespaces of run %s", l.fabric.RunID())
			errs = append(errs, l.fabric.Down())
		}
		l.downErr = errors.Join(errs...)
	})
	return l.downErr
}

// forgetWritten deletes from an external etcd what the lab wrote there.
func (l *Lab) forgetWritten() error {
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	l.mu.Lock()
	keys := make([]v3.Key, 0, len(l.written))
	for k := range l.written {
		keys = append(keys, k)
	}
	l.mu.Unlock()
	if len(keys) == 0 {
		return nil
	}
	l.progress("removing the %d resources the lab wrote from etcd", len(keys))
	return l.Delete(ctx, keys...)
}
