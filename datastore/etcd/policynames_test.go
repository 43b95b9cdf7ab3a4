package etcd_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/tabby-project/tabby/api/v3"
	"github.com/tabby-project/tabby/datastore"
)

const npPrefix = "/calico/resources/v3/projectcalico.org/networkpolicies/prod/"

// legacyValue is a default-tier NetworkPolicy as Calico 3.30 stored it.
func legacyValue(name, selector string) map[string]any {
	return map[string]any{
		"kind":       "NetworkPolicy",
		"apiVersion": "projectcalico.org/v3",
		"metadata": map[string]any{
			"name": "default." + name, "namespace": "prod",
			"uid": "11111111-2222-4333-8444-555555555555", "creationTimestamp": "2025-06-02T09:15:00Z",
			"annotations": map[string]any{"projectcalico.org/metadata": `{"name":"` + name + `"}`},
		},
		"spec": map[string]any{"tier": "default", "selector": selector},
	}
}

// headValue is a NetworkPolicy as Calico 3.32+ (and Tabby) stores it.
func headValue(name, selector string) map[string]any {
	v := legacyValue(name, selector)
	v["metadata"].(map[string]any)["name"] = name
	return v
}

func npKey(name string) v3.Key {
	return v3.Key{Kind: v3.KindNetworkPolicy, Namespace: "prod", Name: name}
}

