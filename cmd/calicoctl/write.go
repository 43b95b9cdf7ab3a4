package main

// The write engine behind create, apply and replace. It takes resources
// that are already decoded and validated and writes them in input order,
// with calicoctl's per-verb semantics, as few etcd transactions as it can:
//
//	for each chunk of resources (distinct keys, at most limit of them):
//	    read the current state of the chunk's resources (and of the tiers
//	    their policies need)
//	    plan one datastore op per resource from that state; the first
//	    resource that cannot be written (exists, missing, stale
//	    resourceVersion, missing tier) ends the plan
//	    commit the planned ops in one transaction (all or nothing)
//
// So the resources written are always a prefix of the input, and a failure
// says exactly how long that prefix is. A transaction refused because
// another writer changed a resource between the read and the commit is
// planned again from a fresh read; one too large for the server is split.
// Only when the datastore stops answering during a commit is the outcome of
// that chunk unknown, and the report says so.

import (
	"context"
	"errors"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/tabby-project/tabby/api/v3"
	"github.com/tabby-project/tabby/datastore"
)

// verb is a write command.
type verb int

const (
	verbCreate verb = iota
	verbApply
	verbReplace
)

func (v verb) String() string {
	switch v {
	case verbCreate:
		return "create"
	case verbApply:
		return "apply"
	case verbReplace:
		return "replace"
	}
	return fmt.Sprintf("verb(%d)", int(v))
}

// past is the participle calicoctl's messages use.
func (v verb) past() string {
	switch v {
	case verbCreate:
		return "created"
	case verbApply:
		return "applied"
	}
	return "replaced"
}

// Write engine tuning.
const (
	// initialChunk is the most resources one transaction starts with; a
	// server that refuses it as too large makes the writer halve it.
	initialChunk = 500
	// listThreshold is how many resources of one kind and namespace make
	// the writer read them with one List rather than one Get each.
	listThreshold = 8
	// maxRaces bounds how often a chunk is planned again because another
	// writer changed its resources between the read and the commit.
	maxRaces = 5
)

// writer writes resources with one verb's semantics.
type writer struct {
	store      datastore.Store
	verb       verb
	skipExists bool
	// limit is the largest chunk, lowered when the server refuses a
	// transaction as too large.
	limit int
	// given is the metadata each object had in the input.
	given map[v3.Object]metav1.ObjectMeta
}

// outcome is what a write did: objs[:done] are written (or skipped with
// --skip-exists); err, if set, is why objs[done] was not. unknown counts
// the resources from objs[done] on whose transaction was sent but not
// confirmed.
type outcome struct {
	done    int
	err     error
	unknown int
}

func newWriter(store datastore.Store, v verb, skipExists bool) *writer {
	return &writer{store: store, verb: v, skipExists: skipExists, limit: initialChunk}
}

// write writes objs in order. It modifies their metadata as it plans
// (merged with the stored one for updates); a plan always starts from the
// metadata objs came with.
func (w *writer) write(ctx context.Context, objs []v3.Object) outcome {
	w.given = make(map[v3.Object]metav1.ObjectMeta, len(objs))
	for _, o := range objs {
		w.given[o] = objectMeta(o)
	}
	done, races, isolate := 0, 0, false
	for done < len(objs) {
		limit := w.limit
		if isolate {
			limit = 1
		}
		chunk := nextChunk(objs[done:], limit)
		state, err := w.read(ctx, chunk)
		if err != nil {
			return outcome{done: done, err: err}
		}
		ops, planned, perr := w.plan(chunk, state)
		if len(ops) > 0 {
			_, err := w.store.Txn(ctx, ops)
			var re *datastore.ResourceError
			switch {
			case err == nil:
			case errors.Is(err, datastore.ErrTooLarge) && len(chunk) > 1:
				w.limit = max(1, len(chunk)/2)
				continue
			case errors.As(err, &re) && (errors.Is(err, datastore.ErrConflict) ||
				errors.Is(err, datastore.ErrAlreadyExists) || errors.Is(err, datastore.ErrNotFound)):
				// Another writer changed a resource since the read: plan
				// again; if it keeps happening, one resource at a time, to
				// stop at the one concerned.
				races++
				switch {
				case races < maxRaces:
					continue
				case len(chunk) > 1:
					isolate, races = true, 0
					continue
				}
				return outcome{done: done, err: err}
			case errors.As(err, &re):
				if len(chunk) > 1 {
					isolate = true
					continue
				}
				return outcome{done: done, err: err}
			default:
				return outcome{done: done, err: err, unknown: planned}
			}
		}
		done += planned
		races, isolate = 0, false
		if perr != nil {
			return outcome{done: done, err: perr}
		}
	}
	return outcome{done: done}
}

