package authz

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	v3 "github.com/tabby-project/tabby/api/v3"
	"github.com/tabby-project/tabby/datastore"
	"github.com/tabby-project/tabby/engine"
)

// ErrConfig is wrapped by New for a configuration it cannot use.
var ErrConfig = errors.New("authz: invalid configuration")

// Names of the endpoints the authorizer adds to its own engine. They
// contain a colon, which no stored resource name may, so they never
// collide with a WorkloadEndpoint of the datastore.
const (
	destinationName  = "tabby-authz:destination"
	sourceNamePrefix = "tabby-authz:sa:"
)

// maxIdentities bounds the source identities kept in the engine; past it
// they are all dropped and re-added as requests bring them back.
const maxIdentities = 4096

// Destination names the workload the authorizer protects: either a
// WorkloadEndpoint of the datastore (Endpoint) or, when Endpoint is zero,
// a workload described by its namespace, labels and service account, as a
// sidecar that knows its pod but not its endpoint name would describe it.
type Destination struct {
	// Endpoint is the key of a WorkloadEndpoint or HostEndpoint.
	Endpoint v3.Key
	// Namespace (required without Endpoint), Labels and ServiceAccount
	// describe the workload. It inherits the labels of the profiles
	// kns.<Namespace> and ksa.<Namespace>.<ServiceAccount>, as a pod does.
	Namespace      string
	Labels         map[string]string
	ServiceAccount string
}

// String names the destination for logs and flow logs.
func (d Destination) String() string {
	if d.Endpoint != (v3.Key{}) {
		return d.Endpoint.String()
	}
	return "workload in " + d.Namespace + " " + selectorString(d.Labels)
}

