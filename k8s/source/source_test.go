package source

import (
	"context"
	"encoding/json"
	"errors"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"

	v3 "github.com/tabby-project/tabby/api/v3"
	"github.com/tabby-project/tabby/datastore"
	"github.com/tabby-project/tabby/engine"
	"github.com/tabby-project/tabby/k8s"
)

const deadline = 10 * time.Second

// reportLog collects the reports passed to the callback.
type reportLog struct {
	mu sync.Mutex
	rs []k8s.Report
}

func (l *reportLog) add(r k8s.Report) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.rs = append(l.rs, r)
}

func (l *reportLog) all() []k8s.Report {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]k8s.Report(nil), l.rs...)
}

// start runs a Source on a fake clientset holding objs and returns once
// the Source has synced and every informer's watch is established, so
// that later changes to the clientset reach it.
func start(t *testing.T, objs ...runtime.Object) (*fake.Clientset, *Source, *reportLog) {
	t.Helper()
	client := fake.NewClientset(objs...)
	watched := make(chan string, 16)
	client.PrependWatchReactor("*", func(action clienttesting.Action) (bool, watch.Interface, error) {
		w, err := client.Tracker().Watch(action.GetResource(), action.GetNamespace())
		if err != nil {
			return true, nil, err
		}
		watched <- action.GetResource().Resource
		return true, w, nil
	})
	log := &reportLog{}
	src := New(client, WithReportFunc(log.add))
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() { errc <- src.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-errc; err != nil {
			t.Errorf("Run: %v", err)
		}
		if err := src.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})

	timeout := time.After(deadline)
	seen := map[string]bool{}
	for len(seen) < 4 {
		select {
		case r := <-watched:
			seen[r] = true
		case <-timeout:
			t.Fatalf("informers watching %v after %v, want 4 resources", seen, deadline)
		}
	}
	wctx, wcancel := context.WithTimeout(t.Context(), deadline)
	defer wcancel()
	if err := src.WaitForSync(wctx); err != nil {
		t.Fatal(err)
	}
	return client, src, log
}

// waitFor polls cond until it returns "" or the deadline passes.
func waitFor(t *testing.T, cond func() string) {
	t.Helper()
	end := time.Now().Add(deadline)
	for {
		msg := cond()
		if msg == "" {
			return
		}
		if time.Now().After(end) {
			t.Fatalf("after %v: %s", deadline, msg)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// listed returns the store's objects by key, without the static profile.
func listed(t *testing.T, s datastore.Store) map[string]v3.Object {
	t.Helper()
	res, err := s.List(t.Context(), "", "")
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	out := map[string]v3.Object{}
	for _, o := range res.Items {
		k := v3.KeyOf(o)
		if datastore.IsStatic(k) {
			continue
		}
		out[k.String()] = o
	}
	return out
}

func sortedKeys(m map[string]v3.Object) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func namespace(name string, labels map[string]string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
}

func serviceAccount(ns, name string) *corev1.ServiceAccount {
	return &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
}

func pod(ns, name, node, ip string, labels map[string]string) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels},
		Spec: corev1.PodSpec{
			NodeName:           node,
			ServiceAccountName: "default",
			Containers: []corev1.Container{{
				Name:  "app",
				Image: "app",
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}},
			}},
		},
		Status: corev1.PodStatus{Phase: corev1.PodRunning},
	}
	if ip != "" {
		p.Status.PodIP = ip
		p.Status.PodIPs = []corev1.PodIP{{IP: ip}}
	}
	return p
}

func policy(ns, name string, podLabels map[string]string, port int32) *networkingv1.NetworkPolicy {
	tcp := corev1.ProtocolTCP
	return &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: podLabels},
			Ingress: []networkingv1.NetworkPolicyIngressRule{{
				Ports: []networkingv1.NetworkPolicyPort{{Protocol: &tcp, Port: ptrPort(port)}},
			}},
		},
	}
}

// badPolicy has a selector operator the API server refuses.
func badPolicy(ns, name string) *networkingv1.NetworkPolicy {
	return &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: "app", Operator: "Near", Values: []string{"x"}},
			}},
		},
	}
}

func ptrPort(p int32) *intstr.IntOrString { v := intstr.FromInt32(p); return &v }

