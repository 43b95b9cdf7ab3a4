package openstack

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	v3 "github.com/tabby-project/tabby/api/v3"
	"github.com/tabby-project/tabby/datastore"
	"github.com/tabby-project/tabby/datastore/etcd"
	"github.com/tabby-project/tabby/datastore/etcd/embedded"
	"github.com/tabby-project/tabby/datastore/memory"
)

// IDs of the fixtures.
const (
	sgWeb    = "a7734e61-b545-452d-a3cd-0189cbd9747a"
	sgLex    = "1b2c3d4e-5f60-4718-8293-a4b5c6d7e8f9"
	sgClient = "85cc3048-abc3-43cc-89b3-377341426ac5"
	portWeb1 = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
	portWeb2 = "1a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
	portLex1 = "2a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
	nsOne    = "openstack-region-one"
	nsTwo    = "openstack-region-two"
	superman = "9f1c0e5a8b7d4c3e2f1a0b9c8d7e6f5a"
)

func newSyncer(t testing.TB, src Source, store datastore.Store, region string) *Syncer {
	t.Helper()
	s, err := NewSyncer(SyncConfig{Source: src, Store: store, Region: region, Interval: 10 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustSync(t testing.TB, s *Syncer) Result {
	t.Helper()
	res, err := s.SyncOnce(context.Background())
	if err != nil {
		t.Fatalf("sync: %v", err)
	}
	return res
}

// contents lists the store's resources (of every namespace) as key →
// JSON content, to compare states.
func contents(t testing.TB, store datastore.Store) map[v3.Key]string {
	t.Helper()
	out := map[v3.Key]string{}
	for _, kind := range []string{v3.KindWorkloadEndpoint, v3.KindNetworkPolicy} {
		l, err := store.List(context.Background(), kind, "")
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range l.Items {
			j, err := contentJSON(o)
			if err != nil {
				t.Fatal(err)
			}
			out[v3.KeyOf(o)] = string(j)
		}
	}
	return out
}

func keysOf(m map[v3.Key]string) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k.String())
	}
	sort.Strings(ks)
	return ks
}

func portByID(items map[string][]map[string]any, id string) map[string]any {
	for _, p := range items["ports"] {
		if p["id"] == id {
			return p
		}
	}
	return nil
}

func removeByID(list []map[string]any, id string) []map[string]any {
	var out []map[string]any
	for _, x := range list {
		if x["id"] != id {
			out = append(out, x)
		}
	}
	return out
}