// nextChunk returns the longest prefix of objs, at most limit long, whose
// resources are distinct: a transaction names each resource once.
func nextChunk(objs []v3.Object, limit int) []v3.Object {
	seen := make(map[v3.Key]bool)
	for i, o := range objs {
		k := v3.KeyOf(o)
		if i == limit || seen[k] {
			return objs[:i]
		}
		seen[k] = true
	}
	return objs
}

// state is the stored version of resources, nil for absent ones.
type state map[v3.Key]v3.Object

// read returns the stored state of the chunk's resources and of the tiers
// of its policies. Many resources of one kind and namespace are read with
// one List, a few with a Get each.
func (w *writer) read(ctx context.Context, chunk []v3.Object) (state, error) {
	type group struct{ kind, namespace string }
	wanted := make(map[group][]v3.Key)
	var order []group
	add := func(k v3.Key) {
		g := group{k.Kind, k.Namespace}
		if _, ok := wanted[g]; !ok {
			order = append(order, g)
		}
		wanted[g] = append(wanted[g], k)
	}
	tiers := make(map[string]bool)
	for _, o := range chunk {
		add(v3.KeyOf(o))
		if t, ok := policyTier(o); ok && !tiers[t] {
			tiers[t] = true
			add(v3.Key{Kind: v3.KindTier, Name: t})
		}
	}
	st := make(state)
	for _, g := range order {
		keys := wanted[g]
		if len(keys) > listThreshold {
			l, err := w.store.List(ctx, g.kind, g.namespace)
			if err != nil {
				return nil, err
			}
			for _, o := range l.Items {
				st[v3.KeyOf(o)] = o
			}
			continue
		}
		for _, k := range keys {
			o, err := w.store.Get(ctx, k)
			switch {
			case err == nil:
				st[k] = o
			case !errors.Is(err, datastore.ErrNotFound):
				return nil, err
			}
		}
	}
	return st, nil
}

// plan returns the ops that write chunk[:planned] given st, and the error
// that stops chunk[planned] from being written (nil if planned is the
// whole chunk). Resources skipped with --skip-exists count as planned but
// have no op.
func (w *writer) plan(chunk []v3.Object, st state) (ops []datastore.Op, planned int, err error) {
	for i, obj := range chunk {
		given := w.given[obj]
		setObjectMeta(obj, *given.DeepCopy())
		key := v3.KeyOf(obj)
		op, skip, err := w.planOne(obj, st[key], st)
		if err != nil {
			return ops, i, err
		}
		if !skip {
			ops = append(ops, op)
		}
		if key.Kind == v3.KindTier {
			// A later policy of the chunk may use the tier: the
			// transaction creates both at once.
			st[key] = obj
		}
	}
	return ops, len(chunk), nil
}

// planOne plans the write of obj, whose stored version is cur (nil if
// none), with calicoctl's semantics: create refuses an existing resource
// (unless skipped), replace a missing one, apply creates or updates; an
// update with a resourceVersion refuses a changed resource; a new policy
// needs its tier.
func (w *writer) planOne(obj, cur v3.Object, st state) (op datastore.Op, skip bool, err error) {
	key := v3.KeyOf(obj)
	if datastore.IsStatic(key) {
		return op, false, datastore.NotSupportedError(w.verb.String(), key, "the profile is built into the datastore and cannot be changed")
	}
	create := func() (datastore.Op, bool, error) {
		if t, ok := policyTier(obj); ok && st[v3.Key{Kind: v3.KindTier, Name: t}] == nil {
			return op, false, datastore.NotFoundError(v3.Key{Kind: v3.KindTier, Name: t}, nil)
		}
		return datastore.CreateOp(forCreate(obj)), false, nil
	}
	switch {
	case w.verb == verbCreate && cur != nil:
		if w.skipExists {
			return op, true, nil
		}
		return op, false, datastore.AlreadyExistsError(key, nil)
	case w.verb == verbCreate:
		if rv := obj.GetResourceVersion(); rv != "" {
			return op, false, datastore.InvalidFieldError(key, "Metadata.ResourceVersion", rv, "field must not be set for a Create request")
		}
		return create()
	case w.verb == verbApply && cur == nil:
		obj.SetResourceVersion("")
		return create()
	case cur == nil:
		return op, false, datastore.NotFoundError(key, nil)
	}
	if rv := obj.GetResourceVersion(); rv != "" && rv != cur.GetResourceVersion() {
		return op, false, datastore.ConflictError(key)
	}
	mergeForUpdate(obj, cur)
	return datastore.UpdateOp(obj), false, nil
}

