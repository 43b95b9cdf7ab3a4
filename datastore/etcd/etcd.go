package etcd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	v3 "github.com/tabby-project/tabby/api/v3"
	"github.com/tabby-project/tabby/datastore"
	"github.com/tabby-project/tabby/datastore/internal/resource"
)

// maxAttempts bounds the optimistic-concurrency retries of one write when
// other writers keep changing the resources it depends on.
const maxAttempts = 16

// Store is a datastore.Store on an etcd v3 cluster in Calico's layout.
type Store struct {
	client *clientv3.Client
	cfg    Config
	now    func() time.Time
}

var _ datastore.Store = (*Store)(nil)

// Open connects to the cluster and checks that it answers, within
// cfg.DialTimeout: an unreachable cluster gives an error matching
// datastore.ErrUnavailable rather than a hang.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	cfg = cfg.withDefaults()
	if err := cfg.checkEndpoints(); err != nil {
		return nil, fmt.Errorf("etcd datastore: %w", err)
	}
	tlsCfg, err := cfg.tlsConfig()
	if err != nil {
		return nil, fmt.Errorf("etcd datastore: %w", err)
	}
	// When no member even accepts a connection, say so at once rather
	// than after the client's dial timeout.
	if err := probe(ctx, cfg.Endpoints, min(cfg.DialTimeout, probeTimeout)); err != nil {
		return nil, fmt.Errorf("connect to etcd: %w: no etcd member accepts connections at %s: %w",
			datastore.ErrUnavailable, strings.Join(cfg.Endpoints, ","), err)
	}
	client, err := clientv3.New(clientv3.Config{
		Endpoints:            cfg.Endpoints,
		TLS:                  tlsCfg,
		Username:             cfg.Username,
		Password:             cfg.Password,
		DialTimeout:          cfg.DialTimeout,
		DialKeepAliveTime:    30 * time.Second,
		DialKeepAliveTimeout: 10 * time.Second,
		Logger:               zap.NewNop(),
	})
	s := &Store{client: client, cfg: cfg, now: time.Now}
	if err != nil {
		return nil, s.connectError(ctx, tlsCfg, err)
	}
	// A cheap read of one key proves that a member answers, and that the
	// credentials are accepted.
	pctx, cancel := context.WithTimeout(ctx, cfg.DialTimeout)
	defer cancel()
	if _, err := client.Get(pctx, Prefix, clientv3.WithCountOnly()); err != nil {
		client.Close()
		return nil, s.connectError(ctx, tlsCfg, err)
	}
	return s, nil
}

// connectError wraps an error of Open. The client only says that it timed
// out; a direct dial tells whether nothing listens or TLS was refused.
func (s *Store) connectError(ctx context.Context, tlsCfg *tls.Config, err error) error {
	err = s.wrap(ctx, "connect to etcd", s.cfg.DialTimeout, err)
	if errors.Is(err, datastore.ErrUnavailable) {
		if derr := diagnose(ctx, s.cfg.Endpoints, tlsCfg); derr != nil {
			err = fmt.Errorf("%w (%w)", err, derr)
		}
	}
	return err
}

// probeTimeout bounds the connection probe of Open.
const probeTimeout = time.Second

// probe dials every endpoint at once (its TCP port, or the socket file of
// a unix:// endpoint). It returns an error only when every endpoint
// refused the connection outright (nothing listens, no route, an unknown
// host, no socket file): one that accepts, or is merely slow to answer, is
// left to the client and its dial timeout.
func probe(ctx context.Context, endpoints []string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	errs := make(chan error, len(endpoints))
	for _, ep := range endpoints {
		go func() {
			network, addr, err := dialAddr(ep)
			if err != nil {
				errs <- err
				return
			}
			var d net.Dialer
			conn, err := d.DialContext(ctx, network, addr)
			if err == nil {
				conn.Close()
			}
			errs <- err
		}()
	}
	var first error
	for range endpoints {
		err := <-errs
		var ne net.Error
		if err == nil || ctx.Err() != nil || (errors.As(err, &ne) && ne.Timeout()) {
			return nil
		}
		if first == nil {
			first = err
		}
	}
	return first
}