func TestFirstSyncWritesEndpointsAndPolicies(t *testing.T) {
	cloud := newFakeCloud(t, "region-one", "RegionOne")
	store := memory.New()
	res := mustSync(t, newSyncer(t, cloud.client(t), store, "one"))
	got := contents(t, store)

	t.Run("one endpoint per bound VM port and one policy per group, nothing else", func(t *testing.T) {
		want := []string{
			"NetworkPolicy(" + nsOne + "/ossg.default." + sgLex + ")",
			"NetworkPolicy(" + nsOne + "/ossg.default." + sgWeb + ")",
			"WorkloadEndpoint(" + nsOne + "/compute--1-openstack-5e6f7a8b--9c0d--4e1f--a2b3--c4d5e6f7a801-0a1b2c3d--4e5f--4a6b--8c7d--9e0f1a2b3c4d)",
			"WorkloadEndpoint(" + nsOne + "/compute--1-openstack-5e6f7a8b--9c0d--4e1f--a2b3--c4d5e6f7a803-2a1b2c3d--4e5f--4a6b--8c7d--9e0f1a2b3c4d)",
			"WorkloadEndpoint(" + nsOne + "/compute--2-openstack-5e6f7a8b--9c0d--4e1f--a2b3--c4d5e6f7a802-1a1b2c3d--4e5f--4a6b--8c7d--9e0f1a2b3c4d)",
		}
		if diff := cmp.Diff(want, keysOf(got)); diff != "" {
			t.Errorf("keys (-want +got):\n%s", diff)
		}
		if res.Created != 5 || res.Updated != 0 || res.Deleted != 0 {
			t.Errorf("result = %+v, want 5 created", res)
		}
	})

	t.Run("the endpoint of a VM carries Calico's OpenStack labels, addresses, MAC and tap name", func(t *testing.T) {
		o, err := store.Get(context.Background(), v3.Key{Kind: v3.KindWorkloadEndpoint, Namespace: nsOne,
			Name: "compute--1-openstack-5e6f7a8b--9c0d--4e1f--a2b3--c4d5e6f7a803-2a1b2c3d--4e5f--4a6b--8c7d--9e0f1a2b3c4d"})
		if err != nil {
			t.Fatal(err)
		}
		w := o.(*v3.WorkloadEndpoint)
		wantLabels := map[string]string{
			"projectcalico.org/namespace":                     nsOne,
			"projectcalico.org/orchestrator":                  "openstack",
			"projectcalico.org/openstack-project-id":          "2a3b4c5d6e7f48091a2b3c4d5e6f7081",
			"projectcalico.org/openstack-project-name":        "lexluthor",
			"projectcalico.org/openstack-project-parent-id":   "default",
			"projectcalico.org/openstack-network-name":        "private",
			"sg.projectcalico.org/openstack-" + sgLex:         "lex_servers",
			"sg-name.projectcalico.org/openstack-lex_servers": sgLex,
		}
		if diff := cmp.Diff(wantLabels, w.Labels); diff != "" {
			t.Errorf("labels (-want +got):\n%s", diff)
		}
		wantAnn := map[string]string{AnnotationManagedBy: ManagedByValue,
			"openstack.projectcalico.org/network-id": "3d4b6f1e-0c1a-4d6e-9b5f-1a2b3c4d5e01"}
		if diff := cmp.Diff(wantAnn, w.Annotations); diff != "" {
			t.Errorf("annotations (-want +got):\n%s", diff)
		}
		wantSpec := v3.WorkloadEndpointSpec{
			Orchestrator: "openstack", Workload: "5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a803", Node: "compute-1",
			Endpoint: portLex1, InterfaceName: "tap2a1b2c3d-4e", MAC: "fa:16:3e:00:00:03",
			IPNetworks:                 []string{"10.1.0.21/32", "10.1.0.100/32"},
			IPv4Gateway:                "10.1.0.1",
			IPNATs:                     []v3.IPNAT{{InternalIP: "10.1.0.21", ExternalIP: "203.0.113.5"}},
			AllowSpoofedSourcePrefixes: []string{"10.9.0.0/24"},
		}
		if diff := cmp.Diff(wantSpec, w.Spec); diff != "" {
			t.Errorf("spec (-want +got):\n%s", diff)
		}
	})

	t.Run("a security group becomes ossg.default.<id> with Neutron's rules as Allow rules", func(t *testing.T) {
		o, err := store.Get(context.Background(), v3.Key{Kind: v3.KindNetworkPolicy, Namespace: nsOne, Name: "ossg.default." + sgWeb})
		if err != nil {
			t.Fatal(err)
		}
		np := o.(*v3.NetworkPolicy)
		four, six, icmpType := 4, 6, 8
		tcp, icmp := v3.ProtocolFromString("TCP"), v3.ProtocolFromString("ICMP")
		want := v3.NetworkPolicySpec{
			Tier:     "default",
			Selector: "has(sg.projectcalico.org/openstack-" + sgWeb + ")",
			Types:    []v3.PolicyType{v3.PolicyTypeIngress, v3.PolicyTypeEgress},
			Ingress: []v3.Rule{
				{Action: v3.Allow, IPVersion: &four, Protocol: &tcp, Source: v3.EntityRule{Nets: []string{"0.0.0.0/0"}},
					Destination: v3.EntityRule{Ports: []v3.Port{v3.SinglePort(443)}}},
				{Action: v3.Allow, IPVersion: &four, Protocol: &tcp, Source: v3.EntityRule{Selector: "has(sg.projectcalico.org/openstack-" + sgWeb + ")"},
					Destination: v3.EntityRule{Ports: []v3.Port{v3.SinglePort(22)}}},
				{Action: v3.Allow, IPVersion: &four, Protocol: &icmp, ICMP: &v3.ICMPFields{Type: &icmpType}},
			},
			Egress: []v3.Rule{{Action: v3.Allow, IPVersion: &four}, {Action: v3.Allow, IPVersion: &six}},
		}
		if diff := cmp.Diff(want, np.Spec); diff != "" {
			t.Errorf("spec (-want +got):\n%s", diff)
		}
		if np.Spec.Order != nil {
			t.Errorf("order = %v, want none (after every ordered policy)", *np.Spec.Order)
		}
	})

	t.Run("the rule that Calico cannot express is reported and left out", func(t *testing.T) {
		var reasons []string
		for _, p := range res.Problems {
			reasons = append(reasons, p.String())
		}
		if len(reasons) != 1 || !strings.Contains(reasons[0], "0b5a1c2d-0002-4000-8000-000000000006") || !strings.Contains(reasons[0], "dccp") {
			t.Errorf("problems = %q, want the dccp port-range rule only", reasons)
		}
	})

	t.Run("every written resource validates", func(t *testing.T) {
		for _, kind := range []string{v3.KindWorkloadEndpoint, v3.KindNetworkPolicy} {
			l, err := store.List(context.Background(), kind, "")
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range l.Items {
				if err := v3.Validate(o); err != nil {
					t.Errorf("%v: %v", v3.KeyOf(o), err)
				}
			}
		}
	})
}

