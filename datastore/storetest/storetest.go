// Package storetest is the conformance suite every datastore.Store backend
// must pass. A backend's test calls Run with a constructor of empty stores:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) datastore.Store { return memory.New() })
//	}
//
// The suite checks the behaviour callers rely on and that must not differ
// between backends: the revision model (one counter, resourceVersion = the
// revision of the last write), optimistic concurrency, Calico's error
// texts, transactions, watches replaying from a revision, compaction, and
// the static default-allow profile. Stores passed to Run must also
// implement Compacter.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	v3 "github.com/tabby-project/tabby/api/v3"
	"github.com/tabby-project/tabby/datastore"
)

// Compacter is a store whose watch history can be discarded before a
// revision, as etcd's compaction does: afterwards a Watch from a revision
// below rev-1 fails with ErrCompacted, and a Watch from rev-1 or later works.
type Compacter interface {
	Compact(ctx context.Context, rev int64) error
}

// eventTimeout bounds every wait for a watch event.
const eventTimeout = 10 * time.Second

// Run runs the suite. newStore must return an empty store (no resources
// stored) for each subtest and arrange its cleanup with t.Cleanup.
func Run(t *testing.T, newStore func(t *testing.T) datastore.Store) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			tc.run(ctx, t, newStore(t))
		})
	}
}

type testCase struct {
	name string
	run  func(ctx context.Context, t *testing.T, s datastore.Store)
}