// convertAll converts objs from scratch, as the expected state.
func convertAll(t *testing.T, objs ...runtime.Object) map[string]v3.Object {
	t.Helper()
	out := map[string]v3.Object{}
	for _, o := range k8s.Convert(objs).Objects {
		out[v3.KeyOf(o).String()] = o
	}
	return out
}

// withoutMeta drops, in place, what the store assigns, for comparison with
// fresh conversions; the store's objects belong to the caller.
func withoutMeta(m map[string]v3.Object) map[string]v3.Object {
	for _, o := range m {
		o.SetResourceVersion("")
		o.SetUID("")
		o.SetCreationTimestamp(metav1.Time{})
	}
	return m
}

func TestSourceFollowsCluster(t *testing.T) {
	ctx := t.Context()
	client, src, log := start(t, namespace("prod", map[string]string{"env": "prod"}))
	core := client.CoreV1()
	netv1 := client.NetworkingV1()

	steps := []struct {
		name string
		do   func() error
		// objs is the Kubernetes state after the step; the store must
		// hold exactly its conversion.
		objs []runtime.Object
	}{
		{
			name: "a namespace present before the start is listed once synced",
			do:   func() error { return nil },
			objs: []runtime.Object{namespace("prod", map[string]string{"env": "prod"})},
		},
		{
			name: "a namespace relabelled changes its profile",
			do: func() error {
				_, err := core.Namespaces().Update(ctx, namespace("prod", map[string]string{"env": "production"}), metav1.UpdateOptions{})
				return err
			},
			objs: []runtime.Object{namespace("prod", map[string]string{"env": "production"})},
		},
		{
			name: "a service account becomes a ksa profile",
			do: func() error {
				_, err := core.ServiceAccounts("prod").Create(ctx, serviceAccount("prod", "default"), metav1.CreateOptions{})
				return err
			},
			objs: []runtime.Object{
				namespace("prod", map[string]string{"env": "production"}),
				serviceAccount("prod", "default"),
			},
		},
		{
			name: "a pod without an IP has no endpoint",
			do: func() error {
				_, err := core.Pods("prod").Create(ctx, pod("prod", "web", "node1", "", map[string]string{"app": "web"}), metav1.CreateOptions{})
				return err
			},
			objs: []runtime.Object{
				namespace("prod", map[string]string{"env": "production"}),
				serviceAccount("prod", "default"),
			},
		},
		{
			name: "a pod given an IP later becomes an endpoint",
			do: func() error {
				_, err := core.Pods("prod").UpdateStatus(ctx, pod("prod", "web", "node1", "10.0.0.5", map[string]string{"app": "web"}), metav1.UpdateOptions{})
				return err
			},
			objs: []runtime.Object{
				namespace("prod", map[string]string{"env": "production"}),
				serviceAccount("prod", "default"),
				pod("prod", "web", "node1", "10.0.0.5", map[string]string{"app": "web"}),
			},
		},
		{
			name: "a network policy becomes a knp.default policy",
			do: func() error {
				_, err := netv1.NetworkPolicies("prod").Create(ctx, policy("prod", "allow-web", map[string]string{"app": "web"}, 8080), metav1.CreateOptions{})
				return err
			},
			objs: []runtime.Object{
				namespace("prod", map[string]string{"env": "production"}),
				serviceAccount("prod", "default"),
				pod("prod", "web", "node1", "10.0.0.5", map[string]string{"app": "web"}),
				policy("prod", "allow-web", map[string]string{"app": "web"}, 8080),
			},
		},
		{
			name: "a network policy updated changes its rules",
			do: func() error {
				_, err := netv1.NetworkPolicies("prod").Update(ctx, policy("prod", "allow-web", map[string]string{"app": "web"}, 9090), metav1.UpdateOptions{})
				return err
			},
			objs: []runtime.Object{
				namespace("prod", map[string]string{"env": "production"}),
				serviceAccount("prod", "default"),
				pod("prod", "web", "node1", "10.0.0.5", map[string]string{"app": "web"}),
				policy("prod", "allow-web", map[string]string{"app": "web"}, 9090),
			},
		},
		{
			name: "a pod moved to another node is renamed",
			do: func() error {
				_, err := core.Pods("prod").Update(ctx, pod("prod", "web", "node2", "10.0.0.6", map[string]string{"app": "web"}), metav1.UpdateOptions{})
				return err
			},
			objs: []runtime.Object{
				namespace("prod", map[string]string{"env": "production"}),
				serviceAccount("prod", "default"),
				pod("prod", "web", "node2", "10.0.0.6", map[string]string{"app": "web"}),
				policy("prod", "allow-web", map[string]string{"app": "web"}, 9090),
			},
		},
		{
			name: "an unconvertible policy is reported and not listed",
			do: func() error {
				_, err := netv1.NetworkPolicies("prod").Create(ctx, badPolicy("prod", "bad"), metav1.CreateOptions{})
				return err
			},
			objs: []runtime.Object{
				namespace("prod", map[string]string{"env": "production"}),
				serviceAccount("prod", "default"),
				pod("prod", "web", "node2", "10.0.0.6", map[string]string{"app": "web"}),
				policy("prod", "allow-web", map[string]string{"app": "web"}, 9090),
			},
		},
		{
			name: "deleted objects leave the store",
			do: func() error {
				return errors.Join(
					core.Pods("prod").Delete(ctx, "web", metav1.DeleteOptions{}),
					netv1.NetworkPolicies("prod").Delete(ctx, "allow-web", metav1.DeleteOptions{}),
					core.ServiceAccounts("prod").Delete(ctx, "default", metav1.DeleteOptions{}),
				)
			},
			objs: []runtime.Object{namespace("prod", map[string]string{"env": "production"})},
		},
		{
			name: "a deleted namespace's profile leaves the store",
			do:   func() error { return core.Namespaces().Delete(ctx, "prod", metav1.DeleteOptions{}) },
		},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if err := st.do(); err != nil {
				t.Fatal(err)
			}
			want := convertAll(t, st.objs...)
			waitFor(t, func() string {
				if d := cmp.Diff(want, withoutMeta(listed(t, src))); d != "" {
					return "store differs from conversion (-want +got):\n" + d
				}
				return ""
			})
		})
	}

	t.Run("the pod without an IP and the bad policy were reported", func(t *testing.T) {
		var noIP, invalid bool
		for _, r := range log.all() {
			switch {
			case r.Kind == "Pod" && r.Name == "web" && errors.Is(r.Err, k8s.ErrNotEndpoint):
				noIP = true
			case r.Kind == "NetworkPolicy" && r.Name == "bad" && errors.Is(r.Err, k8s.ErrInvalid):
				invalid = true
			}
		}
		if !noIP || !invalid {
			t.Errorf("reports %v: pod without IP reported %v, bad policy reported %v", log.all(), noIP, invalid)
		}
		cur := src.Reports()
		if len(cur) != 1 || cur[0].Name != "bad" || !errors.Is(cur[0].Err, k8s.ErrInvalid) {
			t.Errorf("Reports() = %v, want only the bad policy", cur)
		}
	})
}

