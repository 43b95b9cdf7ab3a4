package authz

import (
	"context"
	"fmt"
	"sync"
	"testing"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/prometheus/client_golang/prometheus"

	v3 "github.com/tabby-project/tabby/api/v3"
	"github.com/tabby-project/tabby/datastore"
	"github.com/tabby-project/tabby/datastore/memory"
)

// waitVerdict polls Check until it answers want.
func waitVerdict(t *testing.T, c authv3.AuthorizationClient, req *authv3.CheckRequest, want verdict) {
	t.Helper()
	var got verdict
	waitFor(t, "verdict "+want.Reason, func() bool {
		got = check(t, c, req)
		return got == want
	})
}

func TestPolicyChangesApplyWhileServing(t *testing.T) {
	ctx := context.Background()
	store := loadStore(t, "cluster.yaml")
	c := grpcClient(t, startAuthorizer(t, store, Config{Destination: Destination{Endpoint: webKey}}))
	post := envoyCheck(frontend, client, web8080, "POST", "/api/items")
	get := envoyCheck(frontend, client, web8080, "GET", "/api/items")
	policyKey := v3.Key{Kind: v3.KindNetworkPolicy, Namespace: "prod", Name: "web-api"}

	steps := []struct {
		name   string
		change func(t *testing.T)
		req    *authv3.CheckRequest
		want   verdict
	}{
		{"POST is denied at first", func(*testing.T) {}, post, denied(endOfDefaultTier)},
		{"adding POST to the rule allows it", func(t *testing.T) {
			obj, err := store.Get(ctx, policyKey)
			if err != nil {
				t.Fatal(err)
			}
			np := obj.(*v3.NetworkPolicy)
			np.Spec.Ingress[0].HTTP.Methods = append(np.Spec.Ingress[0].HTTP.Methods, "POST")
			if _, err := store.Update(ctx, np); err != nil {
				t.Fatal(err)
			}
		}, post, allowed()},
		{"deleting the policy leaves the global one ending the tier", func(t *testing.T) {
			if _, err := store.Delete(ctx, policyKey, ""); err != nil {
				t.Fatal(err)
			}
		}, get, denied(endOfDefaultTier)},
		{"deleting the global policy too leaves the namespace profile", func(t *testing.T) {
			if _, err := store.Delete(ctx, v3.Key{Kind: v3.KindGlobalNetworkPolicy, Name: "quarantine"}, ""); err != nil {
				t.Fatal(err)
			}
		}, get, allowed()},
		{"a new deny-all policy in a tier before default denies by name", func(t *testing.T) {
			objs, err := v3.Decode([]byte(`
apiVersion: projectcalico.org/v3
kind: Tier
metadata: {name: security}
spec: {order: 100}
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: security.lockdown, namespace: prod}
spec:
  tier: security
  selector: app == 'web'
  ingress: [{action: Deny, source: {serviceAccounts: {names: [frontend]}}}]
`))
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range objs {
				if _, err := store.Create(ctx, o); err != nil {
					t.Fatal(err)
				}
			}
		}, get, denied("denied by tier security policy prod/security.lockdown ingress rule 0 (Deny)")},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			s.change(t)
			waitVerdict(t, c, s.req, s.want)
		})
	}
}

// brokenWatchStore is a memory store whose first watch delivers nothing
// until the test sends it an event, such as the Error etcd sends after a
// compaction.
type brokenWatchStore struct {
	*memory.Store
	first chan datastore.Event
	once  sync.Once
}

func (s *brokenWatchStore) Watch(ctx context.Context, kind string, rev int64) (<-chan datastore.Event, error) {
	ch := (<-chan datastore.Event)(nil)
	s.once.Do(func() { ch = s.first })
	if ch != nil {
		return ch, nil
	}
	return s.Store.Watch(ctx, kind, rev)
}