var cases = []testCase{
	{"create returns the object as stored with uid, creationTimestamp and resourceVersion", func(ctx context.Context, t *testing.T, s datastore.Store) {
		in := networkPolicy("ns1", "p1", 10)
		got := mustCreate(ctx, t, s, in)
		if got.GetUID() == "" {
			t.Error("created object has no uid")
		}
		if ct := got.GetCreationTimestamp(); ct.IsZero() {
			t.Error("created object has no creationTimestamp")
		}
		rev(t, got)
		want := clone(t, in)
		want.APIVersion, want.Kind = v3.APIVersion, v3.KindNetworkPolicy
		want.UID, want.CreationTimestamp, want.ResourceVersion = got.GetUID(), got.GetCreationTimestamp(), got.GetResourceVersion()
		if diff := cmp.Diff(v3.Object(want), got, cmpOpts); diff != "" {
			t.Errorf("created object (-want +got):\n%s", diff)
		}
		read := mustGet(ctx, t, s, v3.KeyOf(in))
		if diff := cmp.Diff(got, read, cmpOpts); diff != "" {
			t.Errorf("Get after Create (-create +get):\n%s", diff)
		}
	}},
	{"create does not modify the caller's object", func(ctx context.Context, t *testing.T, s datastore.Store) {
		in := networkPolicy("ns1", "p1", 10)
		before := clone(t, in)
		mustCreate(ctx, t, s, in)
		if diff := cmp.Diff(before, in, cmpOpts); diff != "" {
			t.Errorf("caller's object changed (-before +after):\n%s", diff)
		}
	}},
	{"create keeps a uid and creationTimestamp given by the caller", func(ctx context.Context, t *testing.T, s datastore.Store) {
		in := globalPolicy("g1", 1)
		in.UID = types.UID("0b5f8a4e-0000-4000-8000-000000000001")
		in.CreationTimestamp = metav1.NewTime(time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC))
		got := mustCreate(ctx, t, s, in)
		if got.GetUID() != in.UID {
			t.Errorf("uid = %q, want %q", got.GetUID(), in.UID)
		}
		if ct := got.GetCreationTimestamp(); !ct.Equal(&in.CreationTimestamp) {
			t.Errorf("creationTimestamp = %v, want %v", ct, in.CreationTimestamp)
		}
	}},
	{"create of an existing resource fails with ErrAlreadyExists in Calico's words", func(ctx context.Context, t *testing.T, s datastore.Store) {
		mustCreate(ctx, t, s, networkPolicy("ns1", "p1", 10))
		_, err := s.Create(ctx, networkPolicy("ns1", "p1", 20))
		wantErr(t, err, datastore.ErrAlreadyExists, "resource already exists: NetworkPolicy(ns1/p1) with error: <nil>")
		got := mustGet(ctx, t, s, v3.Key{Kind: v3.KindNetworkPolicy, Namespace: "ns1", Name: "p1"})
		if o := *got.(*v3.NetworkPolicy).Spec.Order; o != 10 {
			t.Errorf("failed create changed the stored order to %v", o)
		}
	}},
	{"create with a resourceVersion fails with ErrInvalid", func(ctx context.Context, t *testing.T, s datastore.Store) {
		in := networkPolicy("ns1", "p1", 10)
		in.ResourceVersion = "5"
		_, err := s.Create(ctx, in)
		wantErr(t, err, datastore.ErrInvalid,
			"error with field Metadata.ResourceVersion = '5' (field must not be set for a Create request)")
	}},
	{"get of a missing resource fails with ErrNotFound in Calico's words", func(ctx context.Context, t *testing.T, s datastore.Store) {
		_, err := s.Get(ctx, v3.Key{Kind: v3.KindNetworkPolicy, Namespace: "ns1", Name: "missing"})
		wantErr(t, err, datastore.ErrNotFound, "resource does not exist: NetworkPolicy(ns1/missing) with error: <nil>")
	}},
	{"get accepts a calicoctl alias for the kind and answers with the canonical kind", func(ctx context.Context, t *testing.T, s datastore.Store) {
		mustCreate(ctx, t, s, globalPolicy("g1", 1))
		got := mustGet(ctx, t, s, v3.Key{Kind: "gnp", Name: "g1"})
		if k := v3.KeyOf(got); k != (v3.Key{Kind: v3.KindGlobalNetworkPolicy, Name: "g1"}) {
			t.Errorf("key of the object read = %v", k)
		}
	}},
	{"keys missing an identifier or naming an unknown kind fail with ErrInvalid", func(ctx context.Context, t *testing.T, s datastore.Store) {
		for _, tc := range []struct {
			key  v3.Key
			text string
		}{
			{v3.Key{Kind: v3.KindNetworkPolicy, Name: "p"}, "insufficient identifiers, missing 'namespace'"},
			{v3.Key{Kind: v3.KindTier, Name: ""}, "insufficient identifiers, missing 'name'"},
			{v3.Key{Kind: v3.KindTier, Namespace: "ns1", Name: "t"},
				"error with field Metadata.Namespace = 'ns1' (namespace must be empty for a global resource)"},
			{v3.Key{Kind: v3.KindNetworkPolicy, Namespace: "ns1", Name: "a/b"},
				"error with field Metadata.Name = 'a/b' (must not contain '/')"},
			{v3.Key{Kind: "Gadget", Name: "g"}, `datastore: invalid request: unknown kind "Gadget"`},
		} {
			_, err := s.Get(ctx, tc.key)
			wantErr(t, err, datastore.ErrInvalid, tc.text)
		}
	}},
	{"update with the current resourceVersion replaces the resource and advances its version", func(ctx context.Context, t *testing.T, s datastore.Store) {
		created := mustCreate(ctx, t, s, globalPolicy("g1", 1)).(*v3.GlobalNetworkPolicy)
		created.Spec.Selector = "role == 'db'"
		updated, err := s.Update(ctx, created)
		if err != nil {
			t.Fatalf("Update: %v", err)
		}
		if rev(t, updated) <= rev(t, created) {
			t.Errorf("resourceVersion went from %s to %s", created.ResourceVersion, updated.GetResourceVersion())
		}
		want := clone(t, created)
		want.ResourceVersion = updated.GetResourceVersion()
		if diff := cmp.Diff(v3.Object(want), updated, cmpOpts); diff != "" {
			t.Errorf("updated object (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(updated, mustGet(ctx, t, s, v3.KeyOf(created)), cmpOpts); diff != "" {
			t.Errorf("Get after Update (-update +get):\n%s", diff)
		}
	}},
	{"update with a stale resourceVersion fails with ErrConflict and changes nothing", func(ctx context.Context, t *testing.T, s datastore.Store) {
		created := mustCreate(ctx, t, s, globalPolicy("g1", 1)).(*v3.GlobalNetworkPolicy)
		first := clone(t, created)
		first.Spec.Selector = "first == 'yes'"
		if _, err := s.Update(ctx, first); err != nil {
			t.Fatalf("first Update: %v", err)
		}
		second := clone(t, created)
		second.Spec.Selector = "second == 'yes'"
		_, err := s.Update(ctx, second)
		wantErr(t, err, datastore.ErrConflict, "update conflict: GlobalNetworkPolicy(g1)")
		if sel := mustGet(ctx, t, s, v3.KeyOf(created)).(*v3.GlobalNetworkPolicy).Spec.Selector; sel != first.Spec.Selector {
			t.Errorf("selector = %q after the conflicting update, want %q", sel, first.Spec.Selector)
		}
	}},
	{"update of a missing resource fails with ErrNotFound", func(ctx context.Context, t *testing.T, s datastore.Store) {
		in := globalPolicy("g1", 1)
		in.ResourceVersion = "3"
		_, err := s.Update(ctx, in)
		wantErr(t, err, datastore.ErrNotFound, "resource does not exist: GlobalNetworkPolicy(g1) with error: <nil>")
	}},
	{"update without a resourceVersion fails with ErrInvalid", func(ctx context.Context, t *testing.T, s datastore.Store) {
		mustCreate(ctx, t, s, globalPolicy("g1", 1))
		_, err := s.Update(ctx, globalPolicy("g1", 2))
		wantErr(t, err, datastore.ErrInvalid,
			"error with field Metadata.ResourceVersion (field must be set for an Update request)")
	}},
	{"update with a malformed resourceVersion fails with ErrInvalid", func(ctx context.Context, t *testing.T, s datastore.Store) {
		in := globalPolicy("g1", 1)
		in.ResourceVersion = "abc"
		_, err := s.Update(ctx, in)
		wantErr(t, err, datastore.ErrInvalid, "error with field ResourceVersion = 'abc'")
	}},
	{"update without uid and creationTimestamp keeps the stored ones", func(ctx context.Context, t *testing.T, s datastore.Store) {
		created := mustCreate(ctx, t, s, networkPolicy("ns1", "p1", 1))
		in := networkPolicy("ns1", "p1", 2)
		in.ResourceVersion = created.GetResourceVersion()
		updated, err := s.Update(ctx, in)
		if err != nil {
			t.Fatalf("Update: %v", err)
		}
		if updated.GetUID() != created.GetUID() {
			t.Errorf("uid changed from %q to %q", created.GetUID(), updated.GetUID())
		}
		if a, b := created.GetCreationTimestamp(), updated.GetCreationTimestamp(); !a.Equal(&b) {
			t.Errorf("creationTimestamp changed from %v to %v", a, b)
		}
	}},
	{"apply creates a missing resource and replaces an existing one whatever its version", func(ctx context.Context, t *testing.T, s datastore.Store) {
		first, err := s.Apply(ctx, tier("security", 100))
		if err != nil {
			t.Fatalf("Apply of a new resource: %v", err)
		}
		if first.GetUID() == "" || first.GetResourceVersion() == "" {
			t.Errorf("applied object lacks uid or resourceVersion: %+v", first)
		}
		stale := tier("security", 200)
		stale.ResourceVersion = "1"
		second, err := s.Apply(ctx, stale)
		if err != nil {
			t.Fatalf("Apply over an existing resource: %v", err)
		}
		if o := *mustGet(ctx, t, s, v3.KeyOf(stale)).(*v3.Tier).Spec.Order; o != 200 {
			t.Errorf("order after apply = %v, want 200", o)
		}
		if second.GetUID() != first.GetUID() {
			t.Errorf("apply changed the uid from %q to %q", first.GetUID(), second.GetUID())
		}
		if a, b := first.GetCreationTimestamp(), second.GetCreationTimestamp(); !a.Equal(&b) {
			t.Errorf("apply changed creationTimestamp from %v to %v", a, b)
		}
		if rev(t, second) <= rev(t, first) {
			t.Errorf("resourceVersion went from %s to %s", first.GetResourceVersion(), second.GetResourceVersion())
		}
	}},
	{"delete returns the last stored state and removes the resource", func(ctx context.Context, t *testing.T, s datastore.Store) {
		created := mustCreate(ctx, t, s, networkPolicy("ns1", "p1", 1))
		deleted, err := s.Delete(ctx, v3.KeyOf(created), "")
		if err != nil {
			t.Fatalf("Delete: %v", err)
		}
		if diff := cmp.Diff(created, deleted, cmpOpts); diff != "" {
			t.Errorf("deleted object (-created +deleted):\n%s", diff)
		}
		_, err = s.Get(ctx, v3.KeyOf(created))
		wantErr(t, err, datastore.ErrNotFound, "resource does not exist: NetworkPolicy(ns1/p1) with error: <nil>")
	}},
	{"delete with the current resourceVersion succeeds and with a stale one fails with ErrConflict", func(ctx context.Context, t *testing.T, s datastore.Store) {
		created := mustCreate(ctx, t, s, networkSet("ns1", "n1"))
		updated, err := s.Apply(ctx, networkSet("ns1", "n1"))
		if err != nil {
			t.Fatalf("Apply: %v", err)
		}
		_, err = s.Delete(ctx, v3.KeyOf(created), created.GetResourceVersion())
		wantErr(t, err, datastore.ErrConflict, "update conflict: NetworkSet(ns1/n1)")
		mustGet(ctx, t, s, v3.KeyOf(created))
		if _, err := s.Delete(ctx, v3.KeyOf(created), updated.GetResourceVersion()); err != nil {
			t.Fatalf("Delete at the current version: %v", err)
		}
	}},
	{"delete of a missing resource fails with ErrNotFound", func(ctx context.Context, t *testing.T, s datastore.Store) {
		_, err := s.Delete(ctx, v3.Key{Kind: v3.KindHostEndpoint, Name: "h1"}, "")
		wantErr(t, err, datastore.ErrNotFound, "resource does not exist: HostEndpoint(h1) with error: <nil>")
	}},
	{"list of one namespace returns its resources of the kind sorted by name", func(ctx context.Context, t *testing.T, s datastore.Store) {
		seed(ctx, t, s)
		got := mustList(ctx, t, s, v3.KindNetworkPolicy, "ns1")
		wantKeys(t, got.Items, "NetworkPolicy(ns1/a)", "NetworkPolicy(ns1/b)")
	}},
	{"list of all namespaces sorts by namespace then name", func(ctx context.Context, t *testing.T, s datastore.Store) {
		seed(ctx, t, s)
		got := mustList(ctx, t, s, "np", "")
		wantKeys(t, got.Items, "NetworkPolicy(ns1/a)", "NetworkPolicy(ns1/b)", "NetworkPolicy(ns2/a)")
	}},
	{"list of a global kind ignores the namespace", func(ctx context.Context, t *testing.T, s datastore.Store) {
		seed(ctx, t, s)
		got := mustList(ctx, t, s, v3.KindGlobalNetworkPolicy, "ns1")
		wantKeys(t, got.Items, "GlobalNetworkPolicy(g1)")
	}},
	{"list of every kind returns everything in kind order, the default-allow profile included", func(ctx context.Context, t *testing.T, s datastore.Store) {
		seed(ctx, t, s)
		got := mustList(ctx, t, s, "", "")
		wantKeys(t, got.Items, "NetworkPolicy(ns1/a)", "NetworkPolicy(ns1/b)", "NetworkPolicy(ns2/a)",
			"GlobalNetworkPolicy(g1)", "NetworkSet(ns2/n1)", "Profile(projectcalico-default-allow)")
	}},
	{"list returns objects equal to what get returns and the revision of the last write", func(ctx context.Context, t *testing.T, s datastore.Store) {
		seed(ctx, t, s)
		last := mustCreate(ctx, t, s, networkPolicy("ns3", "z", 1))
		got := mustList(ctx, t, s, v3.KindNetworkPolicy, "")
		if got.Revision != rev(t, last) {
			t.Errorf("list revision = %d, want %d (the last write)", got.Revision, rev(t, last))
		}
		for _, item := range got.Items {
			if diff := cmp.Diff(mustGet(ctx, t, s, v3.KeyOf(item)), item, cmpOpts); diff != "" {
				t.Errorf("%v listed differs from Get (-get +list):\n%s", v3.KeyOf(item), diff)
			}
		}
	}},
	{"list of an empty kind is empty", func(ctx context.Context, t *testing.T, s datastore.Store) {
		got := mustList(ctx, t, s, v3.KindHostEndpoint, "")
		if len(got.Items) != 0 || got.Revision <= 0 {
			t.Errorf("List = %d items at revision %d, want none at a positive revision", len(got.Items), got.Revision)
		}
	}},
	{"get of the default-allow profile returns Calico's static allow-all profile at version 1", func(ctx context.Context, t *testing.T, s datastore.Store) {
		got := mustGet(ctx, t, s, v3.Key{Kind: v3.KindProfile, Name: datastore.DefaultAllowProfileName})
		if diff := cmp.Diff(v3.Object(datastore.DefaultAllowProfile()), got, cmpOpts); diff != "" {
			t.Errorf("default-allow profile (-want +got):\n%s", diff)
		}
		p := got.(*v3.Profile)
		if p.ResourceVersion != "1" || len(p.Spec.Ingress) != 1 || p.Spec.Ingress[0].Action != v3.Allow ||
			len(p.Spec.Egress) != 1 || p.Spec.Egress[0].Action != v3.Allow {
			t.Errorf("default-allow profile = %+v, want allow-all at version 1", p)
		}
	}},
	{"list of profiles includes the default-allow profile once among the stored ones", func(ctx context.Context, t *testing.T, s datastore.Store) {
		mustCreate(ctx, t, s, profile("kns.ns1"))
		mustCreate(ctx, t, s, profile("zzz"))
		got := mustList(ctx, t, s, v3.KindProfile, "")
		wantKeys(t, got.Items, "Profile(kns.ns1)", "Profile(projectcalico-default-allow)", "Profile(zzz)")
	}},
	{"writes to the default-allow profile are refused with ErrNotSupported", func(ctx context.Context, t *testing.T, s datastore.Store) {
		key := v3.Key{Kind: v3.KindProfile, Name: datastore.DefaultAllowProfileName}
		const reason = ": the profile is built into the datastore and cannot be changed"
		p := profile(datastore.DefaultAllowProfileName)
		_, err := s.Create(ctx, p)
		wantErr(t, err, datastore.ErrNotSupported, "operation Create is not supported on Profile(projectcalico-default-allow)"+reason)
		_, err = s.Apply(ctx, p)
		wantErr(t, err, datastore.ErrNotSupported, "operation Apply is not supported on Profile(projectcalico-default-allow)"+reason)
		p.ResourceVersion = "1"
		_, err = s.Update(ctx, p)
		wantErr(t, err, datastore.ErrNotSupported, "operation Update is not supported on Profile(projectcalico-default-allow)"+reason)
		_, err = s.Delete(ctx, key, "")
		wantErr(t, err, datastore.ErrNotSupported, "operation Delete is not supported on Profile(projectcalico-default-allow)"+reason)
		mustGet(ctx, t, s, key)
	}},
	{"a transaction applies every operation at one revision", func(ctx context.Context, t *testing.T, s datastore.Store) {
		keep := mustCreate(ctx, t, s, networkPolicy("ns1", "keep", 1))
		gone := mustCreate(ctx, t, s, networkPolicy("ns1", "gone", 1))
		upd := clone(t, keep.(*v3.NetworkPolicy))
		upd.Spec.Selector = "updated == 'true'"
		out, err := s.Txn(ctx, []datastore.Op{
			datastore.CreateOp(networkPolicy("ns1", "new", 1)),
			datastore.UpdateOp(upd),
			datastore.ApplyOp(tier("t1", 5)),
			datastore.DeleteOp(v3.KeyOf(gone), gone.GetResourceVersion()),
		})
		if err != nil {
			t.Fatalf("Txn: %v", err)
		}
		if len(out) != 4 {
			t.Fatalf("Txn returned %d objects, want 4", len(out))
		}
		r := rev(t, out[0])
		if rev(t, out[1]) != r || rev(t, out[2]) != r {
			t.Errorf("written objects have versions %s, %s, %s; want one revision",
				out[0].GetResourceVersion(), out[1].GetResourceVersion(), out[2].GetResourceVersion())
		}
		if diff := cmp.Diff(gone, out[3], cmpOpts); diff != "" {
			t.Errorf("deleted object (-want +got):\n%s", diff)
		}
		got := mustList(ctx, t, s, "", "")
		wantKeys(t, got.Items, "NetworkPolicy(ns1/keep)", "NetworkPolicy(ns1/new)", "Tier(t1)",
			"Profile(projectcalico-default-allow)")
		if got.Revision != r {
			t.Errorf("store revision = %d after the transaction, want %d", got.Revision, r)
		}
	}},
	{"a transaction with a failing operation changes nothing and names the operation", func(ctx context.Context, t *testing.T, s datastore.Store) {
		mustCreate(ctx, t, s, globalPolicy("exists", 1))
		before := mustList(ctx, t, s, "", "")
		_, err := s.Txn(ctx, []datastore.Op{
			datastore.CreateOp(globalPolicy("fresh", 1)),
			datastore.CreateOp(globalPolicy("exists", 2)),
		})
		wantErr(t, err, datastore.ErrAlreadyExists,
			"transaction operation 2 of 2: resource already exists: GlobalNetworkPolicy(exists) with error: <nil>")
		after := mustList(ctx, t, s, "", "")
		if after.Revision != before.Revision {
			t.Errorf("revision moved from %d to %d", before.Revision, after.Revision)
		}
		if diff := cmp.Diff(before.Items, after.Items, cmpOpts); diff != "" {
			t.Errorf("store changed (-before +after):\n%s", diff)
		}
	}},
	{"a transaction naming one resource twice fails with ErrInvalid", func(ctx context.Context, t *testing.T, s datastore.Store) {
		_, err := s.Txn(ctx, []datastore.Op{
			datastore.ApplyOp(globalPolicy("g1", 1)),
			datastore.DeleteOp(v3.Key{Kind: v3.KindGlobalNetworkPolicy, Name: "g1"}, ""),
		})
		wantErr(t, err, datastore.ErrInvalid,
			"transaction operation 2 of 2: GlobalNetworkPolicy(g1) appears more than once in the transaction")
	}},
	{"an empty transaction does nothing", func(ctx context.Context, t *testing.T, s datastore.Store) {
		before := mustList(ctx, t, s, "", "")
		out, err := s.Txn(ctx, nil)
		if err != nil || len(out) != 0 {
			t.Fatalf("Txn(nil) = %v, %v; want nothing", out, err)
		}
		if after := mustList(ctx, t, s, "", ""); after.Revision != before.Revision {
			t.Errorf("revision moved from %d to %d", before.Revision, after.Revision)
		}
	}},
	{"watch from a revision replays the later changes of the kind in order with their objects", func(ctx context.Context, t *testing.T, s datastore.Store) {
		start := mustList(ctx, t, s, "", "").Revision
		a := mustCreate(ctx, t, s, networkPolicy("ns1", "a", 1))
		mustCreate(ctx, t, s, tier("other-kind", 1))
		a2 := clone(t, a.(*v3.NetworkPolicy))
		a2.Spec.Selector = "v == '2'"
		upd, err := s.Update(ctx, a2)
		if err != nil {
			t.Fatalf("Update: %v", err)
		}
		if _, err := s.Delete(ctx, v3.KeyOf(a), ""); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		b := mustCreate(ctx, t, s, networkPolicy("ns2", "b", 1))

		ch, err := s.Watch(ctx, v3.KindNetworkPolicy, start)
		if err != nil {
			t.Fatalf("Watch: %v", err)
		}
		deletedAt := rev(t, b) - 1
		want := []datastore.Event{
			{Type: datastore.Added, Key: v3.KeyOf(a), Object: a, Revision: rev(t, a)},
			{Type: datastore.Modified, Key: v3.KeyOf(a), Object: upd, Revision: rev(t, upd)},
			{Type: datastore.Deleted, Key: v3.KeyOf(a), Object: upd, Revision: deletedAt},
			{Type: datastore.Added, Key: v3.KeyOf(b), Object: b, Revision: rev(t, b)},
		}
		got := receive(t, ch, len(want))
		if diff := cmp.Diff(want, got, cmpOpts); diff != "" {
			t.Errorf("events (-want +got):\n%s", diff)
		}
	}},
	{"watch of every kind sees the changes of all kinds, a transaction's at one revision", func(ctx context.Context, t *testing.T, s datastore.Store) {
		start := mustList(ctx, t, s, "", "").Revision
		out, err := s.Txn(ctx, []datastore.Op{
			datastore.CreateOp(tier("t1", 1)),
			datastore.CreateOp(networkSet("ns1", "n1")),
		})
		if err != nil {
			t.Fatalf("Txn: %v", err)
		}
		ch, err := s.Watch(ctx, "", start)
		if err != nil {
			t.Fatalf("Watch: %v", err)
		}
		got := receive(t, ch, 2)
		want := []datastore.Event{
			{Type: datastore.Added, Key: v3.KeyOf(out[0]), Object: out[0], Revision: rev(t, out[0])},
			{Type: datastore.Added, Key: v3.KeyOf(out[1]), Object: out[1], Revision: rev(t, out[0])},
		}
		if diff := cmp.Diff(want, got, cmpOpts); diff != "" {
			t.Errorf("events (-want +got):\n%s", diff)
		}
	}},
	{"watch from revision 0 sees only changes made after it started", func(ctx context.Context, t *testing.T, s datastore.Store) {
		mustCreate(ctx, t, s, globalPolicy("before", 1))
		ch, err := s.Watch(ctx, v3.KindGlobalNetworkPolicy, 0)
		if err != nil {
			t.Fatalf("Watch: %v", err)
		}
		after := mustCreate(ctx, t, s, globalPolicy("after", 1))
		got := receive(t, ch, 1)
		if got[0].Key != v3.KeyOf(after) || got[0].Type != datastore.Added {
			t.Errorf("first event = %v %v, want Added %v", got[0].Type, got[0].Key, v3.KeyOf(after))
		}
	}},
	{"list then watch from the list revision misses nothing and repeats nothing", func(ctx context.Context, t *testing.T, s datastore.Store) {
		mustCreate(ctx, t, s, globalPolicy("listed", 1))
		l := mustList(ctx, t, s, v3.KindGlobalNetworkPolicy, "")
		later := mustCreate(ctx, t, s, globalPolicy("later", 1))
		ch, err := s.Watch(ctx, v3.KindGlobalNetworkPolicy, l.Revision)
		if err != nil {
			t.Fatalf("Watch: %v", err)
		}
		got := receive(t, ch, 1)
		if got[0].Key != v3.KeyOf(later) {
			t.Errorf("first event after the list is for %v, want %v", got[0].Key, v3.KeyOf(later))
		}
	}},
	{"watch from a compacted revision ends with an ErrCompacted event", func(ctx context.Context, t *testing.T, s datastore.Store) {
		start := mustList(ctx, t, s, "", "").Revision
		mustCreate(ctx, t, s, globalPolicy("a", 1))
		mustCreate(ctx, t, s, globalPolicy("b", 1))
		c := mustCreate(ctx, t, s, globalPolicy("c", 1))
		compact(ctx, t, s, rev(t, c))
		ch, err := s.Watch(ctx, v3.KindGlobalNetworkPolicy, start)
		if err != nil {
			t.Fatalf("Watch: %v", err)
		}
		ev := receive(t, ch, 1)[0]
		if ev.Type != datastore.Error || !errors.Is(ev.Err, datastore.ErrCompacted) {
			t.Fatalf("event = %v (%v), want an Error event with ErrCompacted", ev.Type, ev.Err)
		}
		waitClosed(t, ch)
	}},
	{"watch from the revision before the compaction point still replays", func(ctx context.Context, t *testing.T, s datastore.Store) {
		mustCreate(ctx, t, s, globalPolicy("a", 1))
		c := mustCreate(ctx, t, s, globalPolicy("c", 1))
		compact(ctx, t, s, rev(t, c))
		ch, err := s.Watch(ctx, v3.KindGlobalNetworkPolicy, rev(t, c)-1)
		if err != nil {
			t.Fatalf("Watch: %v", err)
		}
		ev := receive(t, ch, 1)[0]
		if ev.Type != datastore.Added || ev.Key != v3.KeyOf(c) {
			t.Errorf("event = %v %v (%v), want Added %v", ev.Type, ev.Key, ev.Err, v3.KeyOf(c))
		}
	}},
	{"watch closes its channel when its context is cancelled", func(ctx context.Context, t *testing.T, s datastore.Store) {
		wctx, cancel := context.WithCancel(ctx)
		ch, err := s.Watch(wctx, "", 0)
		if err != nil {
			t.Fatalf("Watch: %v", err)
		}
		cancel()
		waitClosed(t, ch)
	}},
}