func TestWatchEventsRebuildTheSameEndpointPolicy(t *testing.T) {
	ctx := t.Context()
	initial := []runtime.Object{
		namespace("prod", map[string]string{"env": "prod"}),
		serviceAccount("prod", "default"),
		pod("prod", "db", "node1", "10.0.0.9", map[string]string{"app": "db"}),
	}
	client, src, _ := start(t, initial...)
	list, err := src.List(ctx, "", "")
	if err != nil {
		t.Fatal(err)
	}
	events, err := src.Watch(ctx, "", list.Revision)
	if err != nil {
		t.Fatal(err)
	}
	live := engine.New()
	for _, o := range list.Items {
		if err := live.Upsert(o); err != nil {
			t.Fatalf("upsert %v: %v", v3.KeyOf(o), err)
		}
	}

	core, netv1 := client.CoreV1(), client.NetworkingV1()
	changes := []func() error{
		func() error {
			_, err := core.Pods("prod").Create(ctx, pod("prod", "web", "node1", "", map[string]string{"app": "web"}), metav1.CreateOptions{})
			return err
		},
		func() error {
			_, err := core.Pods("prod").UpdateStatus(ctx, pod("prod", "web", "node1", "10.0.0.5", map[string]string{"app": "web"}), metav1.UpdateOptions{})
			return err
		},
		func() error {
			_, err := netv1.NetworkPolicies("prod").Create(ctx, policy("prod", "allow-db", map[string]string{"app": "db"}, 5432), metav1.CreateOptions{})
			return err
		},
		func() error {
			_, err := netv1.NetworkPolicies("prod").Create(ctx, policy("prod", "allow-web", map[string]string{"app": "web"}, 80), metav1.CreateOptions{})
			return err
		},
		func() error {
			_, err := core.Pods("prod").Update(ctx, pod("prod", "db", "node2", "10.0.0.10", map[string]string{"app": "db"}), metav1.UpdateOptions{})
			return err
		},
		func() error { return netv1.NetworkPolicies("prod").Delete(ctx, "allow-web", metav1.DeleteOptions{}) },
	}
	for i, c := range changes {
		if err := c(); err != nil {
			t.Fatalf("change %d: %v", i, err)
		}
	}
	final := []runtime.Object{
		namespace("prod", map[string]string{"env": "prod"}),
		serviceAccount("prod", "default"),
		pod("prod", "db", "node2", "10.0.0.10", map[string]string{"app": "db"}),
		pod("prod", "web", "node1", "10.0.0.5", map[string]string{"app": "web"}),
		policy("prod", "allow-db", map[string]string{"app": "db"}, 5432),
	}
	want := convertAll(t, final...)

	// Apply events until the live engine's inputs are the final state.
	have := withoutMeta(listed(t, src))
	seen := map[string]v3.Object{}
	for k, o := range have {
		seen[k] = o
	}
	lastRev := list.Revision
	timeout := time.After(deadline)
	for cmp.Diff(want, withoutMeta(seen)) != "" {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatal("watch closed early")
			}
			if ev.Revision < lastRev {
				t.Fatalf("event %v at revision %d after %d", ev.Key, ev.Revision, lastRev)
			}
			lastRev = ev.Revision
			switch ev.Type {
			case datastore.Added, datastore.Modified:
				if err := live.Upsert(ev.Object); err != nil {
					t.Fatalf("upsert %v: %v", ev.Key, err)
				}
				seen[ev.Key.String()] = ev.Object
			case datastore.Deleted:
				live.Delete(ev.Key)
				delete(seen, ev.Key.String())
			default:
				t.Fatalf("unexpected event %v: %v", ev.Type, ev.Err)
			}
		case <-timeout:
			t.Fatalf("watch did not reach the final state (-want +got):\n%s", cmp.Diff(want, withoutMeta(seen)))
		}
	}

	scratch := engine.New()
	for _, o := range k8s.Convert(final).Objects {
		if err := scratch.Upsert(o); err != nil {
			t.Fatalf("upsert %v: %v", v3.KeyOf(o), err)
		}
	}
	var endpoints int
	for _, o := range want {
		if v3.KeyOf(o).Kind != v3.KindWorkloadEndpoint {
			continue
		}
		endpoints++
		key := v3.KeyOf(o)
		got, ok := live.PoliciesFor(key)
		if !ok {
			t.Fatalf("live engine has no endpoint %v", key)
		}
		exp, ok := scratch.PoliciesFor(key)
		if !ok {
			t.Fatalf("scratch engine has no endpoint %v", key)
		}
		// The JSON form is the EndpointPolicy as the agent reports it:
		// tiers, policy keys and orders, profiles.
		gotJSON, expJSON := mustJSON(t, got), mustJSON(t, exp)
		if d := cmp.Diff(expJSON, gotJSON); d != "" {
			t.Errorf("endpoint %v policy differs (-scratch +live):\n%s", key, d)
		}
		if key.Name == "node2-k8s-db-eth0" && !strings.Contains(gotJSON, "knp.default.allow-db") {
			t.Errorf("endpoint %v policy %s lacks knp.default.allow-db", key, gotJSON)
		}
	}
	if endpoints != 2 {
		t.Errorf("compared %d endpoints, want 2", endpoints)
	}
	if got := live.Endpoints(); len(got) != 2 {
		t.Errorf("live engine endpoints %v, want 2", got)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestStoreBeforeSync(t *testing.T) {
	src := New(fake.NewClientset())
	defer src.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	tests := []struct {
		name string
		call func() error
	}{
		{"List blocks until its context ends", func() error { _, err := src.List(ctx, "", ""); return err }},
		{"Get blocks until its context ends", func() error {
			_, err := src.Get(ctx, v3.Key{Kind: v3.KindProfile, Name: "kns.prod"})
			return err
		}},
		{"Watch blocks until its context ends", func() error { _, err := src.Watch(ctx, "", 0); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("err = %v, want context.DeadlineExceeded", err)
			}
		})
	}
}

