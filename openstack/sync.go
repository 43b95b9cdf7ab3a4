package openstack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	v3 "github.com/tabby-project/tabby/api/v3"
	"github.com/tabby-project/tabby/datastore"
)

// Defaults of SyncConfig.
const (
	// DefaultInterval is the period of Run.
	DefaultInterval = 30 * time.Second
	// DefaultBatchSize bounds a transaction, below etcd's default limit
	// of 128 operations.
	DefaultBatchSize = 100
)

// Source reads one region completely. *Client is the Neutron/Keystone
// implementation.
type Source interface {
	// Snapshot returns the region's state, or an error if any part of it
	// could not be read.
	Snapshot(ctx context.Context) (*Snapshot, error)
}

// SyncConfig configures a Syncer.
type SyncConfig struct {
	// Source reads the region.
	Source Source
	// Store receives the resources.
	Store datastore.Store
	// Region is the Calico region string: the sync owns namespace
	// Namespace(Region) and nothing else.
	Region string
	// Interval is the period of Run (DefaultInterval if zero).
	Interval time.Duration
	// BatchSize bounds the operations of one datastore transaction
	// (DefaultBatchSize if zero; etcd refuses more than 128).
	BatchSize int
	// Logger receives one line per sync and the problems met (discarded if
	// nil).
	Logger *slog.Logger
}

// Syncer keeps one region's namespace of the datastore equal to what
// Neutron says. Only one Syncer may own a namespace.
type Syncer struct {
	cfg SyncConfig
	ns  string
}