// cmpOpts compares timestamps by instant: decoding gives local times.
var cmpOpts = cmp.Options{
	cmp.Comparer(func(a, b metav1.Time) bool { return a.Equal(&b) }),
	cmp.Comparer(func(a, b error) bool { return errors.Is(a, b) || errors.Is(b, a) }),
}

func networkPolicy(ns, name string, order float64) *v3.NetworkPolicy {
	return &v3.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{"app": "web"}},
		Spec: v3.NetworkPolicySpec{
			Tier:     "default",
			Order:    &order,
			Selector: "app == 'web'",
			Types:    []v3.PolicyType{v3.PolicyTypeIngress},
			Ingress: []v3.Rule{{
				Action:      v3.Allow,
				Protocol:    &v3.Protocol{Name: v3.ProtocolTCP},
				Destination: v3.EntityRule{Ports: []v3.Port{v3.SinglePort(80), v3.PortRange(8000, 8080)}},
			}},
		},
	}
}

func globalPolicy(name string, order float64) *v3.GlobalNetworkPolicy {
	return &v3.GlobalNetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: v3.GlobalNetworkPolicySpec{
			Order:    &order,
			Selector: "all()",
			Types:    []v3.PolicyType{v3.PolicyTypeEgress},
			Egress:   []v3.Rule{{Action: v3.Deny}},
		},
	}
}