func TestCompactedWatchResyncsFromAFullList(t *testing.T) {
	ctx := context.Background()
	store := &brokenWatchStore{Store: loadStore(t, "cluster.yaml"), first: make(chan datastore.Event, 1)}
	reg := prometheus.NewRegistry()
	a := startAuthorizer(t, store, Config{Destination: Destination{Endpoint: webKey}, Registerer: reg})
	c := grpcClient(t, a)
	get := envoyCheck(frontend, client, web8080, "GET", "/api/items")
	if got := check(t, c, get); got != allowed() {
		t.Fatalf("before the change: %+v, want allowed", got)
	}
	// The change is made while the watch is stuck, so only a list sees it.
	if _, err := store.Delete(ctx, v3.Key{Kind: v3.KindNetworkPolicy, Namespace: "prod", Name: "web-api"}, ""); err != nil {
		t.Fatal(err)
	}
	if got := check(t, c, get); got != allowed() {
		t.Fatalf("a change the watch did not deliver was applied: %+v", got)
	}
	store.first <- datastore.Event{Type: datastore.Error, Err: datastore.ErrCompacted}
	waitVerdict(t, c, get, denied(endOfDefaultTier))
	if n := metricValue(t, a.metrics.resyncs); n != 1 {
		t.Errorf("tabby_authz_resyncs_total = %v, want 1", n)
	}
	// After the resync the new watch delivers changes again.
	if _, err := store.Delete(ctx, v3.Key{Kind: v3.KindGlobalNetworkPolicy, Name: "quarantine"}, ""); err != nil {
		t.Fatal(err)
	}
	waitVerdict(t, c, get, allowed())
}

func TestRequestsAreDeniedUntilTheFirstList(t *testing.T) {
	a, err := New(Config{Destination: Destination{Endpoint: webKey}})
	if err != nil {
		t.Fatal(err)
	}
	got := check(t, grpcClient(t, a), envoyCheck(frontend, client, web8080, "GET", "/api/items"))
	if want := denied("not synchronised with the datastore yet"); got != want {
		t.Errorf("verdict %+v, want %+v", got, want)
	}
}

func TestManyIdentitiesStayBoundedAndCorrect(t *testing.T) {
	store := loadStore(t, "cluster.yaml")
	a := startAuthorizer(t, store, Config{Destination: Destination{Endpoint: webKey}})
	get := Request{Principal: frontend, Source: mustAddrPort(client), Destination: mustAddrPort(web8080), Method: "GET", Path: "/api/items"}
	for i := range maxIdentities + 10 {
		r := get
		r.Principal = fmt.Sprintf("spiffe://cluster.local/ns/prod/sa/other-%d", i)
		if d := a.Decide(r); d.Allowed || d.Reason != endOfDefaultTier {
			t.Fatalf("identity %d: %+v, want denied at the end of the tier", i, d)
		}
	}
	if d := a.Decide(get); !d.Allowed {
		t.Errorf("the frontend after many identities: %+v, want allowed", d)
	}
	a.mu.RLock()
	n := len(a.v.ids)
	a.mu.RUnlock()
	if n > maxIdentities {
		t.Errorf("%d identities held, want at most %d", n, maxIdentities)
	}
}

func TestChecksAreAnsweredWhilePolicyChanges(t *testing.T) {
	ctx := context.Background()
	store := loadStore(t, "cluster.yaml")
	c := grpcClient(t, startAuthorizer(t, store, Config{Destination: Destination{Endpoint: webKey}}))
	key := v3.Key{Kind: v3.KindGlobalNetworkPolicy, Name: "quarantine"}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			principal := fmt.Sprintf("spiffe://cluster.local/ns/prod/sa/worker-%d", w)
			for range 50 {
				// Either verdict is right while the policy flips; the
				// request must always be answered.
				if _, err := c.Check(ctx, envoyCheck(principal, client, web8080, "GET", "/api/items")); err != nil {
					t.Error(err)
					return
				}
				if _, err := c.Check(ctx, envoyCheck(frontend, client, web8080, "GET", "/api/items")); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	for range 20 {
		obj, err := store.Get(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := store.Delete(ctx, key, ""); err != nil {
			t.Fatal(err)
		}
		obj.SetResourceVersion("")
		if _, err := store.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	waitVerdict(t, c, envoyCheck(frontend, "192.168.66.3:1000", web8080, "GET", "/api/items"),
		denied("denied by tier default policy quarantine ingress rule 0 (Deny)"))
}
