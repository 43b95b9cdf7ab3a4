// Package memory is an in-process datastore.Store with etcd's revision
// model, for tests and offline analysis.
//
// Like etcd, the store has one revision counter, starting at 1 when empty,
// that every successful write (one Txn, however many operations) advances
// by one; a resource's resourceVersion is the revision of its last write.
// Values are kept as the JSON the etcd backend would store, so a resource
// read back is exactly what a JSON round trip gives, and callers never share
// memory with the store.
//
// The store keeps a bounded history of changes (WithHistory, by default
// DefaultHistory changes) from which Watch replays. A watch from a revision
// whose changes have been dropped, by the bound or by Compact, ends with an
// ErrCompacted event, as etcd's does. A watcher that falls behind by more
// than the history also gets ErrCompacted rather than slowing writers down.
package memory

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"time"

	v3 "github.com/tabby-project/tabby/api/v3"
	"github.com/tabby-project/tabby/datastore"
	"github.com/tabby-project/tabby/datastore/internal/resource"
)

// DefaultHistory is the number of changes a store keeps for Watch unless
// WithHistory says otherwise.
const DefaultHistory = 10000

// Option configures a Store.
type Option func(*Store)

// WithHistory bounds the history kept for Watch to n changes (n >= 1).
func WithHistory(n int) Option {
	return func(s *Store) {
		if n >= 1 {
			s.limit = n
		}
	}
}

// WithClock sets the clock used for creationTimestamp.
func WithClock(now func() time.Time) Option {
	return func(s *Store) { s.now = now }
}

// Store is the in-memory datastore. The zero value is not usable; call New.
type Store struct {
	limit int
	now   func() time.Time

	mu   sync.Mutex
	rev  int64
	objs map[v3.Key]entry
	// history holds the last changes in revision order; every change with
	// a revision above compacted is in it.
	history   []change
	compacted int64
	// notify is closed and replaced on every write, waking the watchers.
	notify chan struct{}
	closed bool
}

// entry is a stored resource: its JSON value and its mod revision.
type entry struct {
	info v3.KindInfo
	data []byte
	mod  int64
}

// change is one event of the history. For a deletion, data and mod are the
// last stored state.
type change struct {
	rev  int64
	typ  datastore.EventType
	key  v3.Key
	info v3.KindInfo
	data []byte
	mod  int64
}

var _ datastore.Store = (*Store)(nil)

// New returns an empty store at revision 1.
func New(opts ...Option) *Store {
	s := &Store{
		limit:  DefaultHistory,
		now:    time.Now,
		rev:    1,
		objs:   make(map[v3.Key]entry),
		notify: make(chan struct{}),
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

var errClosed = fmt.Errorf("memory store is closed: %w", datastore.ErrUnavailable)

// Revision returns the current revision of the store.
func (s *Store) Revision() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rev
}

// Get implements datastore.Store.
func (s *Store) Get(ctx context.Context, key v3.Key) (v3.Object, error) {
	key, _, err := resource.CheckKey(key)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("get %v: %w", key, err)
	}
	if datastore.IsStatic(key) {
		return datastore.DefaultAllowProfile(), nil
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, errClosed
	}
	e, ok := s.objs[key]
	s.mu.Unlock()
	if !ok {
		return nil, datastore.NotFoundError(key, nil)
	}
	return decode(e.info, e.data, e.mod)
}

// List implements datastore.Store.
func (s *Store) List(ctx context.Context, kind, namespace string) (datastore.ListResult, error) {
	var want string
	if kind != "" {
		info, err := resource.Kind(kind)
		if err != nil {
			return datastore.ListResult{}, err
		}
		want = info.Kind
	}
	if err := ctx.Err(); err != nil {
		return datastore.ListResult{}, fmt.Errorf("list %s: %w", kind, err)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return datastore.ListResult{}, errClosed
	}
	var entries []entry
	for k, e := range s.objs {
		if want != "" && k.Kind != want {
			continue
		}
		if namespace != "" && e.info.Namespaced && k.Namespace != namespace {
			continue
		}
		entries = append(entries, e)
	}
	rev := s.rev
	s.mu.Unlock()

	items := make([]v3.Object, 0, len(entries)+1)
	for _, e := range entries {
		obj, err := decode(e.info, e.data, e.mod)
		if err != nil {
			return datastore.ListResult{}, err
		}
		items = append(items, obj)
	}
	if want == "" || want == v3.KindProfile {
		items = append(items, datastore.DefaultAllowProfile())
	}
	v3.SortObjects(items)
	return datastore.ListResult{Items: items, Revision: rev}, nil
}

