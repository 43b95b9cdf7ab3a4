package etcd_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/tabby-project/tabby/api/v3"
	"github.com/tabby-project/tabby/datastore"
	"github.com/tabby-project/tabby/datastore/etcd"
)

const gnpPrefix = "/calico/resources/v3/projectcalico.org/globalnetworkpolicies/"

func gnp(name, selector string) *v3.GlobalNetworkPolicy {
	return &v3.GlobalNetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: v3.GlobalNetworkPolicySpec{Tier: "default", Selector: selector}}
}

// rawGNP is a GlobalNetworkPolicy as another Calico client stores it.
func rawGNP(name, selector string) map[string]any {
	return map[string]any{
		"kind": "GlobalNetworkPolicy", "apiVersion": "projectcalico.org/v3",
		"metadata": map[string]any{"name": name, "uid": "aaaaaaaa-2222-4333-8444-555555555555",
			"creationTimestamp": "2025-06-02T09:15:00Z",
			"annotations":       map[string]any{"projectcalico.org/metadata": `{"name":"` + name + `"}`}},
		"spec": map[string]any{"tier": "default", "selector": selector},
	}
}

// TestWritesUseCalicosTransactionConditions checks the conditions of each
// write against a concurrent writer that is not Tabby: Calico's
// Version(key) == 0 for Create and ModRevision(key) == resourceVersion for
// Update and Delete, so that neither side ever overwrites the other
// unknowingly.
func TestWritesUseCalicosTransactionConditions(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		run  func(t *testing.T, s datastore.Store, raw rawStore)
	}{
		{"a create of a key another client wrote fails with ErrAlreadyExists and keeps its value", func(t *testing.T, s datastore.Store, raw rawStore) {
			raw.put(t, gnpPrefix+"p", rawGNP("p", "theirs == 'x'"))
			_, err := s.Create(ctx, gnp("p", "ours == 'x'"))
			if !errors.Is(err, datastore.ErrAlreadyExists) {
				t.Fatalf("Create = %v, want ErrAlreadyExists", err)
			}
			if diff := cmp.Diff(rawGNP("p", "theirs == 'x'"), raw.get(t, gnpPrefix+"p")); diff != "" {
				t.Errorf("value after the refused create (-want +got):\n%s", diff)
			}
		}},
		{"an update after another client's write fails with ErrConflict and keeps their value", func(t *testing.T, s datastore.Store, raw rawStore) {
			created, err := s.Create(ctx, gnp("p", "ours == 'x'"))
			if err != nil {
				t.Fatal(err)
			}
			raw.put(t, gnpPrefix+"p", rawGNP("p", "theirs == 'x'"))
			stale := created.(*v3.GlobalNetworkPolicy)
			stale.Spec.Selector = "ours == 'y'"
			if _, err := s.Update(ctx, stale); !errors.Is(err, datastore.ErrConflict) {
				t.Fatalf("Update = %v, want ErrConflict", err)
			}
			if diff := cmp.Diff(rawGNP("p", "theirs == 'x'"), raw.get(t, gnpPrefix+"p")); diff != "" {
				t.Errorf("value after the refused update (-want +got):\n%s", diff)
			}
		}},
		{"an update with the version another client wrote succeeds at the key's new mod revision", func(t *testing.T, s datastore.Store, raw rawStore) {
			rev := raw.put(t, gnpPrefix+"p", rawGNP("p", "theirs == 'x'"))
			in := gnp("p", "ours == 'y'")
			in.ResourceVersion = strconv.FormatInt(rev, 10)
			got, err := s.Update(ctx, in)
			if err != nil {
				t.Fatalf("Update: %v", err)
			}
			v, _, mod := raw.getKV(t, gnpPrefix+"p")
			if got.GetResourceVersion() != strconv.FormatInt(mod, 10) {
				t.Errorf("resourceVersion %s, want the key's mod revision %d", got.GetResourceVersion(), mod)
			}
			md := v["metadata"].(map[string]any)
			if md["uid"] != "aaaaaaaa-2222-4333-8444-555555555555" || md["creationTimestamp"] != "2025-06-02T09:15:00Z" {
				t.Errorf("update lost the stored uid or creationTimestamp: %v", md)
			}
			if sel := v["spec"].(map[string]any)["selector"]; sel != "ours == 'y'" {
				t.Errorf("stored selector = %v", sel)
			}
		}},
		{"a delete at a version another client replaced fails with ErrConflict and deletes nothing", func(t *testing.T, s datastore.Store, raw rawStore) {
			created, err := s.Create(ctx, gnp("p", "ours == 'x'"))
			if err != nil {
				t.Fatal(err)
			}
			raw.put(t, gnpPrefix+"p", rawGNP("p", "theirs == 'x'"))
			if _, err := s.Delete(ctx, v3.KeyOf(created), created.GetResourceVersion()); !errors.Is(err, datastore.ErrConflict) {
				t.Fatalf("Delete = %v, want ErrConflict", err)
			}
			if diff := cmp.Diff([]string{gnpPrefix + "p"}, raw.keys(t)); diff != "" {
				t.Errorf("keys (-want +got):\n%s", diff)
			}
		}},
		{"a delete of a key another client removed fails with ErrNotFound", func(t *testing.T, s datastore.Store, raw rawStore) {
			created, err := s.Create(ctx, gnp("p", "ours == 'x'"))
			if err != nil {
				t.Fatal(err)
			}
			raw.del(t, gnpPrefix+"p")
			if _, err := s.Delete(ctx, v3.KeyOf(created), created.GetResourceVersion()); !errors.Is(err, datastore.ErrNotFound) {
				t.Fatalf("Delete = %v, want ErrNotFound", err)
			}
		}},
		{"a transaction of several resources writes every key at one mod revision", func(t *testing.T, s datastore.Store, raw rawStore) {
			out, err := s.Txn(ctx, []datastore.Op{
				datastore.CreateOp(gnp("a", "all()")),
				datastore.CreateOp(gnp("b", "all()")),
				datastore.CreateOp(&v3.Tier{ObjectMeta: metav1.ObjectMeta{Name: "t"}}),
			})
			if err != nil {
				t.Fatalf("Txn: %v", err)
			}
			for i, key := range []string{gnpPrefix + "a", gnpPrefix + "b", "/calico/resources/v3/projectcalico.org/tiers/t"} {
				_, _, mod := raw.getKV(t, key)
				if strconv.FormatInt(mod, 10) != out[0].GetResourceVersion() || out[i].GetResourceVersion() != out[0].GetResourceVersion() {
					t.Errorf("%s at mod revision %d, object %d at %s, want all at %s", key, mod, i, out[i].GetResourceVersion(), out[0].GetResourceVersion())
				}
			}
		}},
		{"a transaction refused because another client wrote one of its keys writes none of them", func(t *testing.T, s datastore.Store, raw rawStore) {
			raw.put(t, gnpPrefix+"b", rawGNP("b", "theirs == 'x'"))
			_, err := s.Txn(ctx, []datastore.Op{
				datastore.CreateOp(gnp("a", "all()")),
				datastore.CreateOp(gnp("b", "all()")),
			})
			if !errors.Is(err, datastore.ErrAlreadyExists) {
				t.Fatalf("Txn = %v, want ErrAlreadyExists", err)
			}
			if diff := cmp.Diff([]string{gnpPrefix + "b"}, raw.keys(t)); diff != "" {
				t.Errorf("keys (-want +got):\n%s", diff)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.run(t, newStore(t), rawStore{rawClient(t)})
		})
	}
}

func TestSeveralEndpointsFailOverToTheOnesThatAnswer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	live := server.Endpoints()[0]
	tests := []struct {
		name      string
		endpoints []string
	}{
		{"a dead endpoint first", []string{closedPort(t), live}},
		{"a dead endpoint last", []string{live, closedPort(t)}},
		{"the live endpoint between two dead ones", []string{closedPort(t), live, closedPort(t)}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			newStore(t)
			s, err := etcd.Open(ctx, etcd.Config{Endpoints: tt.endpoints, DialTimeout: 5 * time.Second})
			if err != nil {
				t.Fatalf("Open(%v): %v", tt.endpoints, err)
			}
			defer s.Close()
			// Enough requests that a round-robin balancer would send some
			// to each endpoint.
			for j := range 6 {
				name := "ep-" + strconv.Itoa(i) + "-" + strconv.Itoa(j)
				if _, err := s.Create(ctx, gnp(name, "all()")); err != nil {
					t.Fatalf("Create %s: %v", name, err)
				}
				if _, err := s.Get(ctx, v3.Key{Kind: v3.KindGlobalNetworkPolicy, Name: name}); err != nil {
					t.Fatalf("Get %s: %v", name, err)
				}
			}
		})
	}
}