func tier(name string, order float64) *v3.Tier {
	pass := v3.Pass
	return &v3.Tier{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: v3.TierSpec{Order: &order, DefaultAction: &pass}}
}

func networkSet(ns, name string) *v3.NetworkSet {
	return &v3.NetworkSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{"role": "external"}},
		Spec:       v3.NetworkSetSpec{Nets: []string{"198.51.100.0/24"}},
	}
}

func profile(name string) *v3.Profile {
	return &v3.Profile{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       v3.ProfileSpec{Ingress: []v3.Rule{{Action: v3.Allow}}, LabelsToApply: map[string]string{"p": name}},
	}
}

// seed stores resources of several kinds, namespaces and names, out of order.
func seed(ctx context.Context, t *testing.T, s datastore.Store) {
	t.Helper()
	for _, o := range []v3.Object{
		networkPolicy("ns2", "a", 1),
		networkSet("ns2", "n1"),
		networkPolicy("ns1", "b", 1),
		globalPolicy("g1", 1),
		networkPolicy("ns1", "a", 1),
	} {
		mustCreate(ctx, t, s, o)
	}
}

func mustCreate(ctx context.Context, t *testing.T, s datastore.Store, o v3.Object) v3.Object {
	t.Helper()
	got, err := s.Create(ctx, o)
	if err != nil {
		t.Fatalf("Create %v: %v", v3.KeyOf(o), err)
	}
	return got
}