// Create implements datastore.Store.
func (s *Store) Create(ctx context.Context, obj v3.Object) (v3.Object, error) {
	return s.one(ctx, datastore.CreateOp(obj))
}

// Update implements datastore.Store.
func (s *Store) Update(ctx context.Context, obj v3.Object) (v3.Object, error) {
	return s.one(ctx, datastore.UpdateOp(obj))
}

// Apply implements datastore.Store.
func (s *Store) Apply(ctx context.Context, obj v3.Object) (v3.Object, error) {
	return s.one(ctx, datastore.ApplyOp(obj))
}

// Delete implements datastore.Store.
func (s *Store) Delete(ctx context.Context, key v3.Key, resourceVersion string) (v3.Object, error) {
	return s.one(ctx, datastore.DeleteOp(key, resourceVersion))
}

func (s *Store) one(ctx context.Context, op datastore.Op) (v3.Object, error) {
	objs, err := s.Txn(ctx, []datastore.Op{op})
	if err != nil {
		return nil, err
	}
	return objs[0], nil
}

// Txn implements datastore.Store. The memory store has no size limit.
func (s *Store) Txn(ctx context.Context, ops []datastore.Op) ([]v3.Object, error) {
	writes, err := resource.CheckOps(ops)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("transaction: %w", err)
	}
	if len(writes) == 0 {
		return nil, nil
	}
	now := s.now()

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errClosed
	}
	// Decide every operation against the current state before changing
	// anything, so that a failure leaves the store untouched.
	changes := make([]change, len(writes))
	for i, w := range writes {
		old, exists := s.objs[w.Key]
		c := change{key: w.Key, info: w.Info}
		switch w.Type {
		case datastore.OpCreate:
			if exists {
				return nil, resource.OpError(i, len(writes), datastore.AlreadyExistsError(w.Key, nil))
			}
			resource.Stamp(w.Object, now)
			c.typ = datastore.Added
		case datastore.OpUpdate:
			if !exists {
				return nil, resource.OpError(i, len(writes), datastore.NotFoundError(w.Key, nil))
			}
			if old.mod != w.Rev {
				return nil, resource.OpError(i, len(writes), datastore.ConflictError(w.Key))
			}
			c.typ = datastore.Modified
		case datastore.OpApply:
			c.typ = datastore.Added
			if exists {
				c.typ = datastore.Modified
			} else {
				resource.Stamp(w.Object, now)
			}
		case datastore.OpDelete:
			if !exists {
				return nil, resource.OpError(i, len(writes), datastore.NotFoundError(w.Key, nil))
			}
			if w.Rev != 0 && old.mod != w.Rev {
				return nil, resource.OpError(i, len(writes), datastore.ConflictError(w.Key))
			}
			c.typ = datastore.Deleted
			c.data, c.mod = old.data, old.mod
		}
		if w.Object != nil {
			if exists {
				stored, err := resource.Decode(old.info, old.data)
				if err != nil {
					return nil, resource.OpError(i, len(writes), err)
				}
				resource.Inherit(w.Object, stored)
			}
			data, err := resource.Encode(w.Object)
			if err != nil {
				return nil, resource.OpError(i, len(writes), err)
			}
			c.data = data
		}
		changes[i] = c
	}

	s.rev++
	out := make([]v3.Object, len(changes))
	for i := range changes {
		c := &changes[i]
		c.rev = s.rev
		if c.typ == datastore.Deleted {
			delete(s.objs, c.key)
		} else {
			c.mod = s.rev
			s.objs[c.key] = entry{info: c.info, data: c.data, mod: c.mod}
		}
		obj, err := decode(c.info, c.data, c.mod)
		if err != nil {
			// The value was encoded from an object a moment ago.
			panic(fmt.Sprintf("memory: stored value of %v does not decode: %v", c.key, err))
		}
		out[i] = obj
	}
	s.history = append(s.history, changes...)
	if over := len(s.history) - s.limit; over > 0 {
		s.compacted = max(s.compacted, s.history[over-1].rev)
		s.history = append(s.history[:0:0], s.history[over:]...)
	}
	close(s.notify)
	s.notify = make(chan struct{})
	return out, nil
}