func selectorString(labels map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		parts = append(parts, k+"="+labels[k])
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// Config configures an Authorizer.
type Config struct {
	// Destination is the protected workload.
	Destination Destination
	// TrustDomain, when set, is the only SPIFFE trust domain accepted in
	// source principals; others are denied.
	TrustDomain string
	// Registerer receives the metrics (see metrics.go); nil registers
	// nothing.
	Registerer prometheus.Registerer
	// FlowLog receives one JSON line per denied request; nil logs none.
	FlowLog io.Writer
	// Logger reports datastore errors and resyncs (slog.Default if nil).
	Logger *slog.Logger
	// RetryMin and RetryMax bound the backoff between datastore sessions
	// (100ms and 10s if zero).
	RetryMin, RetryMax time.Duration
}

// Request is one request to authorize, whatever front end received it.
type Request struct {
	// Principal is the source's SPIFFE id.
	Principal string
	// Source and Destination are the connection's addresses and ports;
	// zero values are unknown (rules on addresses and ports then see no
	// address or port 0).
	Source, Destination netip.AddrPort
	// Method and Path are the HTTP method and request target (the path
	// with any query, which path matches ignore).
	Method, Path string
}

// Decision is the answer to a Request.
type Decision struct {
	// Allowed is true for OK, false for PERMISSION_DENIED / 403.
	Allowed bool
	// Reason says what decided, in one line fit for a header: the tier,
	// policy and rule, the end of a tier, a profile, the default deny, or
	// what was wrong with the request.
	Reason string
	// Cause classifies the decision for metrics: "rule", "end-of-tier",
	// "profile", "default-deny" (the engine's reasons), "malformed",
	// "not-ready" or "no-destination".
	Cause string
	// Result is the engine's verdict, zero unless the engine was asked.
	Result engine.Result
}

// Causes of decisions the engine did not make.
const (
	causeMalformed     = "malformed"
	causeNotReady      = "not-ready"
	causeNoDestination = "no-destination"
)

// Authorizer decides requests to one workload with the policy engine,
// which it keeps equal to the datastore. It is safe for concurrent use.
type Authorizer struct {
	cfg     Config
	log     *slog.Logger
	metrics *metrics
	flow    *flowLogger

	mu sync.RWMutex
	v  *view // nil until the first list
}

// view is one engine fed from the datastore, with the endpoints the
// authorizer adds to it. A resync builds a new view and swaps it in.
type view struct {
	eng  *engine.Engine
	dest v3.Key
	ids  map[Identity]v3.Key
}

// New returns an Authorizer for cfg. It denies every request until Run
// has listed the datastore once.
func New(cfg Config) (*Authorizer, error) {
	d := cfg.Destination
	switch {
	case d.Endpoint != (v3.Key{}):
		if d.Endpoint.Kind != v3.KindWorkloadEndpoint && d.Endpoint.Kind != v3.KindHostEndpoint {
			return nil, fmt.Errorf("%w: destination %s is not a WorkloadEndpoint or HostEndpoint", ErrConfig, d.Endpoint)
		}
		if d.Namespace != "" || len(d.Labels) > 0 || d.ServiceAccount != "" {
			return nil, fmt.Errorf("%w: destination has both an endpoint and labels", ErrConfig)
		}
	case d.Namespace == "":
		return nil, fmt.Errorf("%w: destination needs an endpoint or a namespace", ErrConfig)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.RetryMin <= 0 {
		cfg.RetryMin = 100 * time.Millisecond
	}
	if cfg.RetryMax < cfg.RetryMin {
		cfg.RetryMax = max(10*time.Second, cfg.RetryMin)
	}
	m := newMetrics()
	if cfg.Registerer != nil {
		if err := m.register(cfg.Registerer); err != nil {
			return nil, fmt.Errorf("register metrics: %w", err)
		}
	}
	a := &Authorizer{cfg: cfg, log: cfg.Logger, metrics: m}
	if cfg.FlowLog != nil {
		a.flow = &flowLogger{w: cfg.FlowLog}
	}
	return a, nil
}

// Ready reports whether the authorizer has listed the datastore and
// decides by policy.
func (a *Authorizer) Ready() bool {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.v != nil
}

// Run keeps the engine equal to the datastore until ctx is done: it lists
// every resource into a new engine and swaps it in, then applies the
// changes watched from that revision. A watch that ends (a compaction, a
// broken stream) or a failed list starts over with a new list after a
// backoff; meanwhile requests are decided on the last consistent state.
// Run returns nil when ctx is done.
func (a *Authorizer) Run(ctx context.Context, store datastore.Store) error {
	delay := a.cfg.RetryMin
	for {
		listed, err := a.session(ctx, store)
		if ctx.Err() != nil {
			return nil
		}
		if listed {
			delay = a.cfg.RetryMin
		}
		a.log.Warn("authz: resynchronising from a full list", "error", err, "after", delay)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		delay = min(2*delay, a.cfg.RetryMax)
	}
}

// session lists into a new view, swaps it in and applies watched changes
// until the watch fails. listed reports whether the list succeeded.
func (a *Authorizer) session(ctx context.Context, store datastore.Store) (listed bool, err error) {
	list, err := store.List(ctx, "", "")
	if err != nil {
		a.metrics.connected.Set(0)
		return false, fmt.Errorf("list: %w", err)
	}
	a.metrics.connected.Set(1)
	v, err := a.newView()
	if err != nil {
		return false, err
	}
	for _, obj := range list.Items {
		a.upsert(v.eng, obj)
	}
	v.eng.Drain()
	v.eng.DrainSets()
	a.mu.Lock()
	resync := a.v != nil
	a.v = v
	a.mu.Unlock()
	if resync {
		a.metrics.resyncs.Inc()
	}
	a.log.Info("authz: synchronised from a full list", "revision", list.Revision, "resources", len(list.Items))

	events, err := store.Watch(ctx, "", list.Revision)
	if err != nil {
		return true, fmt.Errorf("watch from revision %d: %w", list.Revision, err)
	}
	for {
		var ev datastore.Event
		var ok bool
		select {
		case <-ctx.Done():
			return true, ctx.Err()
		case ev, ok = <-events:
		}
		if !ok {
			return true, errors.New("authz: watch closed")
		}
		if err := a.applyBatch(v, ev, events); err != nil {
			if errors.Is(err, datastore.ErrUnavailable) {
				a.metrics.connected.Set(0)
			}
			return true, err
		}
	}
}

// maxBatch bounds the events applied under one write lock, so that a
// flood of changes does not hold checks up for long.
const maxBatch = 1024

// applyBatch applies first and the events already waiting behind it (up
// to maxBatch) under one write lock, then discards the engine's pending
// output, which the authorizer never reads.
func (a *Authorizer) applyBatch(v *view, first datastore.Event, events <-chan datastore.Event) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	defer func() {
		v.eng.Drain()
		v.eng.DrainSets()
	}()
	ev := first
	for n := 1; ; n++ {
		switch ev.Type {
		case datastore.Error:
			if ev.Err == nil {
				return errors.New("authz: watch failed")
			}
			return fmt.Errorf("watch: %w", ev.Err)
		case datastore.Added, datastore.Modified:
			a.upsert(v.eng, ev.Object)
		case datastore.Deleted:
			v.eng.Delete(ev.Key)
		}
		if n == maxBatch {
			return nil
		}
		select {
		case next, ok := <-events:
			if !ok {
				return errors.New("authz: watch closed")
			}
			ev = next
		default:
			return nil
		}
	}
}

// upsert feeds one stored resource to eng. Kinds the engine does not
// evaluate are ignored; a resource it refuses is logged and left out.
func (a *Authorizer) upsert(eng *engine.Engine, obj v3.Object) {
	v3.Default(obj)
	if err := eng.Upsert(obj); err != nil && !errors.Is(err, engine.ErrUnsupportedKind) {
		a.log.Error("authz: resource refused by the engine", "resource", v3.KeyOf(obj).String(), "error", err)
	}
}

// newView returns an empty view holding the destination endpoint the
// configuration describes, if it describes one by labels.
func (a *Authorizer) newView() (*view, error) {
	v := &view{eng: engine.New(), dest: a.cfg.Destination.Endpoint, ids: map[Identity]v3.Key{}}
	if v.dest != (v3.Key{}) {
		return v, nil
	}
	d := a.cfg.Destination
	wep := syntheticEndpoint(d.Namespace, destinationName, d.ServiceAccount)
	wep.Labels = maps.Clone(d.Labels)
	if err := v.eng.Upsert(wep); err != nil {
		return nil, fmt.Errorf("%w: destination %s: %w", ErrConfig, d, err)
	}
	v.dest = v3.KeyOf(wep)
	return v, nil
}

// syntheticEndpoint returns a pod-like WorkloadEndpoint with no address:
// the engine gives it projectcalico.org/namespace, /orchestrator and
// /serviceaccount and the labels of its namespace and service-account
// profiles, so namespaceSelector, serviceAccounts and their selectors
// match it as they match a pod.
func syntheticEndpoint(ns, name, sa string) *v3.WorkloadEndpoint {
	wep := &v3.WorkloadEndpoint{}
	wep.Kind = v3.KindWorkloadEndpoint
	wep.APIVersion = v3.APIVersion
	wep.Namespace = ns
	wep.Name = name
	wep.Spec.Orchestrator = "k8s"
	wep.Spec.Profiles = []string{"kns." + ns}
	if sa != "" {
		wep.Spec.ServiceAccountName = sa
		wep.Spec.Profiles = append(wep.Spec.Profiles, "ksa."+ns+"."+sa)
	}
	return wep
}

// Decide answers r with the current policy. It records no metrics and no
// flow log (the front ends do, through check).
func (a *Authorizer) Decide(r Request) Decision {
	id, reason := a.identity(r)
	if reason != "" {
		return Decision{Reason: reason, Cause: causeMalformed}
	}
	if r.Method == "" {
		return Decision{Reason: "malformed request: no HTTP method", Cause: causeMalformed}
	}
	if !strings.HasPrefix(r.Path, "/") {
		return Decision{Reason: fmt.Sprintf("malformed request: HTTP path %q does not start with /", r.Path), Cause: causeMalformed}
	}
	for {
		a.mu.RLock()
		v := a.v
		if v == nil {
			a.mu.RUnlock()
			return Decision{Reason: "not synchronised with the datastore yet", Cause: causeNotReady}
		}
		if src, ok := v.ids[id]; ok {
			d := a.evaluate(v, src, r)
			a.mu.RUnlock()
			return d
		}
		a.mu.RUnlock()
		// Adding the identity needs the write lock; then look again, as
		// a resync may have replaced the view meanwhile.
		a.addIdentity(v, id)
	}
}

// evaluate decides r from source endpoint src on v, under the read lock.
func (a *Authorizer) evaluate(v *view, src v3.Key, r Request) Decision {
	res, err := v.eng.Evaluate(engine.Flow{
		Src:      engine.Peer{Endpoint: src, IP: r.Source.Addr()},
		Dst:      engine.Peer{Endpoint: v.dest, IP: r.Destination.Addr()},
		Protocol: 6,
		SrcPort:  int(r.Source.Port()),
		DstPort:  int(r.Destination.Port()),
		HTTP:     &engine.HTTPRequest{Method: r.Method, Path: r.Path},
	})
	if errors.Is(err, engine.ErrUnknownEndpoint) {
		// The source is in the engine (it is in v.ids): the destination
		// is not.
		return Decision{Reason: fmt.Sprintf("destination %s is not in the datastore", a.cfg.Destination), Cause: causeNoDestination}
	}
	if err != nil {
		return Decision{Reason: fmt.Sprintf("cannot evaluate: %v", err), Cause: causeNoDestination}
	}
	in := res.Ingress
	return Decision{Allowed: in.Verdict == v3.Allow, Reason: describe(in), Cause: string(in.Reason), Result: res}
}

// identity parses and checks r's principal; reason is non-empty when the
// request must be denied for it.
func (a *Authorizer) identity(r Request) (id Identity, reason string) {
	if r.Principal == "" {
		return Identity{}, "malformed request: no source principal"
	}
	id, err := ParseSPIFFE(r.Principal)
	if err != nil {
		return Identity{}, "malformed request: " + err.Error()
	}
	if a.cfg.TrustDomain != "" && id.TrustDomain != a.cfg.TrustDomain {
		return Identity{}, fmt.Sprintf("source principal %q is not in trust domain %q", r.Principal, a.cfg.TrustDomain)
	}
	// Policy sees namespaces and service accounts, not trust domains.
	id.TrustDomain = ""
	return id, ""
}

// addIdentity adds the endpoint standing for id to v.
func (a *Authorizer) addIdentity(v *view, id Identity) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := v.ids[id]; ok {
		return
	}
	if len(v.ids) >= maxIdentities {
		for _, k := range v.ids {
			v.eng.Delete(k)
		}
		clear(v.ids)
	}
	wep := syntheticEndpoint(id.Namespace, sourceNamePrefix+id.ServiceAccount, id.ServiceAccount)
	k := v3.KeyOf(wep)
	if err := v.eng.Upsert(wep); err != nil {
		// Only a broken internal invariant makes a fixed, label-free
		// endpoint fail to compile.
		panic(fmt.Sprintf("authz: source endpoint for %s: %v", id, err))
	}
	v.eng.Drain()
	v.eng.DrainSets()
	v.ids[id] = k
}