// diagnose dials the first endpoint that fails and returns why, or nil if
// every endpoint accepts a connection (and a TLS handshake when it is
// https).
func diagnose(ctx context.Context, endpoints []string, tlsCfg *tls.Config) error {
	d := net.Dialer{Timeout: time.Second}
	for _, ep := range endpoints {
		u, err := url.Parse(ep)
		if err != nil {
			return err
		}
		network, addr, err := dialAddr(ep)
		if err != nil {
			return err
		}
		conn, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return err
		}
		if u.Scheme == "https" {
			cfg := tlsCfg.Clone()
			cfg.ServerName = u.Hostname()
			tc := tls.Client(conn, cfg)
			// A refused client certificate shows only when the server
			// answers, so wait briefly for its first bytes.
			_ = tc.SetDeadline(time.Now().Add(500 * time.Millisecond))
			err = tc.HandshakeContext(ctx)
			if err == nil {
				_, err = tc.Read(make([]byte, 1))
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					err = nil
				}
			}
			conn = tc
		}
		conn.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", ep, err)
		}
	}
	return nil
}

// Close implements datastore.Store.
func (s *Store) Close() error {
	if err := s.client.Close(); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("close etcd client: %w", err)
	}
	return nil
}

// Compact discards the cluster's history before revision rev (etcd's
// compaction): afterwards a Watch from a revision below rev-1 ends with
// datastore.ErrCompacted.
func (s *Store) Compact(ctx context.Context, rev int64) error {
	rctx, cancel := s.request(ctx)
	defer cancel()
	if _, err := s.client.Compact(rctx, rev); err != nil {
		if errors.Is(err, rpctypes.ErrCompacted) {
			return fmt.Errorf("compact to revision %d: %w", rev, datastore.ErrCompacted)
		}
		return s.wrap(ctx, fmt.Sprintf("compact to revision %d", rev), s.cfg.RequestTimeout, err)
	}
	return nil
}

// request bounds one request by the configured timeout.
func (s *Store) request(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.cfg.RequestTimeout)
}

