package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/tabby-project/tabby/api/v3"
	"github.com/tabby-project/tabby/datastore"
	"github.com/tabby-project/tabby/datastore/memory"
)

// faultyStore is a memory store whose Txn a test can make fail: before
// calls to Txn, hook sees the ops and may return an error instead of
// passing them on (or change the store first).
type faultyStore struct {
	*memory.Store
	calls []int // the number of ops of each Txn call
	hook  func(call int, ops []datastore.Op) error
}

func (f *faultyStore) Txn(ctx context.Context, ops []datastore.Op) ([]v3.Object, error) {
	f.calls = append(f.calls, len(ops))
	if f.hook != nil {
		if err := f.hook(len(f.calls), ops); err != nil {
			return nil, err
		}
	}
	return f.Store.Txn(ctx, ops)
}

func gnps(n int) []v3.Object {
	objs := make([]v3.Object, n)
	for i := range objs {
		objs[i] = &v3.GlobalNetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("p%d", i)},
			Spec: v3.GlobalNetworkPolicySpec{Tier: "default", Selector: "all()"}}
	}
	return objs
}

func newFaultyStore(t *testing.T) *faultyStore {
	t.Helper()
	s := &faultyStore{Store: memory.New()}
	t.Cleanup(func() { s.Close() })
	ensureInitialized(context.Background(), s)
	s.calls = nil
	return s
}