func mustGet(ctx context.Context, t *testing.T, s datastore.Store, k v3.Key) v3.Object {
	t.Helper()
	got, err := s.Get(ctx, k)
	if err != nil {
		t.Fatalf("Get %v: %v", k, err)
	}
	return got
}

func mustList(ctx context.Context, t *testing.T, s datastore.Store, kind, ns string) datastore.ListResult {
	t.Helper()
	got, err := s.List(ctx, kind, ns)
	if err != nil {
		t.Fatalf("List %q in %q: %v", kind, ns, err)
	}
	return got
}

func compact(ctx context.Context, t *testing.T, s datastore.Store, r int64) {
	t.Helper()
	c, ok := s.(Compacter)
	if !ok {
		t.Fatalf("%T does not implement storetest.Compacter", s)
	}
	if err := c.Compact(ctx, r); err != nil {
		t.Fatalf("Compact(%d): %v", r, err)
	}
}

// clone deep-copies o through JSON.
func clone[T v3.Object](t *testing.T, o T) T {
	t.Helper()
	data, err := json.Marshal(o)
	if err != nil {
		t.Fatalf("encode %v: %v", v3.KeyOf(o), err)
	}
	c := reflect.New(reflect.TypeFor[T]().Elem()).Interface().(T)
	if err := json.Unmarshal(data, c); err != nil {
		t.Fatalf("decode %v: %v", v3.KeyOf(o), err)
	}
	return c
}