// describe says in one line what decided the ingress direction.
func describe(in engine.DirectionResult) string {
	verdict := "allowed"
	if in.Verdict != v3.Allow {
		verdict = "denied"
	}
	switch in.Reason {
	case engine.ReasonRule:
		return fmt.Sprintf("%s by tier %s policy %s ingress rule %d (%s)", verdict, in.Tier, policyName(in.Policy), in.Rule, in.Verdict)
	case engine.ReasonEndOfTier:
		return fmt.Sprintf("%s by end of tier %s: no policy matched", verdict, in.Tier)
	case engine.ReasonProfile:
		return fmt.Sprintf("%s by profile %s ingress rule %d (%s)", verdict, in.Profile, in.Rule, in.Verdict)
	case engine.ReasonDefaultDeny:
		return verdict + " by default: no policy or profile allowed the request"
	}
	return verdict + " (" + string(in.Reason) + ")"
}

// policyName is a policy as calicoctl names it: namespace/name for
// namespaced kinds, with the kind when it is not the usual one.
func policyName(k v3.Key) string {
	name := nsName(k)
	switch k.Kind {
	case v3.KindNetworkPolicy, v3.KindGlobalNetworkPolicy:
		return name
	}
	return k.Kind + " " + name
}

func portString(p netip.AddrPort) string {
	if !p.IsValid() {
		return ""
	}
	if p.Port() == 0 {
		return p.Addr().String()
	}
	return p.String()
}

// nsName is namespace/name, or name for a global resource.
func nsName(k v3.Key) string {
	if k.Namespace != "" {
		return k.Namespace + "/" + k.Name
	}
	return k.Name
}