func TestWritesAreNotSupported(t *testing.T) {
	_, src, _ := start(t)
	ctx := t.Context()
	p := &v3.Profile{
		TypeMeta:   metav1.TypeMeta{APIVersion: v3.APIVersion, Kind: v3.KindProfile},
		ObjectMeta: metav1.ObjectMeta{Name: "kns.prod"},
	}
	key := v3.KeyOf(p)
	tests := []struct {
		name string
		call func() error
	}{
		{"Create is refused", func() error { _, err := src.Create(ctx, p); return err }},
		{"Update is refused", func() error { _, err := src.Update(ctx, p); return err }},
		{"Apply is refused", func() error { _, err := src.Apply(ctx, p); return err }},
		{"Delete is refused", func() error { _, err := src.Delete(ctx, key, ""); return err }},
		{"Txn is refused", func() error { _, err := src.Txn(ctx, []datastore.Op{datastore.ApplyOp(p)}); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); !errors.Is(err, datastore.ErrNotSupported) {
				t.Errorf("err = %v, want ErrNotSupported", err)
			}
		})
	}
	t.Run("the store is still empty after the refused writes", func(t *testing.T) {
		if got := listed(t, src); len(got) != 0 {
			t.Errorf("store holds %v", sortedKeys(got))
		}
	})
}

