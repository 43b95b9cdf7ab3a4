package source

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	v3 "github.com/tabby-project/tabby/api/v3"
	"github.com/tabby-project/tabby/datastore"
	"github.com/tabby-project/tabby/datastore/memory"
	"github.com/tabby-project/tabby/k8s"
)

// ErrClosed is returned by Run and by the Store methods of a closed Source.
var ErrClosed = fmt.Errorf("source: closed: %w", datastore.ErrUnavailable)

// ErrRunning is returned by a second call of Run.
var ErrRunning = errors.New("source: already running")

// Option configures a Source.
type Option func(*Source)

// WithLogger sets the logger for conversion reports and store errors; by
// default they are discarded (Reports still holds them).
func WithLogger(l *slog.Logger) Option {
	return func(s *Source) { s.log = l }
}

// WithReportFunc sets a function called, from an informer goroutine, with
// every report of an object whose reports changed. It must not block.
func WithReportFunc(f func(k8s.Report)) Option {
	return func(s *Source) { s.onReport = f }
}

// Source is a read-only datastore.Store of the Calico objects converted
// from a Kubernetes API. Its methods are safe for concurrent use.
type Source struct {
	client   kubernetes.Interface
	log      *slog.Logger
	onReport func(k8s.Report)
	store    *memory.Store

	synced chan struct{}
	done   chan struct{}

	mu        sync.Mutex
	running   bool
	closed    bool
	converted map[ident]v3.Object
	reports   map[ident][]k8s.Report
}

// ident names a Kubernetes object.
type ident struct {
	kind, namespace, name string
}

var _ datastore.Store = (*Source)(nil)

// New returns a Source reading from client. It serves nothing until Run
// has synced its informers.
func New(client kubernetes.Interface, opts ...Option) *Source {
	s := &Source{
		client:    client,
		log:       slog.New(slog.DiscardHandler),
		store:     memory.New(),
		synced:    make(chan struct{}),
		done:      make(chan struct{}),
		converted: make(map[ident]v3.Object),
		reports:   make(map[ident][]k8s.Report),
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Run starts the informers, waits for their initial lists to be converted,
// then follows the API server until ctx is done or the Source is closed. It
// returns nil when either happens after the sync, ErrClosed if the Source
// was closed before it, and an error wrapping ctx's cause if ctx ended the
// sync. Once Run has returned, the store keeps serving the last state it
// saw until Close.
func (s *Source) Run(ctx context.Context) error {
	s.mu.Lock()
	switch {
	case s.closed:
		s.mu.Unlock()
		return ErrClosed
	case s.running:
		s.mu.Unlock()
		return ErrRunning
	}
	s.running = true
	s.mu.Unlock()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-s.done:
			cancel()
		case <-ctx.Done():
		}
	}()

	factory := informers.NewSharedInformerFactory(s.client, 0)
	defer factory.Shutdown()
	kinds := []struct {
		kind     string
		informer cache.SharedIndexInformer
	}{
		{"Namespace", factory.Core().V1().Namespaces().Informer()},
		{"ServiceAccount", factory.Core().V1().ServiceAccounts().Informer()},
		{"Pod", factory.Core().V1().Pods().Informer()},
		{"NetworkPolicy", factory.Networking().V1().NetworkPolicies().Informer()},
	}
	var synced []cache.InformerSynced
	for _, k := range kinds {
		reg, err := k.informer.AddEventHandler(s.handler(ctx, k.kind))
		if err != nil {
			return fmt.Errorf("source: watch %s: %w", k.kind, err)
		}
		synced = append(synced, reg.HasSynced)
	}
	factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		if s.isClosed() {
			return ErrClosed
		}
		return fmt.Errorf("source: informers did not sync: %w", context.Cause(ctx))
	}
	close(s.synced)
	<-ctx.Done()
	return nil
}

// WaitForSync blocks until the informers have synced, ctx is done or the
// Source is closed.
func (s *Source) WaitForSync(ctx context.Context) error {
	select {
	case <-s.synced:
		return nil
	case <-s.done:
		return ErrClosed
	case <-ctx.Done():
		return fmt.Errorf("source: wait for informer sync: %w", ctx.Err())
	}
}

// Reports returns the current reports of every object that is not
// converted or converted with a warning, sorted by kind, namespace and
// name.
func (s *Source) Reports() []k8s.Report {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []k8s.Report
	for _, rs := range s.reports {
		out = append(out, rs...)
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		return a.Name < b.Name
	})
	return out
}

func (s *Source) handler(ctx context.Context, kind string) cache.ResourceEventHandler {
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { s.upsert(ctx, kind, obj) },
		UpdateFunc: func(_, obj any) { s.upsert(ctx, kind, obj) },
		DeleteFunc: func(obj any) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			s.remove(ctx, kind, obj)
		},
	}
}

// identify names obj, which must be of one of the kinds Run watches.
func identify(kind string, obj any) (ident, runtime.Object, bool) {
	var m metav1.Object
	switch o := obj.(type) {
	case *corev1.Namespace:
		m = o
	case *corev1.ServiceAccount:
		m = o
	case *corev1.Pod:
		m = o
	case *networkingv1.NetworkPolicy:
		m = o
	default:
		return ident{}, nil, false
	}
	return ident{kind: kind, namespace: m.GetNamespace(), name: m.GetName()}, obj.(runtime.Object), true
}