// forCreate keeps of obj's metadata only what calicoctl lets a file set on
// creation: name, namespace, resourceVersion, labels and annotations. The
// datastore gives the new resource its uid and creationTimestamp.
func forCreate(obj v3.Object) v3.Object {
	meta := metav1.ObjectMeta{
		Name:            obj.GetName(),
		Namespace:       obj.GetNamespace(),
		ResourceVersion: obj.GetResourceVersion(),
		Labels:          obj.GetLabels(),
		Annotations:     obj.GetAnnotations(),
	}
	setObjectMeta(obj, meta)
	return obj
}

// mergeForUpdate gives obj the stored metadata of cur, as calicoctl does
// before an update: everything comes from the stored resource (uid,
// creationTimestamp, resourceVersion...) except labels and annotations,
// which are the stored ones with obj's added or replacing them. (So, as
// with Calico, apply and replace never remove a label or annotation; use
// calicoctl label --remove.)
func mergeForUpdate(obj, cur v3.Object) {
	meta := objectMeta(cur)
	meta.Labels = mergeMaps(cur.GetLabels(), obj.GetLabels())
	meta.Annotations = mergeMaps(cur.GetAnnotations(), obj.GetAnnotations())
	setObjectMeta(obj, meta)
}

func mergeMaps(stored, given map[string]string) map[string]string {
	if len(stored) == 0 && len(given) == 0 {
		return nil
	}
	out := make(map[string]string, len(stored)+len(given))
	for k, v := range stored {
		out[k] = v
	}
	for k, v := range given {
		out[k] = v
	}
	return out
}

// objectMeta returns a deep copy of obj's metadata.
func objectMeta(obj v3.Object) metav1.ObjectMeta {
	if a, ok := obj.(metav1.ObjectMetaAccessor); ok {
		if m, ok := a.GetObjectMeta().(*metav1.ObjectMeta); ok {
			return *m.DeepCopy()
		}
	}
	panic(fmt.Sprintf("%T does not embed metav1.ObjectMeta", obj))
}

// setObjectMeta replaces obj's metadata.
func setObjectMeta(obj v3.Object, meta metav1.ObjectMeta) {
	if a, ok := obj.(metav1.ObjectMetaAccessor); ok {
		if m, ok := a.GetObjectMeta().(*metav1.ObjectMeta); ok {
			*m = meta
			return
		}
	}
	panic(fmt.Sprintf("%T does not embed metav1.ObjectMeta", obj))
}

// policyTier returns the tier of a policy kind's object (default if
// empty), and false for other kinds.
func policyTier(obj v3.Object) (string, bool) {
	switch p := obj.(type) {
	case *v3.NetworkPolicy:
		return v3.TierOrDefault(p.Spec.Tier), true
	case *v3.GlobalNetworkPolicy:
		return v3.TierOrDefault(p.Spec.Tier), true
	case *v3.StagedNetworkPolicy:
		return v3.TierOrDefault(p.Spec.Tier), true
	case *v3.StagedGlobalNetworkPolicy:
		return v3.TierOrDefault(p.Spec.Tier), true
	}
	return "", false
}

// wellKnownTiers are the tiers Calico's client creates in a datastore that
// lacks them (EnsureInitialized), with the settings it gives them.
func wellKnownTiers() []*v3.Tier {
	tier := func(name string, order float64, action v3.Action) *v3.Tier {
		return &v3.Tier{ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: v3.TierSpec{Order: &order, DefaultAction: &action}}
	}
	return []*v3.Tier{
		tier(v3.DefaultTierName, v3.DefaultTierOrder, v3.Deny),
		tier(v3.KubeAdminTierName, v3.KubeAdminTierOrder, v3.Pass),
		tier(v3.KubeBaselineTierName, v3.KubeBaselineTierOrder, v3.Pass),
	}
}

// ensureInitialized creates the well-known tiers that are missing, as
// calicoctl does before every create, apply and replace, so that policies
// of the default tier can be created. Like calicoctl it ignores failures:
// the user may not be allowed to write tiers, and the writes that follow
// report a datastore that does not answer.
func ensureInitialized(ctx context.Context, store datastore.Store) {
	l, err := store.List(ctx, v3.KindTier, "")
	if err != nil {
		return
	}
	have := make(map[string]bool, len(l.Items))
	for _, t := range l.Items {
		have[t.GetName()] = true
	}
	var ops []datastore.Op
	for _, t := range wellKnownTiers() {
		if !have[t.Name] {
			ops = append(ops, datastore.CreateOp(t))
		}
	}
	if len(ops) > 0 {
		_, _ = store.Txn(ctx, ops)
	}
}