func TestLegacyPolicyNames(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		run  func(t *testing.T, s datastore.Store, raw rawStore)
	}{
		{"an update of a policy found at its Calico 3.30 key rewrites that key in that format", func(t *testing.T, s datastore.Store, raw rawStore) {
			raw.put(t, npPrefix+"default.foo", legacyValue("foo", "old == 'x'"))
			got, err := s.Get(ctx, npKey("foo"))
			if err != nil {
				t.Fatalf("Get: %v", err)
			}
			p := got.(*v3.NetworkPolicy)
			p.Spec.Selector = "new == 'x'"
			if _, err := s.Update(ctx, p); err != nil {
				t.Fatalf("Update: %v", err)
			}
			want := legacyValue("foo", "new == 'x'")
			if diff := cmp.Diff(want, raw.get(t, npPrefix+"default.foo")); diff != "" {
				t.Errorf("legacy value after update (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]string{npPrefix + "default.foo"}, raw.keys(t)); diff != "" {
				t.Errorf("keys (-want +got):\n%s", diff)
			}
		}},
		{"an apply of a policy found at its Calico 3.30 key rewrites that key and keeps uid and creationTimestamp", func(t *testing.T, s datastore.Store, raw rawStore) {
			raw.put(t, npPrefix+"default.foo", legacyValue("foo", "old == 'x'"))
			in := &v3.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "prod", Name: "foo"},
				Spec: v3.NetworkPolicySpec{Tier: "default", Selector: "new == 'x'"}}
			if _, err := s.Apply(ctx, in); err != nil {
				t.Fatalf("Apply: %v", err)
			}
			if diff := cmp.Diff(legacyValue("foo", "new == 'x'"), raw.get(t, npPrefix+"default.foo")); diff != "" {
				t.Errorf("legacy value after apply (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]string{npPrefix + "default.foo"}, raw.keys(t)); diff != "" {
				t.Errorf("keys (-want +got):\n%s", diff)
			}
		}},
		{"a create of a policy stored at its Calico 3.30 key fails with ErrAlreadyExists", func(t *testing.T, s datastore.Store, raw rawStore) {
			raw.put(t, npPrefix+"default.foo", legacyValue("foo", "old == 'x'"))
			in := &v3.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "prod", Name: "foo"}}
			_, err := s.Create(ctx, in)
			if !errors.Is(err, datastore.ErrAlreadyExists) {
				t.Fatalf("Create = %v, want ErrAlreadyExists", err)
			}
		}},
		{"a delete by name removes the Calico 3.30 key", func(t *testing.T, s datastore.Store, raw rawStore) {
			raw.put(t, npPrefix+"default.foo", legacyValue("foo", "old == 'x'"))
			got, err := s.Delete(ctx, npKey("foo"), "")
			if err != nil {
				t.Fatalf("Delete: %v", err)
			}
			if got.GetName() != "foo" {
				t.Errorf("deleted object is named %q, want foo", got.GetName())
			}
			if keys := raw.keys(t); len(keys) != 0 {
				t.Errorf("keys left: %v", keys)
			}
		}},
		{"a policy under both keys is read from its own key, listed once, and the legacy key is found after a delete", func(t *testing.T, s datastore.Store, raw rawStore) {
			raw.put(t, npPrefix+"default.foo", legacyValue("foo", "legacy == 'x'"))
			raw.put(t, npPrefix+"foo", headValue("foo", "head == 'x'"))
			got, err := s.Get(ctx, npKey("foo"))
			if err != nil {
				t.Fatalf("Get: %v", err)
			}
			if sel := got.(*v3.NetworkPolicy).Spec.Selector; sel != "head == 'x'" {
				t.Errorf("Get read selector %q, want the own key's", sel)
			}
			l, err := s.List(ctx, v3.KindNetworkPolicy, "prod")
			if err != nil {
				t.Fatalf("List: %v", err)
			}
			if len(l.Items) != 1 || l.Items[0].(*v3.NetworkPolicy).Spec.Selector != "head == 'x'" {
				t.Errorf("List = %d items, want only the own key's", len(l.Items))
			}
			if _, err := s.Delete(ctx, npKey("foo"), ""); err != nil {
				t.Fatalf("Delete: %v", err)
			}
			if diff := cmp.Diff([]string{npPrefix + "default.foo"}, raw.keys(t)); diff != "" {
				t.Errorf("keys after delete (-want +got):\n%s", diff)
			}
			got, err = s.Get(ctx, npKey("foo"))
			if err != nil || got.(*v3.NetworkPolicy).Spec.Selector != "legacy == 'x'" {
				t.Errorf("Get after delete = %v, %v; want the legacy policy", got, err)
			}
		}},
		{"a Calico 3.32 policy named default.x is not taken for a policy x", func(t *testing.T, s datastore.Store, raw rawStore) {
			v := headValue("default.x", "all()")
			raw.put(t, npPrefix+"default.x", v)
			if _, err := s.Get(ctx, npKey("x")); !errors.Is(err, datastore.ErrNotFound) {
				t.Errorf("Get x = %v, want ErrNotFound", err)
			}
			if _, err := s.Delete(ctx, npKey("x"), ""); !errors.Is(err, datastore.ErrNotFound) {
				t.Errorf("Delete x = %v, want ErrNotFound", err)
			}
			in := &v3.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "prod", Name: "x"}}
			if _, err := s.Create(ctx, in); err != nil {
				t.Fatalf("Create x: %v", err)
			}
			if _, err := s.Apply(ctx, in); err != nil {
				t.Fatalf("Apply x: %v", err)
			}
			if diff := cmp.Diff([]string{npPrefix + "default.x", npPrefix + "x"}, raw.keys(t)); diff != "" {
				t.Errorf("keys (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(v, raw.get(t, npPrefix+"default.x")); diff != "" {
				t.Errorf("default.x changed (-want +got):\n%s", diff)
			}
		}},
		{"an object written with a resourceVersion and selfLink is stored without them", func(t *testing.T, s datastore.Store, raw rawStore) {
			in := &v3.Tier{ObjectMeta: metav1.ObjectMeta{Name: "t1", ResourceVersion: "12345"}}
			in.SetSelfLink("/apis/x")
			if _, err := s.Apply(ctx, in); err != nil {
				t.Fatalf("Apply: %v", err)
			}
			md := raw.get(t, "/calico/resources/v3/projectcalico.org/tiers/t1")["metadata"].(map[string]any)
			for _, f := range []string{"resourceVersion", "selfLink"} {
				if v, ok := md[f]; ok {
					t.Errorf("stored metadata has %s = %v", f, v)
				}
			}
		}},
		{"keys of kinds Tabby does not model and a stored default-allow profile are ignored", func(t *testing.T, s datastore.Store, raw rawStore) {
			raw.put(t, "/calico/resources/v3/projectcalico.org/ippools/default-ipv4-ippool", map[string]any{"kind": "IPPool"})
			raw.put(t, "/calico/resources/v3/projectcalico.org/tiers/a/b", map[string]any{"kind": "Tier"})
			raw.put(t, "/calico/resources/v3/projectcalico.org/profiles/projectcalico-default-allow",
				map[string]any{"kind": "Profile", "metadata": map[string]any{"name": "projectcalico-default-allow"}})
			raw.put(t, "/calico/resources/v3/projectcalico.org/tiers/ok", map[string]any{"kind": "Tier", "metadata": map[string]any{"name": "ok"}})
			l, err := s.List(ctx, "", "")
			if err != nil {
				t.Fatalf("List: %v", err)
			}
			var keys []string
			for _, o := range l.Items {
				keys = append(keys, v3.KeyOf(o).String())
			}
			if diff := cmp.Diff([]string{"Tier(ok)", "Profile(projectcalico-default-allow)"}, keys); diff != "" {
				t.Errorf("listed (-want +got):\n%s", diff)
			}
			got, err := s.Get(ctx, v3.Key{Kind: v3.KindProfile, Name: datastore.DefaultAllowProfileName})
			if err != nil || len(got.(*v3.Profile).Spec.Ingress) != 1 {
				t.Errorf("Get default-allow = %v, %v; want the static profile", got, err)
			}
		}},
		{"a watch names legacy policies as their users do and maps puts and deletes to events", func(t *testing.T, s datastore.Store, raw rawStore) {
			wctx, cancel := context.WithCancel(ctx)
			defer cancel()
			ch, err := s.Watch(wctx, "", 0)
			if err != nil {
				t.Fatalf("Watch: %v", err)
			}
			raw.put(t, "/calico/resources/v3/projectcalico.org/ippools/p", map[string]any{"kind": "IPPool"})
			raw.put(t, npPrefix+"default.foo", legacyValue("foo", "v == '1'"))
			raw.put(t, npPrefix+"default.foo", legacyValue("foo", "v == '2'"))
			raw.del(t, npPrefix+"default.foo")
			var got []string
			for _, ev := range receive(t, ch, 3) {
				sel := ""
				if ev.Object != nil {
					sel = ev.Object.(*v3.NetworkPolicy).Spec.Selector
				}
				got = append(got, ev.Type.String()+" "+ev.Key.String()+" "+sel)
			}
			want := []string{
				"Added NetworkPolicy(prod/foo) v == '1'",
				"Modified NetworkPolicy(prod/foo) v == '2'",
				"Deleted NetworkPolicy(prod/foo) v == '2'",
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			tt.run(t, s, rawStore{rawClient(t)})
		})
	}
}

func receive(t *testing.T, ch <-chan datastore.Event, n int) []datastore.Event {
	t.Helper()
	var got []datastore.Event
	deadline := time.After(10 * time.Second)
	for len(got) < n {
		select {
		case ev, ok := <-ch:
			if !ok {
				t.Fatalf("watch closed after %d events: %+v", len(got), got)
			}
			if ev.Type == datastore.Error {
				t.Fatalf("watch error: %v", ev.Err)
			}
			got = append(got, ev)
		case <-deadline:
			t.Fatalf("%d events after 10s, want %d", len(got), n)
		}
	}
	return got
}