func TestSyncFollowsNeutron(t *testing.T) {
	cloud := newFakeCloud(t, "region-one", "RegionOne")
	store := memory.New()
	s := newSyncer(t, cloud.client(t), store, "one")
	mustSync(t, s)
	web2 := v3.Key{Kind: v3.KindWorkloadEndpoint, Namespace: nsOne,
		Name: "compute--2-openstack-5e6f7a8b--9c0d--4e1f--a2b3--c4d5e6f7a802-1a1b2c3d--4e5f--4a6b--8c7d--9e0f1a2b3c4d"}
	lex1 := v3.Key{Kind: v3.KindWorkloadEndpoint, Namespace: nsOne,
		Name: "compute--1-openstack-5e6f7a8b--9c0d--4e1f--a2b3--c4d5e6f7a803-2a1b2c3d--4e5f--4a6b--8c7d--9e0f1a2b3c4d"}
	lexPolicy := v3.Key{Kind: v3.KindNetworkPolicy, Namespace: nsOne, Name: "ossg.default." + sgLex}

	t.Run("a sync with nothing changed writes nothing", func(t *testing.T) {
		before, _ := store.List(context.Background(), "", "")
		res := mustSync(t, s)
		after, _ := store.List(context.Background(), "", "")
		if before.Revision != after.Revision || res.Unchanged != 5 {
			t.Errorf("revision %d → %d, result %+v: want no write", before.Revision, after.Revision, res)
		}
	})

	t.Run("a port that changes groups is relabelled", func(t *testing.T) {
		cloud.edit(func(items map[string][]map[string]any) {
			portByID(items, portWeb2)["security_groups"] = []any{sgWeb, sgLex}
		})
		res := mustSync(t, s)
		o, err := store.Get(context.Background(), web2)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := o.GetLabels()["sg.projectcalico.org/openstack-"+sgLex]; !ok || res.Updated != 1 {
			t.Errorf("labels %v, result %+v: want the lex group label and one update", o.GetLabels(), res)
		}
	})

	t.Run("a rule added to a group updates its policy", func(t *testing.T) {
		cloud.edit(func(items map[string][]map[string]any) {
			for _, g := range items["security_groups"] {
				if g["id"] == sgWeb {
					g["security_group_rules"] = append(g["security_group_rules"].([]any), map[string]any{
						"id": "0b5a1c2d-0001-4000-8000-000000000009", "security_group_id": sgWeb, "direction": "ingress",
						"ethertype": "IPv4", "protocol": "udp", "port_range_min": 5000, "port_range_max": 5100,
						"remote_ip_prefix": "172.16.0.0/12", "remote_group_id": nil})
				}
			}
		})
		mustSync(t, s)
		o, err := store.Get(context.Background(), v3.Key{Kind: v3.KindNetworkPolicy, Namespace: nsOne, Name: "ossg.default." + sgWeb})
		if err != nil {
			t.Fatal(err)
		}
		in := o.(*v3.NetworkPolicy).Spec.Ingress
		last := in[len(in)-1]
		if len(in) != 4 || last.Destination.Ports[0] != v3.PortRange(5000, 5100) || last.Source.Nets[0] != "172.16.0.0/12" {
			t.Errorf("ingress = %+v, want the UDP 5000:5100 rule added", in)
		}
	})

	t.Run("a deleted port and a deleted group are removed", func(t *testing.T) {
		cloud.edit(func(items map[string][]map[string]any) {
			items["ports"] = removeByID(items["ports"], portLex1)
			items["security_groups"] = removeByID(items["security_groups"], sgLex)
			portByID(items, portWeb2)["security_groups"] = []any{sgWeb}
		})
		res := mustSync(t, s)
		for _, k := range []v3.Key{lex1, lexPolicy} {
			if _, err := store.Get(context.Background(), k); !errors.Is(err, datastore.ErrNotFound) {
				t.Errorf("%v: err = %v, want it deleted", k, err)
			}
		}
		if res.Deleted != 2 {
			t.Errorf("result = %+v, want 2 deleted", res)
		}
	})

	t.Run("an unbinding port loses its endpoint", func(t *testing.T) {
		cloud.edit(func(items map[string][]map[string]any) { portByID(items, portWeb2)["binding:host_id"] = "" })
		mustSync(t, s)
		if _, err := store.Get(context.Background(), web2); !errors.Is(err, datastore.ErrNotFound) {
			t.Errorf("err = %v, want the endpoint of the unbound port deleted", err)
		}
	})
}