// NewSyncer checks cfg and returns a Syncer.
func NewSyncer(cfg SyncConfig) (*Syncer, error) {
	if cfg.Source == nil || cfg.Store == nil {
		return nil, fmt.Errorf("%w: a sync needs a source and a store", ErrConfig)
	}
	if err := CheckRegion(cfg.Region); err != nil {
		return nil, err
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = DefaultBatchSize
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Syncer{cfg: cfg, ns: Namespace(cfg.Region)}, nil
}

// CheckRegion returns an error wrapping ErrConfig if Namespace(region) is
// not a valid namespace name.
func CheckRegion(region string) error {
	ns := Namespace(region)
	probe := &v3.NetworkPolicy{}
	probe.Name, probe.Namespace, probe.Spec.Selector = "probe", ns, "all()"
	v3.Default(probe)
	if err := v3.Validate(probe); err != nil {
		return fmt.Errorf("%w: region %q does not make a valid namespace %q (lower-case letters, digits and '-'): %w",
			ErrConfig, region, ns, err)
	}
	return nil
}

// Namespace returns the namespace the Syncer owns.
func (s *Syncer) Namespace() string { return s.ns }

// Result says what one sync did.
type Result struct {
	// Created, Updated, Deleted and Unchanged count resources.
	Created, Updated, Deleted, Unchanged int
	// Foreign are resources the sync would write but that exist without
	// its marker: they are left alone.
	Foreign []v3.Key
	// Problems are the Neutron objects or rules that were skipped.
	Problems []Problem
	// Duration is how long the sync took.
	Duration time.Duration
}

// SyncOnce reads the region and makes the namespace match it: creates and
// updates the resources that differ, deletes the marked ones Neutron no
// longer has. If the region cannot be read completely it writes nothing.
// Writes are grouped in transactions of at most BatchSize operations,
// policies before endpoints; a failed write is reported and retried by the
// next sync, which starts from what the datastore then holds.
func (s *Syncer) SyncOnce(ctx context.Context) (Result, error) {
	start := time.Now()
	var res Result
	snap, err := s.cfg.Source.Snapshot(ctx)
	if err != nil {
		return res, fmt.Errorf("sync %s: read OpenStack (nothing written): %w", s.ns, err)
	}
	tr := Translate(snap, s.ns)
	res.Problems = tr.Problems
	actual := map[v3.Key]v3.Object{}
	for _, kind := range []string{v3.KindNetworkPolicy, v3.KindWorkloadEndpoint} {
		l, err := s.cfg.Store.List(ctx, kind, s.ns)
		if err != nil {
			return res, fmt.Errorf("sync %s: list %s: %w", s.ns, kind, err)
		}
		for _, o := range l.Items {
			actual[v3.KeyOf(o)] = o
		}
	}
	var upPolicies, upEndpoints, delPolicies, delEndpoints []datastore.Op
	desired := make(map[v3.Key]bool, len(tr.Objects))
	for _, want := range tr.Objects {
		key := v3.KeyOf(want)
		desired[key] = true
		var op datastore.Op
		have, ok := actual[key]
		switch {
		case !ok:
			op = datastore.CreateOp(want)
		case !managed(have):
			res.Foreign = append(res.Foreign, key)
			continue
		case sameContent(want, have):
			res.Unchanged++
			continue
		default:
			want.SetResourceVersion(have.GetResourceVersion())
			want.SetUID(have.GetUID())
			want.SetCreationTimestamp(have.GetCreationTimestamp())
			op = datastore.UpdateOp(want)
		}
		if key.Kind == v3.KindNetworkPolicy {
			upPolicies = append(upPolicies, op)
		} else {
			upEndpoints = append(upEndpoints, op)
		}
	}
	for key, have := range actual {
		if desired[key] || tr.Keep[key] || !managed(have) {
			continue
		}
		op := datastore.DeleteOp(key, have.GetResourceVersion())
		if key.Kind == v3.KindNetworkPolicy {
			delPolicies = append(delPolicies, op)
		} else {
			delEndpoints = append(delEndpoints, op)
		}
	}
	// New groups exist before the VMs that use them; VMs go before the
	// groups they used.
	var errs []error
	for _, ops := range [][]datastore.Op{upPolicies, upEndpoints, delEndpoints, delPolicies} {
		done, err := s.apply(ctx, sortOps(ops))
		for _, op := range done {
			switch op.Type {
			case datastore.OpCreate:
				res.Created++
			case datastore.OpUpdate:
				res.Updated++
			case datastore.OpDelete:
				res.Deleted++
			}
		}
		if err != nil {
			errs = append(errs, err)
			if ctx.Err() != nil || errors.Is(err, datastore.ErrUnavailable) {
				break
			}
		}
	}
	res.Duration = time.Since(start)
	if err := errors.Join(errs...); err != nil {
		return res, fmt.Errorf("sync %s: %w", s.ns, err)
	}
	return res, nil
}

// apply writes ops in transactions and returns the operations that took
// effect. A transaction the backend finds too large is split; one that
// fails otherwise is retried operation by operation, so one conflicting
// resource does not hold back the rest.
func (s *Syncer) apply(ctx context.Context, ops []datastore.Op) ([]datastore.Op, error) {
	var done []datastore.Op
	var errs []error
	batch := s.cfg.BatchSize
	for len(ops) > 0 {
		n := min(batch, len(ops))
		chunk := ops[:n]
		_, err := s.cfg.Store.Txn(ctx, chunk)
		switch {
		case err == nil:
			done = append(done, chunk...)
			ops = ops[n:]
			continue
		case errors.Is(err, datastore.ErrTooLarge) && n > 1:
			batch = max(1, n/2)
			continue
		case ctx.Err() != nil || errors.Is(err, datastore.ErrUnavailable):
			return done, err
		}
		for _, op := range chunk {
			if _, err := s.cfg.Store.Txn(ctx, []datastore.Op{op}); err != nil {
				errs = append(errs, fmt.Errorf("%s %v: %w", op.Type, op.Target(), err))
				if ctx.Err() != nil || errors.Is(err, datastore.ErrUnavailable) {
					return done, errors.Join(errs...)
				}
				continue
			}
			done = append(done, op)
		}
		ops = ops[n:]
	}
	return done, errors.Join(errs...)
}

func sortOps(ops []datastore.Op) []datastore.Op {
	slices.SortFunc(ops, func(a, b datastore.Op) int {
		return strings.Compare(a.Target().Name, b.Target().Name)
	})
	return ops
}

func managed(o v3.Object) bool { return o.GetAnnotations()[AnnotationManagedBy] == ManagedByValue }

// sameContent compares what the sync controls: labels, annotations and
// spec, in their JSON form so that nil and empty lists compare equal.
func sameContent(a, b v3.Object) bool {
	ja, errA := contentJSON(a)
	jb, errB := contentJSON(b)
	return errA == nil && errB == nil && bytes.Equal(ja, jb)
}

func contentJSON(o v3.Object) ([]byte, error) {
	var spec any
	switch r := o.(type) {
	case *v3.NetworkPolicy:
		spec = r.Spec
	case *v3.WorkloadEndpoint:
		spec = r.Spec
	default:
		return nil, fmt.Errorf("unexpected kind %s", v3.KindOf(o))
	}
	return json.Marshal(struct {
		Labels      map[string]string
		Annotations map[string]string
		Spec        any
	}{o.GetLabels(), o.GetAnnotations(), spec})
}

// Run syncs now and then every Interval until ctx is done, logging each
// sync; a failed sync is retried at the next tick. It returns ctx's error.
func (s *Syncer) Run(ctx context.Context) error {
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	for {
		s.logResult(s.SyncOnce(ctx))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

func (s *Syncer) logResult(res Result, err error) {
	log := s.cfg.Logger
	const maxShown = 20
	for i, p := range res.Problems {
		if i == maxShown {
			log.Warn("more problems not shown", "namespace", s.ns, "count", len(res.Problems)-maxShown)
			break
		}
		log.Warn("skipped", "namespace", s.ns, "resource", p.Key.String(), "reason", p.Reason)
	}
	for _, k := range res.Foreign {
		log.Warn("not overwriting a resource Tabby did not create", "namespace", s.ns, "resource", k.String())
	}
	attrs := []any{"namespace", s.ns, "created", res.Created, "updated", res.Updated, "deleted", res.Deleted,
		"unchanged", res.Unchanged, "problems", len(res.Problems), "duration", res.Duration.Round(time.Millisecond)}
	if err != nil {
		log.Error("sync failed", append(attrs, "err", err)...)
		return
	}
	log.Info("synced", attrs...)
}