func (s *Source) upsert(ctx context.Context, kind string, obj any) {
	id, robj, ok := identify(kind, obj)
	if !ok {
		s.log.Error("unexpected object from informer", "kind", kind, "type", fmt.Sprintf("%T", obj))
		return
	}
	res := k8s.Convert([]runtime.Object{robj})

	s.mu.Lock()
	defer s.mu.Unlock()
	s.setReports(id, res.Reports)
	prev, had := s.converted[id]
	var ops []datastore.Op
	if len(res.Objects) == 1 {
		obj := res.Objects[0]
		if had && v3.KeyOf(prev) != v3.KeyOf(obj) {
			ops = append(ops, datastore.DeleteOp(v3.KeyOf(prev), ""))
		}
		if !had || !equality.Semantic.DeepEqual(prev, obj) {
			ops = append(ops, datastore.ApplyOp(obj))
		}
		s.converted[id] = obj
	} else if had {
		ops = append(ops, datastore.DeleteOp(v3.KeyOf(prev), ""))
		delete(s.converted, id)
	}
	s.commit(ctx, id, ops)
}

func (s *Source) remove(ctx context.Context, kind string, obj any) {
	id, _, ok := identify(kind, obj)
	if !ok {
		s.log.Error("unexpected object from informer", "kind", kind, "type", fmt.Sprintf("%T", obj))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setReports(id, nil)
	if prev, had := s.converted[id]; had {
		delete(s.converted, id)
		s.commit(ctx, id, []datastore.Op{datastore.DeleteOp(v3.KeyOf(prev), "")})
	}
}

// commit writes ops to the store in one revision. Called with mu held, so
// that the store sees the changes in the order the informers delivered
// them.
func (s *Source) commit(ctx context.Context, id ident, ops []datastore.Op) {
	if len(ops) == 0 {
		return
	}
	if _, err := s.store.Txn(ctx, ops); err != nil && !s.closed {
		s.log.Error("store converted object", "kind", id.kind, "namespace", id.namespace, "name", id.name, "err", err)
	}
}

// setReports records the reports of id, passing them on if they changed.
// Called with mu held.
func (s *Source) setReports(id ident, rs []k8s.Report) {
	old := s.reports[id]
	if len(rs) == 0 {
		delete(s.reports, id)
	} else {
		s.reports[id] = rs
	}
	if slices.EqualFunc(old, rs, func(a, b k8s.Report) bool { return a.String() == b.String() }) {
		return
	}
	for _, r := range rs {
		if r.Skipped() {
			s.log.Warn("kubernetes object not converted", "kind", r.Kind, "namespace", r.Namespace, "name", r.Name, "err", r.Err)
		} else {
			s.log.Warn("kubernetes object converted with a warning", "kind", r.Kind, "namespace", r.Namespace, "name", r.Name, "warning", r.Warning)
		}
		if s.onReport != nil {
			s.onReport(r)
		}
	}
}

func (s *Source) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// Get implements datastore.Store, once the informers have synced.
func (s *Source) Get(ctx context.Context, key v3.Key) (v3.Object, error) {
	if err := s.WaitForSync(ctx); err != nil {
		return nil, fmt.Errorf("get %v: %w", key, err)
	}
	return s.store.Get(ctx, key)
}

// List implements datastore.Store, once the informers have synced.
func (s *Source) List(ctx context.Context, kind, namespace string) (datastore.ListResult, error) {
	if err := s.WaitForSync(ctx); err != nil {
		return datastore.ListResult{}, fmt.Errorf("list %s: %w", kind, err)
	}
	return s.store.List(ctx, kind, namespace)
}

// Watch implements datastore.Store, once the informers have synced.
func (s *Source) Watch(ctx context.Context, kind string, fromRevision int64) (<-chan datastore.Event, error) {
	if err := s.WaitForSync(ctx); err != nil {
		return nil, fmt.Errorf("watch %s: %w", kind, err)
	}
	return s.store.Watch(ctx, kind, fromRevision)
}

const readOnly = "the Kubernetes source is read-only"

// Create fails with datastore.ErrNotSupported.
func (s *Source) Create(_ context.Context, obj v3.Object) (v3.Object, error) {
	return nil, datastore.NotSupportedError("Create", v3.KeyOf(obj), readOnly)
}

// Update fails with datastore.ErrNotSupported.
func (s *Source) Update(_ context.Context, obj v3.Object) (v3.Object, error) {
	return nil, datastore.NotSupportedError("Update", v3.KeyOf(obj), readOnly)
}

// Apply fails with datastore.ErrNotSupported.
func (s *Source) Apply(_ context.Context, obj v3.Object) (v3.Object, error) {
	return nil, datastore.NotSupportedError("Apply", v3.KeyOf(obj), readOnly)
}

// Delete fails with datastore.ErrNotSupported.
func (s *Source) Delete(_ context.Context, key v3.Key, _ string) (v3.Object, error) {
	return nil, datastore.NotSupportedError("Delete", key, readOnly)
}

// Txn fails with datastore.ErrNotSupported, naming its first operation.
func (s *Source) Txn(_ context.Context, ops []datastore.Op) ([]v3.Object, error) {
	if len(ops) == 0 {
		return nil, datastore.NotSupportedError("Txn", v3.Key{}, readOnly)
	}
	return nil, datastore.NotSupportedError(ops[0].Type.String(), ops[0].Target(), readOnly)
}

// Close stops Run and ends every watch. It is safe to call more than once.
func (s *Source) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.done)
	s.mu.Unlock()
	if err := s.store.Close(); err != nil {
		return fmt.Errorf("source: close: %w", err)
	}
	return nil
}