func TestResyncHealsDriftAndKeepsForeignResources(t *testing.T) {
	ctx := context.Background()
	cloud := newFakeCloud(t, "region-one", "RegionOne")
	store := memory.New()
	s := newSyncer(t, cloud.client(t), store, "one")
	mustSync(t, s)
	want := contents(t, store)

	// While the sync was down: an endpoint was deleted by hand, a policy
	// edited, and a VM deleted in Neutron left its endpoint behind.
	web1 := v3.Key{Kind: v3.KindWorkloadEndpoint, Namespace: nsOne,
		Name: "compute--1-openstack-5e6f7a8b--9c0d--4e1f--a2b3--c4d5e6f7a801-0a1b2c3d--4e5f--4a6b--8c7d--9e0f1a2b3c4d"}
	if _, err := store.Delete(ctx, web1, ""); err != nil {
		t.Fatal(err)
	}
	pk := v3.Key{Kind: v3.KindNetworkPolicy, Namespace: nsOne, Name: "ossg.default." + sgWeb}
	o, _ := store.Get(ctx, pk)
	o.(*v3.NetworkPolicy).Spec.Ingress = []v3.Rule{{Action: v3.Allow}}
	if _, err := store.Update(ctx, o); err != nil {
		t.Fatal(err)
	}
	stale := &v3.WorkloadEndpoint{}
	stale.Name, stale.Namespace = "compute--9-openstack-gone-gone", nsOne
	stale.Annotations = map[string]string{AnnotationManagedBy: ManagedByValue}
	stale.Spec = v3.WorkloadEndpointSpec{Node: "compute-9", InterfaceName: "tapgone", Orchestrator: "openstack"}
	if _, err := store.Create(ctx, stale); err != nil {
		t.Fatal(err)
	}
	// Resources Tabby did not create: an operator's endpoint and policy in
	// the region's namespace, one with a group policy's name, and a marked
	// policy in another namespace.
	foreignWEP := &v3.WorkloadEndpoint{}
	foreignWEP.Name, foreignWEP.Namespace = "baremetal-openstack-x-y", nsOne
	foreignWEP.Spec = v3.WorkloadEndpointSpec{Node: "baremetal", InterfaceName: "eth1"}
	foreignNP := &v3.NetworkPolicy{}
	foreignNP.Name, foreignNP.Namespace, foreignNP.Spec.Selector = "ossg.default.handmade", nsOne, "all()"
	otherNS := &v3.NetworkPolicy{}
	otherNS.Name, otherNS.Namespace, otherNS.Spec.Selector = "ossg.default."+sgWeb, "openstack", "all()"
	otherNS.Annotations = map[string]string{AnnotationManagedBy: ManagedByValue}
	for _, f := range []v3.Object{foreignWEP, foreignNP, otherNS} {
		v3.Default(f)
		if _, err := store.Create(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	foreignContent := map[v3.Key]string{}
	for k, v := range contents(t, store) {
		if k.Name == foreignWEP.Name || k.Name == foreignNP.Name || k.Namespace == "openstack" {
			foreignContent[k] = v
		}
	}

	res := mustSync(t, s)
	got := contents(t, store)
	for k, v := range foreignContent {
		want[k] = v
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("after resync (-want +got):\n%s", diff)
	}
	if res.Created != 1 || res.Updated != 1 || res.Deleted != 1 {
		t.Errorf("result = %+v, want 1 created, 1 updated, 1 deleted", res)
	}
}

func TestSyncRefusesToOverwriteAForeignResource(t *testing.T) {
	ctx := context.Background()
	cloud := newFakeCloud(t, "region-one", "RegionOne")
	store := memory.New()
	np := &v3.NetworkPolicy{}
	np.Name, np.Namespace, np.Spec.Selector = "ossg.default."+sgWeb, nsOne, "all()"
	v3.Default(np)
	if _, err := store.Create(ctx, np); err != nil {
		t.Fatal(err)
	}
	before := contents(t, store)
	res := mustSync(t, newSyncer(t, cloud.client(t), store, "one"))
	key := v3.KeyOf(np)
	if after := contents(t, store); after[key] != before[key] {
		t.Errorf("the unmarked policy was overwritten:\n%s\n→\n%s", before[key], after[key])
	}
	if diff := cmp.Diff([]v3.Key{key}, res.Foreign); diff != "" {
		t.Errorf("foreign (-want +got):\n%s", diff)
	}
}

func TestFaultsNeverDeleteGoodData(t *testing.T) {
	tests := []struct {
		name    string
		path    string
		fault   fault
		wantErr error
	}{
		{"a region whose Neutron answers 500 keeps its resources", "/network/v2.0/ports", faultStatus500, ErrUnavailable},
		{"malformed JSON for security groups keeps the resources", "/network/v2.0/security-groups", faultMalformed, ErrBadResponse},
		{"a ports answer without its collection is not read as empty", "/network/v2.0/ports", faultMissingKey, ErrBadResponse},
		{"a Neutron that never answers times out and keeps the resources", "/network/v2.0/networks", faultHang, ErrUnavailable},
		{"a Keystone that cannot list projects keeps the project labels", "/identity/v3/projects", faultStatus500, ErrUnavailable},
		{"a Keystone that is down keeps the resources", "/identity/v3/auth/tokens", faultStatus500, ErrUnavailable},
		{"a token refused even after re-authentication keeps the resources", "/network/v2.0/subnets", fault401Always, ErrAuth},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cloud := newFakeCloud(t, "region-one", "RegionOne")
			store := memory.New()
			cfg := cloud.config()
			cfg.Timeout = 100 * time.Millisecond
			c, err := NewClient(cfg)
			if err != nil {
				t.Fatal(err)
			}
			s := newSyncer(t, c, store, "one")
			mustSync(t, s)
			// Neutron now has nothing: a sync that read it would delete all.
			cloud.edit(func(items map[string][]map[string]any) {
				items["ports"], items["security_groups"] = []map[string]any{}, []map[string]any{}
			})
			// A fresh client, so that authentication is exercised too.
			c2, err := NewClient(cfg)
			if err != nil {
				t.Fatal(err)
			}
			s = newSyncer(t, c2, store, "one")
			cloud.setFault(tt.path, tt.fault)
			before, _ := store.List(context.Background(), "", "")
			_, err = s.SyncOnce(context.Background())
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("err = %v, want %v", err, tt.wantErr)
			}
			after, _ := store.List(context.Background(), "", "")
			if n := len(contents(t, store)); after.Revision != before.Revision || n != 5 {
				t.Errorf("revision %d → %d, %d resources: the failed sync wrote", before.Revision, after.Revision, n)
			}
			// Once the fault clears, the sync applies Neutron's state.
			cloud.setFault(tt.path, faultNone)
			mustSync(t, s)
			if n := len(contents(t, store)); n != 0 {
				t.Errorf("%d resources after recovery, want 0", n)
			}
		})
	}
}