func TestWatchRevisions(t *testing.T) {
	ctx := t.Context()
	client, src, _ := start(t, namespace("prod", nil), pod("prod", "web", "node1", "10.0.0.5", nil))
	list, err := src.List(ctx, "", "")
	if err != nil {
		t.Fatal(err)
	}
	events, err := src.Watch(ctx, "", list.Revision)
	if err != nil {
		t.Fatal(err)
	}
	core := client.CoreV1()

	// A status change that converts to the same endpoint, then a move: the
	// first event seen must be the move's, both halves at one revision.
	same := pod("prod", "web", "node1", "10.0.0.5", nil)
	same.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	if _, err := core.Pods("prod").UpdateStatus(ctx, same, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := core.Pods("prod").Update(ctx, pod("prod", "web", "node2", "10.0.0.5", nil), metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	var got []datastore.Event
	timeout := time.After(deadline)
	for len(got) < 2 {
		select {
		case ev := <-events:
			got = append(got, ev)
		case <-timeout:
			t.Fatalf("got %d events after %v, want 2", len(got), deadline)
		}
	}

	tests := []struct {
		name string
		ok   bool
	}{
		{"an update converting to the same endpoint makes no event", got[0].Revision == list.Revision+1},
		{"a moved pod's endpoint is deleted under its old name first", got[0].Type == datastore.Deleted && got[0].Key.Name == "node1-k8s-web-eth0"},
		{"a moved pod's endpoint is added under its new name", got[1].Type == datastore.Added && got[1].Key.Name == "node2-k8s-web-eth0"},
		{"both halves of a move share one revision", got[0].Revision == got[1].Revision},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !tt.ok {
				t.Errorf("events after revision %d: %+v", list.Revision, got)
			}
		})
	}
}

func TestCloseEndsRunAndWatches(t *testing.T) {
	src := New(fake.NewClientset(namespace("prod", nil)))
	errc := make(chan error, 1)
	go func() { errc <- src.Run(t.Context()) }()
	ctx, cancel := context.WithTimeout(t.Context(), deadline)
	defer cancel()
	events, err := src.Watch(ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	t.Run("Run returns without error", func(t *testing.T) {
		select {
		case err := <-errc:
			if err != nil {
				t.Errorf("Run = %v", err)
			}
		case <-ctx.Done():
			t.Fatal("Run still running after Close")
		}
	})
	t.Run("the watch channel closes", func(t *testing.T) {
		for {
			select {
			case _, ok := <-events:
				if !ok {
					return
				}
			case <-ctx.Done():
				t.Fatal("watch still open after Close")
			}
		}
	})
	t.Run("List after Close is unavailable", func(t *testing.T) {
		if _, err := src.List(ctx, "", ""); !errors.Is(err, datastore.ErrUnavailable) {
			t.Errorf("List = %v, want ErrUnavailable", err)
		}
	})
	t.Run("Run after Close fails", func(t *testing.T) {
		if err := src.Run(ctx); !errors.Is(err, ErrClosed) {
			t.Errorf("Run = %v, want ErrClosed", err)
		}
	})
}