// rev parses an object's resourceVersion, which must be a positive decimal.
func rev(t *testing.T, o v3.Object) int64 {
	t.Helper()
	r, err := strconv.ParseInt(o.GetResourceVersion(), 10, 64)
	if err != nil || r <= 0 {
		t.Fatalf("resourceVersion %q of %v is not a positive revision", o.GetResourceVersion(), v3.KeyOf(o))
	}
	return r
}

func wantErr(t *testing.T, err, sentinel error, text string) {
	t.Helper()
	if !errors.Is(err, sentinel) {
		t.Errorf("error = %v, want %v", err, sentinel)
		return
	}
	if err.Error() != text {
		t.Errorf("error text:\n got %q\nwant %q", err.Error(), text)
	}
}

func wantKeys(t *testing.T, items []v3.Object, want ...string) {
	t.Helper()
	got := make([]string, len(items))
	for i, o := range items {
		got[i] = v3.KeyOf(o).String()
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("listed keys (-want +got):\n%s", diff)
	}
}

// receive reads n events, failing the test if they do not arrive in time.
func receive(t *testing.T, ch <-chan datastore.Event, n int) []datastore.Event {
	t.Helper()
	var got []datastore.Event
	deadline := time.After(eventTimeout)
	for len(got) < n {
		select {
		case ev, ok := <-ch:
			if !ok {
				t.Fatalf("watch closed after %d events, want %d: %+v", len(got), n, got)
			}
			got = append(got, ev)
		case <-deadline:
			t.Fatalf("got %d events in %v, want %d: %+v", len(got), eventTimeout, n, got)
		}
	}
	return got
}

// waitClosed drains ch until it closes, failing if it stays open.
func waitClosed(t *testing.T, ch <-chan datastore.Event) {
	t.Helper()
	deadline := time.After(eventTimeout)
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				return
			}
			if ev.Type != datastore.Error {
				t.Errorf("unexpected event while waiting for the watch to close: %v %v", ev.Type, ev.Key)
			}
		case <-deadline:
			t.Fatalf("watch still open after %v", eventTimeout)
		}
	}
}