// wrap gives an etcd client error the context of the operation and, when it
// means the cluster did not answer, datastore.ErrUnavailable. The caller's
// own cancellation is reported as such.
func (s *Store) wrap(ctx context.Context, op string, timeout time.Duration, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%s: %w", op, ctx.Err())
	}
	eps := strings.Join(s.cfg.Endpoints, ",")
	switch code := errorCode(err); {
	case errors.Is(err, rpctypes.ErrTooManyOps), errors.Is(err, rpctypes.ErrRequestTooLarge),
		code == codes.ResourceExhausted:
		return fmt.Errorf("%s: %w: %w", op, datastore.ErrTooLarge, err)
	case errors.Is(err, context.DeadlineExceeded), code == codes.DeadlineExceeded:
		return fmt.Errorf("%s: %w: etcd at %s did not answer within %v: %w", op, datastore.ErrUnavailable, eps, timeout, err)
	case code == codes.Unavailable:
		return fmt.Errorf("%s: %w: etcd at %s: %w", op, datastore.ErrUnavailable, eps, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// errorCode returns the gRPC code of an etcd client error.
func errorCode(err error) codes.Code {
	var ee rpctypes.EtcdError
	if errors.As(err, &ee) {
		return ee.Code()
	}
	if st, ok := status.FromError(err); ok {
		return st.Code()
	}
	return codes.Unknown
}

// Get implements datastore.Store. A policy named foo is looked up first at
// its own key (.../foo), then, if the name has no dot, at the key Calico
// 3.29-3.31 used (.../default.foo); both are read in one transaction.
func (s *Store) Get(ctx context.Context, key v3.Key) (v3.Object, error) {
	key, info, err := resource.CheckKey(key)
	if err != nil {
		return nil, err
	}
	if datastore.IsStatic(key) {
		return datastore.DefaultAllowProfile(), nil
	}
	t := newTarget(resource.Write{Key: key, Info: info})
	rctx, cancel := s.request(ctx)
	defer cancel()
	resp, err := s.client.Txn(rctx).Then(t.gets()...).Commit()
	if err != nil {
		return nil, s.wrap(ctx, fmt.Sprintf("get %v", key), s.cfg.RequestTimeout, err)
	}
	t.observe(resp.Responses)
	_, kv := t.current()
	if kv == nil {
		return nil, datastore.NotFoundError(key, nil)
	}
	return decodeValue(info, kv)
}

// List implements datastore.Store. If a policy is stored both under its
// name and under its Calico 3.29-3.31 key, only the first is listed, as Get
// would find it.
func (s *Store) List(ctx context.Context, kind, namespace string) (datastore.ListResult, error) {
	var info v3.KindInfo
	if kind != "" {
		var err error
		if info, err = resource.Kind(kind); err != nil {
			return datastore.ListResult{}, err
		}
	}
	rctx, cancel := s.request(ctx)
	defer cancel()
	resp, err := s.client.Get(rctx, kindPrefix(info, namespace), clientv3.WithPrefix())
	if err != nil {
		return datastore.ListResult{}, s.wrap(ctx, fmt.Sprintf("list %s", kindOrAll(info)), s.cfg.RequestTimeout, err)
	}
	items := make([]v3.Object, 0, len(resp.Kvs)+1)
	// exact records, per user-visible key, whether the listed item came
	// from the key of that name (which wins over a legacy key).
	exact := make(map[v3.Key]bool)
	index := make(map[v3.Key]int)
	for _, kv := range resp.Kvs {
		ki, ns, name, ok := parsePath(string(kv.Key))
		if !ok || (ki.Namespaced && namespace != "" && ns != namespace) {
			continue
		}
		if datastore.IsStatic(v3.Key{Kind: ki.Kind, Namespace: ns, Name: name}) {
			continue
		}
		obj, err := decodeValue(ki, kv)
		if err != nil {
			return datastore.ListResult{}, fmt.Errorf("list %s: key %s: %w", kindOrAll(info), kv.Key, err)
		}
		k := v3.KeyOf(obj)
		isExact := obj.GetName() == name
		if i, dup := index[k]; dup {
			if isExact && !exact[k] {
				items[i], exact[k] = obj, true
			}
			continue
		}
		index[k], exact[k] = len(items), isExact
		items = append(items, obj)
	}
	if info.Kind == "" || info.Kind == v3.KindProfile {
		items = append(items, datastore.DefaultAllowProfile())
	}
	v3.SortObjects(items)
	return datastore.ListResult{Items: items, Revision: resp.Header.Revision}, nil
}

func kindOrAll(info v3.KindInfo) string {
	if info.Kind == "" {
		return "all kinds"
	}
	return info.Kind
}

// Create implements datastore.Store with Calico's transaction:
// If(Version(key) == 0) Then(Put) Else(Get), adding Version == 0 of the
// Calico 3.29-3.31 key of a policy, so that a policy stored by those
// versions is not created twice.
func (s *Store) Create(ctx context.Context, obj v3.Object) (v3.Object, error) {
	return s.one(ctx, datastore.CreateOp(obj))
}

// Update implements datastore.Store with Calico's transaction:
// If(ModRevision(key) == resourceVersion) Then(Put) Else(Get). A policy found
// only under its Calico 3.29-3.31 key is updated in place, in that layout.
// When obj lacks uid or creationTimestamp the stored object is read first
// to keep them.
func (s *Store) Update(ctx context.Context, obj v3.Object) (v3.Object, error) {
	return s.one(ctx, datastore.UpdateOp(obj))
}

// Apply implements datastore.Store. It reads the current object (to keep
// uid and creationTimestamp and to find a Calico 3.29-3.31 key), then writes
// conditionally on what it read, retrying if another writer came between.
func (s *Store) Apply(ctx context.Context, obj v3.Object) (v3.Object, error) {
	return s.one(ctx, datastore.ApplyOp(obj))
}

// Delete implements datastore.Store: a delete of the key found as Get finds
// it, conditional on ModRevision when resourceVersion is given.
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

// Txn implements datastore.Store in one etcd transaction. Every operation
// contributes its comparisons (the conditions of its Store method) and its
// write to a single If/Then; the Else branch reads every key involved so
// that a failed attempt can be explained or retried with what it saw.
// Operations that need the current state (Apply, an Update without uid,
// anything on a legacy key) are planned from a read made first. A
// transaction larger than the server's --max-txn-ops (128 by default;
// an operation on a policy whose name has no dot counts twice) fails with
// datastore.ErrTooLarge.
func (s *Store) Txn(ctx context.Context, ops []datastore.Op) ([]v3.Object, error) {
	writes, err := resource.CheckOps(ops)
	if err != nil {
		return nil, err
	}
	if len(writes) == 0 {
		return nil, nil
	}
	targets := make([]*target, len(writes))
	needRead := false
	for i, w := range writes {
		targets[i] = newTarget(w)
		needRead = needRead || targets[i].needsRead()
	}
	opName := "transaction"
	if len(writes) == 1 {
		opName = fmt.Sprintf("%s %v", writes[0].Type, writes[0].Key)
	}
	if needRead {
		if err := s.read(ctx, opName, targets); err != nil {
			return nil, err
		}
	}
	now := s.now()
	for attempt := 1; ; attempt++ {
		var cmps []clientv3.Cmp
		var thens, elses []clientv3.Op
		for i, t := range targets {
			c, op, err := t.plan(now)
			if err != nil {
				return nil, resource.OpError(i, len(targets), err)
			}
			cmps = append(cmps, c...)
			thens = append(thens, op)
			elses = append(elses, t.gets()...)
		}
		rctx, cancel := s.request(ctx)
		resp, err := s.client.Txn(rctx).If(cmps...).Then(thens...).Else(elses...).Commit()
		cancel()
		if err != nil {
			return nil, s.wrap(ctx, opName, s.cfg.RequestTimeout, err)
		}
		if resp.Succeeded {
			return s.results(targets, resp)
		}
		if attempt == maxAttempts {
			return nil, fmt.Errorf("%s: %w: the resources kept changing during %d attempts",
				opName, datastore.ErrConflict, maxAttempts)
		}
		rs := resp.Responses
		for _, t := range targets {
			rs = t.observe(rs)
		}
	}
}

// read records the current state of every target in one consistent read.
func (s *Store) read(ctx context.Context, opName string, targets []*target) error {
	var gets []clientv3.Op
	for _, t := range targets {
		gets = append(gets, t.gets()...)
	}
	rctx, cancel := s.request(ctx)
	defer cancel()
	resp, err := s.client.Txn(rctx).Then(gets...).Commit()
	if err != nil {
		return s.wrap(ctx, opName, s.cfg.RequestTimeout, err)
	}
	rs := resp.Responses
	for _, t := range targets {
		rs = t.observe(rs)
	}
	return nil
}

// results decodes what a successful transaction wrote or deleted.
func (s *Store) results(targets []*target, resp *clientv3.TxnResponse) ([]v3.Object, error) {
	out := make([]v3.Object, len(targets))
	for i, t := range targets {
		var kv *mvccpb.KeyValue
		if t.w.Type == datastore.OpDelete {
			prev := resp.Responses[i].GetResponseDeleteRange().GetPrevKvs()
			if len(prev) == 0 {
				return nil, fmt.Errorf("delete %v: etcd returned no previous value", t.w.Key)
			}
			kv = prev[0]
		} else {
			kv = &mvccpb.KeyValue{Key: []byte(t.written), Value: t.value, ModRevision: resp.Header.Revision}
		}
		obj, err := decodeValue(t.w.Info, kv)
		if err != nil {
			return nil, fmt.Errorf("%s %v: %w", t.w.Type, t.w.Key, err)
		}
		out[i] = obj
	}
	return out, nil
}

// target is one operation of a transaction with the etcd keys it may
// touch and what was last seen at them.
type target struct {
	w resource.Write
	// exact is the key of the name as given; legacy the key Calico
	// 3.29-3.31 used for it ("" if the same).
	exact, legacy string
	// seen is true once the keys have been read; exactKV and legacyKV are
	// then what was there (nil for absent). legacyMatch says whether the
	// legacy key holds this resource: it may hold another policy, such as
	// one a Calico 3.32+ user named "default.<name>".
	seen              bool
	exactKV, legacyKV *mvccpb.KeyValue
	legacyMatch       bool
	// written and value are the key and value of the last planned write.
	written string
	value   []byte
}

func newTarget(w resource.Write) *target {
	t := &target{w: w, exact: path(w.Info, w.Key.Namespace, w.Key.Name)}
	if ln, ok := legacyName(w.Info, w.Key.Name); ok {
		t.legacy = path(w.Info, w.Key.Namespace, ln)
	}
	return t
}

// needsRead reports whether the operation cannot be planned blind.
func (t *target) needsRead() bool {
	switch t.w.Type {
	case datastore.OpUpdate, datastore.OpApply:
		ct := t.w.Object.GetCreationTimestamp()
		return t.w.Object.GetUID() == "" || ct.IsZero() || t.w.Type == datastore.OpApply
	}
	return false
}

// gets returns the reads of the target's keys, exact first.
func (t *target) gets() []clientv3.Op {
	if t.legacy == "" {
		return []clientv3.Op{clientv3.OpGet(t.exact)}
	}
	return []clientv3.Op{clientv3.OpGet(t.exact), clientv3.OpGet(t.legacy)}
}

// observe records the answers to gets() at the head of rs and returns the
// rest.
func (t *target) observe(rs []*etcdserverpb.ResponseOp) []*etcdserverpb.ResponseOp {
	first := func(r *etcdserverpb.ResponseOp) *mvccpb.KeyValue {
		if kvs := r.GetResponseRange().GetKvs(); len(kvs) > 0 {
			return kvs[0]
		}
		return nil
	}
	t.seen = true
	t.exactKV = first(rs[0])
	if t.legacy == "" {
		t.legacyKV = nil
		return rs[1:]
	}
	t.legacyKV = first(rs[1])
	t.legacyMatch = false
	if t.legacyKV != nil {
		obj, err := resource.Decode(t.w.Info, t.legacyKV.Value)
		t.legacyMatch = err == nil && policyName(obj) == t.w.Key.Name
	}
	return rs[2:]
}

// current returns the key and value Get would return: the exact key wins.
func (t *target) current() (string, *mvccpb.KeyValue) {
	switch {
	case t.exactKV != nil:
		return t.exact, t.exactKV
	case t.legacyKV != nil && t.legacyMatch:
		return t.legacy, t.legacyKV
	}
	return "", nil
}

// plan returns the comparisons and the write of the operation, given what
// was seen (or, before any read, assuming the exact key), or the error the
// operation fails with.
func (t *target) plan(now time.Time) ([]clientv3.Cmp, clientv3.Op, error) {
	w := t.w
	if w.Object != nil {
		// Plan on a copy: a retry must start from the caller's object, not
		// from one stamped or merged for an earlier attempt.
		obj, err := resource.Clone(w.Object, w.Info)
		if err != nil {
			return nil, clientv3.Op{}, err
		}
		w.Object = obj
	}
	at, kv := t.exact, (*mvccpb.KeyValue)(nil)
	if t.seen {
		at, kv = t.current()
	}
	var cmps []clientv3.Cmp
	switch w.Type {
	case datastore.OpCreate:
		if kv != nil {
			return nil, clientv3.Op{}, datastore.AlreadyExistsError(w.Key, nil)
		}
		resource.Stamp(w.Object, now)
		return t.put(w.Object, t.exact, t.absent())
	case datastore.OpUpdate:
		if t.seen {
			if kv == nil {
				return nil, clientv3.Op{}, datastore.NotFoundError(w.Key, nil)
			}
			if kv.ModRevision != w.Rev {
				return nil, clientv3.Op{}, datastore.ConflictError(w.Key)
			}
			if err := t.inherit(w.Object, kv); err != nil {
				return nil, clientv3.Op{}, err
			}
		}
		return t.put(w.Object, at, append(cmps, clientv3.Compare(clientv3.ModRevision(at), "=", w.Rev)))
	case datastore.OpApply:
		if kv == nil {
			resource.Stamp(w.Object, now)
			return t.put(w.Object, t.exact, t.absent())
		}
		if err := t.inherit(w.Object, kv); err != nil {
			return nil, clientv3.Op{}, err
		}
		return t.put(w.Object, at, t.unchanged(at, kv))
	case datastore.OpDelete:
		if !t.seen {
			if w.Rev != 0 {
				cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(at), "=", w.Rev))
			} else {
				cmps = append(cmps, clientv3.Compare(clientv3.Version(at), ">", 0))
			}
			return cmps, clientv3.OpDelete(at, clientv3.WithPrevKV()), nil
		}
		if kv == nil {
			return nil, clientv3.Op{}, datastore.NotFoundError(w.Key, nil)
		}
		if w.Rev != 0 && kv.ModRevision != w.Rev {
			return nil, clientv3.Op{}, datastore.ConflictError(w.Key)
		}
		return t.unchanged(at, kv), clientv3.OpDelete(at, clientv3.WithPrevKV()), nil
	}
	return nil, clientv3.Op{}, fmt.Errorf("%w: unknown operation %v", datastore.ErrInvalid, w.Type)
}