func TestWriterOutcomes(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		run  func(t *testing.T, s *faultyStore)
	}{
		{"a transaction too large for the server is split until it fits, and every resource is written", func(t *testing.T, s *faultyStore) {
			s.hook = func(_ int, ops []datastore.Op) error {
				if len(ops) > 3 {
					return fmt.Errorf("txn: %w", datastore.ErrTooLarge)
				}
				return nil
			}
			w := newWriter(s, verbApply, false)
			w.limit = 10
			got := w.write(ctx, gnps(10))
			if got.err != nil || got.done != 10 {
				t.Fatalf("outcome %+v", got)
			}
			if diff := cmp.Diff([]int{10, 5, 2, 2, 2, 2, 2}, s.calls); diff != "" {
				t.Errorf("transaction sizes (-want +got):\n%s", diff)
			}
			if l, _ := s.List(ctx, v3.KindGlobalNetworkPolicy, ""); len(l.Items) != 10 {
				t.Errorf("%d policies stored", len(l.Items))
			}
		}},
		{"a datastore that stops answering during a commit leaves that chunk's outcome unknown, and the report says which", func(t *testing.T, s *faultyStore) {
			s.hook = func(call int, _ []datastore.Op) error {
				if call == 2 {
					return fmt.Errorf("transaction: %w: etcd did not answer", datastore.ErrUnavailable)
				}
				return nil
			}
			w := newWriter(s, verbApply, false)
			w.limit = 4
			objs := gnps(10)
			got := w.write(ctx, objs)
			if got.done != 4 || got.unknown != 4 || !errors.Is(got.err, datastore.ErrUnavailable) {
				t.Fatalf("outcome %+v", got)
			}
			var out, errb bytes.Buffer
			if err := reportWrite(streams{out: &out, err: &errb}, verbApply, objs, got); err == nil {
				t.Error("report of a failed write returned nil")
			}
			if want := "Partial success: applied the first 4 out of 10 'GlobalNetworkPolicy' resources:\n"; out.String() != want {
				t.Errorf("stdout %q, want %q", out.String(), want)
			}
			for _, want := range []string{"hit error: [", "did not confirm the transaction holding the next 4 resource(s), from GlobalNetworkPolicy(p4) on"} {
				if !strings.Contains(errb.String(), want) {
					t.Errorf("stderr %q does not say %q", errb.String(), want)
				}
			}
		}},
		{"a resource another writer changed between the read and the commit is planned again and written", func(t *testing.T, s *faultyStore) {
			w := newWriter(s, verbApply, false)
			objs := gnps(3)
			if _, err := s.Store.Create(ctx, gnps(3)[1]); err != nil {
				t.Fatal(err)
			}
			s.hook = func(call int, _ []datastore.Op) error {
				if call == 1 {
					// Another client replaces p1 after the writer read it.
					cur, err := s.Store.Get(ctx, v3.Key{Kind: v3.KindGlobalNetworkPolicy, Name: "p1"})
					if err != nil {
						return err
					}
					cur.(*v3.GlobalNetworkPolicy).Spec.Selector = "theirs == 'x'"
					_, err = s.Store.Update(ctx, cur)
					return err
				}
				return nil
			}
			objs[1].(*v3.GlobalNetworkPolicy).Spec.Selector = "ours == 'x'"
			if got := w.write(ctx, objs); got.err != nil || got.done != 3 {
				t.Fatalf("outcome %+v", got)
			}
			if len(s.calls) != 2 {
				t.Errorf("%d transactions, want 2 (one refused, one replanned)", len(s.calls))
			}
			p, err := s.Get(ctx, v3.Key{Kind: v3.KindGlobalNetworkPolicy, Name: "p1"})
			if err != nil || p.(*v3.GlobalNetworkPolicy).Spec.Selector != "ours == 'x'" {
				t.Errorf("p1 = %v, %v; want the applied selector", p, err)
			}
		}},
		{"a resource that keeps changing under the writer is isolated, and the ones before it are written", func(t *testing.T, s *faultyStore) {
			s.hook = func(_ int, ops []datastore.Op) error {
				for _, op := range ops {
					if op.Target().Name == "p2" {
						return datastore.ConflictError(op.Target())
					}
				}
				return nil
			}
			got := newWriter(s, verbApply, false).write(ctx, gnps(4))
			if got.done != 2 || !errors.Is(got.err, datastore.ErrConflict) || got.unknown != 0 {
				t.Fatalf("outcome %+v", got)
			}
			l, _ := s.List(ctx, v3.KindGlobalNetworkPolicy, "")
			wantNames := []string{"p0", "p1"}
			var names []string
			for _, o := range l.Items {
				names = append(names, o.GetName())
			}
			if diff := cmp.Diff(wantNames, names); diff != "" {
				t.Errorf("stored (-want +got):\n%s", diff)
			}
		}},
		{"a replan starts from the input's metadata, not from the refused plan's", func(t *testing.T, s *faultyStore) {
			// A replace without resourceVersion of a resource changed
			// between read and commit must not turn into a conditional
			// update on the version it read the first time.
			objs := gnps(1)
			objs[0].SetLabels(map[string]string{"mine": "yes"})
			if _, err := s.Store.Create(ctx, gnps(1)[0]); err != nil {
				t.Fatal(err)
			}
			s.hook = func(call int, _ []datastore.Op) error {
				if call == 1 {
					cur, err := s.Store.Get(ctx, v3.KeyOf(objs[0]))
					if err != nil {
						return err
					}
					cur.SetLabels(map[string]string{"theirs": "yes"})
					_, err = s.Store.Update(ctx, cur)
					return err
				}
				return nil
			}
			if got := newWriter(s, verbReplace, false).write(ctx, objs); got.err != nil {
				t.Fatalf("outcome %+v", got)
			}
			p, err := s.Get(ctx, v3.KeyOf(objs[0]))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(map[string]string{"mine": "yes", "theirs": "yes"}, p.GetLabels()); diff != "" {
				t.Errorf("labels (-want +got):\n%s", diff)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.run(t, newFaultyStore(t))
		})
	}
}

func TestMergeForUpdateKeepsStoredMetadataButLabelsAndAnnotations(t *testing.T) {
	cur := &v3.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "u1", ResourceVersion: "7",
		Labels: map[string]string{"a": "1", "b": "1"}, Annotations: map[string]string{"x": "1"}}}
	obj := &v3.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "other",
		Labels: map[string]string{"b": "2", "c": "2"}}}
	mergeForUpdate(obj, cur)
	want := metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "u1", ResourceVersion: "7",
		Labels: map[string]string{"a": "1", "b": "2", "c": "2"}, Annotations: map[string]string{"x": "1"}}
	if diff := cmp.Diff(want, obj.ObjectMeta); diff != "" {
		t.Errorf("merged metadata (-want +got):\n%s", diff)
	}
	if cur.Labels["b"] != "1" {
		t.Error("the stored object's labels were modified")
	}
}