// Compact discards the history before revision rev, as etcd's compaction
// does: afterwards a Watch from a revision below rev-1 fails with
// ErrCompacted. It fails if rev is in the future or already compacted.
func (s *Store) Compact(ctx context.Context, rev int64) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("compact: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return errClosed
	case rev > s.rev:
		return fmt.Errorf("compact to revision %d: it is in the future (current %d)", rev, s.rev)
	case rev-1 <= s.compacted:
		return fmt.Errorf("compact to revision %d: %w", rev, datastore.ErrCompacted)
	}
	s.compacted = rev - 1
	i := sort.Search(len(s.history), func(i int) bool { return s.history[i].rev > s.compacted })
	s.history = append(s.history[:0:0], s.history[i:]...)
	return nil
}

// Watch implements datastore.Store.
func (s *Store) Watch(ctx context.Context, kind string, fromRevision int64) (<-chan datastore.Event, error) {
	var want string
	if kind != "" {
		info, err := resource.Kind(kind)
		if err != nil {
			return nil, err
		}
		want = info.Kind
	}
	if fromRevision < 0 {
		return nil, fmt.Errorf("%w: watch from negative revision %d", datastore.ErrInvalid, fromRevision)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, errClosed
	}
	if fromRevision == 0 {
		fromRevision = s.rev
	}
	s.mu.Unlock()

	ch := make(chan datastore.Event)
	go s.watch(ctx, want, fromRevision, ch)
	return ch, nil
}

// watch feeds ch from the history, then waits for new changes. cursor is
// the revision up to which every change has been examined.
func (s *Store) watch(ctx context.Context, kind string, cursor int64, ch chan<- datastore.Event) {
	defer close(ch)
	send := func(ev datastore.Event) bool {
		select {
		case ch <- ev:
			return true
		case <-ctx.Done():
			return false
		}
	}
	for {
		s.mu.Lock()
		if cursor < s.compacted {
			compacted := s.compacted
			s.mu.Unlock()
			send(datastore.Event{Type: datastore.Error, Err: fmt.Errorf(
				"watch from revision %d: %w (history starts after revision %d)", cursor, datastore.ErrCompacted, compacted)})
			return
		}
		i := sort.Search(len(s.history), func(i int) bool { return s.history[i].rev > cursor })
		var pending []change
		for _, c := range s.history[i:] {
			if kind == "" || c.key.Kind == kind {
				pending = append(pending, c)
			}
		}
		seen, wake, closed := s.rev, s.notify, s.closed
		s.mu.Unlock()

		for _, c := range pending {
			obj, err := decode(c.info, c.data, c.mod)
			if err != nil {
				send(datastore.Event{Type: datastore.Error, Err: err})
				return
			}
			if !send(datastore.Event{Type: c.typ, Key: c.key, Object: obj, Revision: c.rev}) {
				return
			}
		}
		cursor = seen
		if closed {
			return
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return
		}
	}
}

// Close implements datastore.Store: it ends every watch. Later calls fail
// with ErrUnavailable.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		close(s.notify)
	}
	return nil
}

func decode(info v3.KindInfo, data []byte, mod int64) (v3.Object, error) {
	obj, err := resource.Decode(info, data)
	if err != nil {
		return nil, err
	}
	obj.SetResourceVersion(strconv.FormatInt(mod, 10))
	return obj, nil
}
