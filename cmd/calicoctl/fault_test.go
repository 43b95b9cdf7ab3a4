package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/tabby-project/tabby/api/v3"
	"github.com/tabby-project/tabby/datastore"
	"github.com/tabby-project/tabby/datastore/etcd"
	"github.com/tabby-project/tabby/datastore/etcd/embedded"
)

// startCluster starts a three-member etcd cluster in the test process,
// members and clients on free loopback ports.
func startCluster(t *testing.T, ctx context.Context) []*embedded.Server {
	t.Helper()
	dir := t.TempDir()
	const n = 3
	names, peers := make([]string, n), make([]string, n)
	for i := range n {
		names[i] = "m" + strconv.Itoa(i)
		// The peer URLs must be known before any member starts, so the
		// ports are picked now; nothing else in the test listens.
		peers[i] = closedPortURL(t)
	}
	var initial []string
	for i := range n {
		initial = append(initial, names[i]+"="+peers[i])
	}
	members := make([]*embedded.Server, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			members[i], errs[i] = embedded.Start(ctx, embedded.Config{
				Dir: filepath.Join(dir, names[i]), Name: names[i],
				ClientURL: "http://127.0.0.1:0", PeerURL: peers[i],
				InitialCluster: strings.Join(initial, ","),
			})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("start member %d: %v", i, err)
		}
		t.Cleanup(func() { members[i].Close() })
	}
	return members
}

// faultPolicy is the i-th GlobalNetworkPolicy the datastore writer creates.
func faultPolicy(i int) *v3.GlobalNetworkPolicy {
	order := float64(i)
	return &v3.GlobalNetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("w-%03d", i)},
		Spec: v3.GlobalNetworkPolicySpec{Tier: "default", Order: &order,
			Selector: fmt.Sprintf("writer == '%d'", i), Types: []v3.PolicyType{v3.PolicyTypeIngress}},
	}
}

// createOnce creates obj, retrying while the outcome is unknown (the
// datastore did not answer); a retry that finds the resource already there
// means the earlier attempt succeeded. It returns the created object and
// counts retries.
func createOnce(ctx context.Context, s datastore.Store, obj v3.Object, retries *atomic.Int64) (v3.Object, error) {
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			retries.Add(1)
		}
		got, err := s.Create(ctx, obj)
		switch {
		case err == nil:
			return got, nil
		case errors.Is(err, datastore.ErrAlreadyExists):
			return s.Get(ctx, v3.KeyOf(obj))
		case ctx.Err() != nil:
			return nil, err
		case errors.Is(err, datastore.ErrUnavailable), !isResourceError(err):
			continue
		}
		return nil, err
	}
}