func TestTransientFaultsAreRetried(t *testing.T) {
	tests := []struct {
		name      string
		path      string
		fault     fault
		wantAuths int
	}{
		{"a 503 once is retried", "/network/v2.0/ports", faultStatus503Once, 1},
		{"an expired token is renewed once", "/network/v2.0/security-groups", faultExpireToken, 2},
		{"a Keystone 503 once is retried", "/identity/v3/auth/tokens", faultStatus503Once, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cloud := newFakeCloud(t, "region-one", "RegionOne")
			cloud.setFault(tt.path, tt.fault)
			store := memory.New()
			res := mustSync(t, newSyncer(t, cloud.client(t), store, "one"))
			if res.Created != 5 {
				t.Errorf("result = %+v, want 5 created", res)
			}
			if got := cloud.authCount(); got != tt.wantAuths {
				t.Errorf("%d authentications, want %d", got, tt.wantAuths)
			}
		})
	}
}

func TestTwoRegionsShareOneStore(t *testing.T) {
	stores := []struct {
		name string
		open func(t *testing.T) datastore.Store
	}{
		{"memory", func(*testing.T) datastore.Store { return memory.New() }},
		{"embedded etcd", openEtcd},
	}
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			one := newFakeCloud(t, "region-one", "RegionOne")
			two := newFakeCloud(t, "region-two", "RegionTwo")
			store := st.open(t)
			s1 := newSyncer(t, one.client(t), store, "one")
			s2 := newSyncer(t, two.client(t), store, "two")
			mustSync(t, s1)
			mustSync(t, s2)
			count := func() map[string]int {
				n := map[string]int{}
				for k := range contents(t, store) {
					n[k.Namespace]++
				}
				return n
			}
			if diff := cmp.Diff(map[string]int{nsOne: 5, nsTwo: 5}, count()); diff != "" {
				t.Errorf("resources per namespace (-want +got):\n%s", diff)
			}
			// Emptying one region leaves the other's namespace alone.
			one.edit(func(items map[string][]map[string]any) {
				items["ports"], items["security_groups"] = []map[string]any{}, []map[string]any{}
			})
			mustSync(t, s1)
			mustSync(t, s2)
			if diff := cmp.Diff(map[string]int{nsTwo: 5}, count()); diff != "" {
				t.Errorf("after emptying region one, resources per namespace (-want +got):\n%s", diff)
			}
		})
	}
}

