package etcd

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	v3 "github.com/tabby-project/tabby/api/v3"
	"github.com/tabby-project/tabby/datastore"
	"github.com/tabby-project/tabby/datastore/internal/resource"
)

// Watch implements datastore.Store with an etcd watch of the kind's key
// prefix from fromRevision+1, with previous values so that a Deleted event
// carries the object deleted. An etcd put that creates a key is Added, any
// other put Modified, a delete Deleted, as in Calico. Watch(…, 0) first
// reads the current revision so that it sees exactly the changes made after
// it returns.
//
// The watch requires a leader: a member cut off from its cluster ends the
// stream with an Error event matching datastore.ErrUnavailable. While no
// member can be reached at all, the client keeps trying and the stream
// stays silent; it resumes where it stopped when a member answers.
func (s *Store) Watch(ctx context.Context, kind string, fromRevision int64) (<-chan datastore.Event, error) {
	var info v3.KindInfo
	if kind != "" {
		var err error
		if info, err = resource.Kind(kind); err != nil {
			return nil, err
		}
	}
	if fromRevision < 0 {
		return nil, fmt.Errorf("%w: watch from negative revision %d", datastore.ErrInvalid, fromRevision)
	}
	opName := fmt.Sprintf("watch %s", kindOrAll(info))
	if fromRevision == 0 {
		rctx, cancel := s.request(ctx)
		resp, err := s.client.Get(rctx, Prefix, clientv3.WithCountOnly())
		cancel()
		if err != nil {
			return nil, s.wrap(ctx, opName, s.cfg.RequestTimeout, err)
		}
		fromRevision = resp.Header.Revision
	}
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	wch := s.client.Watch(wctx, kindPrefix(info, ""), clientv3.WithPrefix(),
		clientv3.WithRev(fromRevision+1), clientv3.WithPrevKV())
	out := make(chan datastore.Event)
	go func() {
		defer close(out)
		defer cancel()
		w := watcher{s: s, ctx: ctx, out: out, opName: opName, from: fromRevision}
		for resp := range wch {
			if !w.handle(resp) {
				return
			}
		}
	}()
	return out, nil
}

// watcher turns etcd watch responses into datastore events.
type watcher struct {
	s      *Store
	ctx    context.Context
	out    chan<- datastore.Event
	opName string
	from   int64
}

// handle forwards the events of resp and reports whether to go on.
func (w *watcher) handle(resp clientv3.WatchResponse) bool {
	if err := resp.Err(); err != nil {
		if w.ctx.Err() != nil {
			return false
		}
		if resp.CompactRevision != 0 || errors.Is(err, rpctypes.ErrCompacted) {
			err = fmt.Errorf("%s from revision %d: %w (history starts after revision %d)",
				w.opName, w.from, datastore.ErrCompacted, resp.CompactRevision-1)
		} else {
			err = w.s.wrap(w.ctx, w.opName, w.s.cfg.RequestTimeout, err)
		}
		w.send(datastore.Event{Type: datastore.Error, Err: err})
		return false
	}
	for _, ev := range resp.Events {
		e, ok, err := convert(ev)
		if err != nil {
			w.send(datastore.Event{Type: datastore.Error, Err: fmt.Errorf("%s: %w", w.opName, err)})
			return false
		}
		if ok && !w.send(e) {
			return false
		}
	}
	return true
}

func (w *watcher) send(ev datastore.Event) bool {
	select {
	case w.out <- ev:
		return true
	case <-w.ctx.Done():
		return false
	}
}

// convert maps one etcd event to a datastore event; ok is false for keys
// Tabby does not model.
func convert(ev *clientv3.Event) (datastore.Event, bool, error) {
	info, ns, name, ok := parsePath(string(ev.Kv.Key))
	if !ok || datastore.IsStatic(v3.Key{Kind: info.Kind, Namespace: ns, Name: name}) {
		return datastore.Event{}, false, nil
	}
	e := datastore.Event{Revision: ev.Kv.ModRevision}
	kv := ev.Kv
	switch {
	case ev.Type == mvccpb.DELETE:
		e.Type = datastore.Deleted
		kv = ev.PrevKv
	case ev.IsCreate():
		e.Type = datastore.Added
	default:
		e.Type = datastore.Modified
	}
	if kv == nil {
		// The previous value of a deletion is gone (compacted): name the
		// resource from its key, with Calico's legacy prefix rule.
		if isPolicyKind(info.Kind) {
			name = strings.TrimPrefix(name, legacyPrefix)
		}
		e.Key = v3.Key{Kind: info.Kind, Namespace: ns, Name: name}
		return e, true, nil
	}
	obj, err := decodeValue(info, kv)
	if err != nil {
		return e, false, fmt.Errorf("key %s: %w", kv.Key, err)
	}
	e.Key, e.Object = v3.KeyOf(obj), obj
	return e, true, nil
}