// TestWritesSurviveTheLossOfAClusterMember writes through the datastore
// and through calicoctl apply while the leader of a three-member cluster
// stops, and checks that every write is stored exactly once with its
// content, and that calicoctl keeps working on the remaining quorum.
func TestWritesSurviveTheLossOfAClusterMember(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	members := startCluster(t, ctx)
	var endpoints []string
	for _, m := range members {
		endpoints = append(endpoints, m.Endpoints()...)
	}
	e := &dsEnv{cfgPath: filepath.Join(t.TempDir(), "cluster.cfg")}
	e.writeConfig(t, e.cfgPath, "etcdEndpoints: "+strings.Join(endpoints, ","))

	s, err := etcd.Open(ctx, etcd.Config{Endpoints: endpoints, RequestTimeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	e.mustCtl(t, tierYAML("fault", 10), "apply", "-f", "-")
	start, err := s.List(ctx, "", "")
	if err != nil {
		t.Fatal(err)
	}

	const (
		datastoreWrites = 90
		applyBatches    = 6
		batchSize       = 15
		stopAfter       = 30
	)
	var written, storeRetries atomic.Int64
	stopped := make(chan struct{})
	var wg sync.WaitGroup
	var storeErr error
	created := make([]v3.Object, datastoreWrites)
	wg.Go(func() {
		for i := range datastoreWrites {
			if created[i], storeErr = createOnce(ctx, s, faultPolicy(i), &storeRetries); storeErr != nil {
				storeErr = fmt.Errorf("write %d: %w", i, storeErr)
				return
			}
			written.Add(1)
		}
	})
	var applyErr error
	applyRetries := 0
	wg.Go(func() {
		for b := range applyBatches {
			var in []string
			for j := range batchSize {
				in = append(in, npYAML("fault", fmt.Sprintf("np-%d-%02d", b, j), fmt.Sprintf("batch == '%d' && item == '%d'", b, j)))
			}
			for {
				r := runCtl(docs(in...), "apply", "-f", "-", "-c", e.cfgPath)
				if r.code == 0 {
					break
				}
				applyRetries++
				if ctx.Err() != nil {
					applyErr = fmt.Errorf("batch %d: %s%s", b, r.stdout, r.stderr)
					return
				}
			}
			if b == applyBatches/2 {
				// Let the datastore writer pass the point where the
				// leader stops before the second half of the batches.
				select {
				case <-stopped:
				case <-ctx.Done():
				}
			}
		}
	})

	for written.Load() < stopAfter && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	leader := -1
	for i, m := range members {
		if m.IsLeader() {
			leader = i
		}
	}
	if leader < 0 {
		t.Fatal("no member leads the cluster")
	}
	members[leader].Close()
	close(stopped)
	wg.Wait()
	if storeErr != nil || applyErr != nil {
		t.Fatalf("writers failed: datastore %v; calicoctl %v", storeErr, applyErr)
	}
	t.Logf("stopped leader m%d after %d datastore writes; datastore writes retried %d time(s), calicoctl apply %d time(s)",
		leader, stopAfter, storeRetries.Load(), applyRetries)

	// Every resource is stored once, with its content.
	gnps, err := s.List(ctx, v3.KindGlobalNetworkPolicy, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(gnps.Items) != datastoreWrites {
		t.Errorf("%d GlobalNetworkPolicies stored, want %d", len(gnps.Items), datastoreWrites)
	}
	for i, o := range gnps.Items {
		p := o.(*v3.GlobalNetworkPolicy)
		want := faultPolicy(i)
		if p.Name != want.Name || *p.Spec.Order != *want.Spec.Order || p.Spec.Selector != want.Spec.Selector {
			t.Errorf("item %d = %s order %v selector %q, want %s order %v selector %q", i, p.Name, *p.Spec.Order, p.Spec.Selector,
				want.Name, *want.Spec.Order, want.Spec.Selector)
		}
	}
	nps, err := s.List(ctx, v3.KindNetworkPolicy, "fault")
	if err != nil {
		t.Fatal(err)
	}
	if len(nps.Items) != applyBatches*batchSize {
		t.Errorf("%d NetworkPolicies stored, want %d", len(nps.Items), applyBatches*batchSize)
	}
	for _, o := range nps.Items {
		var b, j int
		if _, err := fmt.Sscanf(o.GetName(), "np-%d-%02d", &b, &j); err != nil {
			t.Errorf("unexpected policy %s", o.GetName())
			continue
		}
		if want := fmt.Sprintf("batch == '%d' && item == '%d'", b, j); o.(*v3.NetworkPolicy).Spec.Selector != want {
			t.Errorf("%s has selector %q, want %q", o.GetName(), o.(*v3.NetworkPolicy).Spec.Selector, want)
		}
	}
	// One etcd key per resource: no copy under another name.
	raw, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	for prefix, want := range map[string]int64{
		etcd.Prefix + "globalnetworkpolicies/": datastoreWrites,
		etcd.Prefix + "networkpolicies/fault/": applyBatches * batchSize,
	} {
		resp, err := raw.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
		if err != nil {
			t.Fatal(err)
		}
		if resp.Count != want {
			t.Errorf("%d keys under %s, want %d", resp.Count, prefix, want)
		}
	}
	// Each datastore write happened once: one Added event per policy, at
	// the revision Create reported, and nothing else.
	ch, err := s.Watch(ctx, v3.KindGlobalNetworkPolicy, start.Revision)
	if err != nil {
		t.Fatal(err)
	}
	seen := make(map[string]int64)
	for len(seen) < datastoreWrites {
		select {
		case ev := <-ch:
			if ev.Type != datastore.Added {
				t.Fatalf("event %v %v (%v), want only Added events", ev.Type, ev.Key, ev.Err)
			}
			if _, dup := seen[ev.Key.Name]; dup {
				t.Fatalf("%s added twice", ev.Key.Name)
			}
			seen[ev.Key.Name] = ev.Revision
		case <-ctx.Done():
			t.Fatalf("saw %d of %d creations", len(seen), datastoreWrites)
		}
	}
	for i, o := range created {
		if rv := strconv.FormatInt(seen[o.GetName()], 10); rv != o.GetResourceVersion() {
			t.Errorf("write %d: created at %s, watched at %s", i, o.GetResourceVersion(), rv)
		}
	}

	// calicoctl still works on the two remaining members.
	wantResult(t, runCtl(gnpYAML("after-the-fault", "fault", 1), "apply", "-f", "-", "-c", e.cfgPath), 0,
		"Successfully applied 1 'GlobalNetworkPolicy' resource(s)\n", "")
	count := runCtl("", "get", "gnp", "-o", "go-template={{range .}}{{len .Items}}{{end}}", "-c", e.cfgPath)
	wantResult(t, count, 0, strconv.Itoa(datastoreWrites+1), "")
	wantResult(t, runCtl("", "delete", "gnp", "after-the-fault", "-c", e.cfgPath), 0,
		"Successfully deleted 1 'GlobalNetworkPolicy' resource(s)\n", "")
}