// absent returns the conditions that the resource is stored under neither
// of its keys: the exact key does not exist, and the legacy key does not
// either or still holds the other policy seen there.
func (t *target) absent() []clientv3.Cmp {
	cmps := []clientv3.Cmp{clientv3.Compare(clientv3.Version(t.exact), "=", 0)}
	switch {
	case t.legacy == "":
	case t.legacyKV == nil:
		cmps = append(cmps, clientv3.Compare(clientv3.Version(t.legacy), "=", 0))
	default:
		cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(t.legacy), "=", t.legacyKV.ModRevision))
	}
	return cmps
}

// unchanged returns the conditions that key at still holds the version kv
// seen and, if it is the legacy key, that the exact key still does not
// exist (else the exact key would be the one Get finds).
func (t *target) unchanged(at string, kv *mvccpb.KeyValue) []clientv3.Cmp {
	cmps := []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(at), "=", kv.ModRevision)}
	if at == t.legacy {
		cmps = append(cmps, clientv3.Compare(clientv3.Version(t.exact), "=", 0))
	}
	return cmps
}

// put encodes obj for key at: under the legacy key a policy keeps Calico
// 3.29-3.31's stored name, default.<name>.
func (t *target) put(obj v3.Object, at string, cmps []clientv3.Cmp) ([]clientv3.Cmp, clientv3.Op, error) {
	stored := t.w.Key.Name
	if at == t.legacy {
		stored = legacyPrefix + stored
	}
	value, err := encodeValue(obj, t.w.Key.Name, stored)
	if err != nil {
		return nil, clientv3.Op{}, fmt.Errorf("%s %v: %w", t.w.Type, t.w.Key, err)
	}
	t.written, t.value = at, value
	return cmps, clientv3.OpPut(at, string(value)), nil
}

// inherit keeps the stored uid and creationTimestamp where obj has none.
func (t *target) inherit(obj v3.Object, kv *mvccpb.KeyValue) error {
	old, err := resource.Decode(t.w.Info, kv.Value)
	if err != nil {
		return fmt.Errorf("%s %v: stored value: %w", t.w.Type, t.w.Key, err)
	}
	resource.Inherit(obj, old)
	return nil
}

func formatRev(r int64) string { return strconv.FormatInt(r, 10) }