// openEtcd starts an embedded etcd on a free loopback port for the test.
func openEtcd(t *testing.T) datastore.Store {
	t.Helper()
	ctx := context.Background()
	srv, err := embedded.Start(ctx, embedded.Config{Dir: filepath.Join(t.TempDir(), "etcd"), ClientURL: "http://127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	s, err := etcd.Open(ctx, etcd.Config{Endpoints: srv.Endpoints()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestRunBringsChangesWithinAnInterval(t *testing.T) {
	cloud := newFakeCloud(t, "region-one", "RegionOne")
	store := memory.New()
	s := newSyncer(t, cloud.client(t), store, "one")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run: %v", err)
		}
	}()
	waitFor(t, "the first sync", func() bool { return len(contents(t, store)) == 5 })
	cloud.edit(func(items map[string][]map[string]any) { items["ports"] = removeByID(items["ports"], portWeb1) })
	waitFor(t, "the deleted port's endpoint to go", func() bool { return len(contents(t, store)) == 4 })
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestNewSyncerRejectsARegionThatIsNoNamespace(t *testing.T) {
	_, err := NewSyncer(SyncConfig{Source: &Client{}, Store: memory.New(), Region: "RegionOne"})
	if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "openstack-region-RegionOne") {
		t.Errorf("err = %v, want ErrConfig naming the namespace", err)
	}
}
