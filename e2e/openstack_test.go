//go:build linux

package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	v3 "github.com/tabby-project/tabby/api/v3"
	"github.com/tabby-project/tabby/internal/testbed"
	"github.com/tabby-project/tabby/lab"
	"github.com/tabby-project/tabby/openstack"
)

// The OpenStack fixtures (shared with package openstack and
// tabby-openstack) and the examples: the operator's seed policies and the
// lab of the VMs.
var (
	openstackFixtures = filepath.Join("..", "openstack", "testdata")
	openstackExamples = filepath.Join("..", "examples", "openstack")
)

// sgWeb is the security group "web" of region one (project superman).
const sgWeb = "a7734e61-b545-452d-a3cd-0189cbd9747a"

// neutronCollections maps the Neutron list resources the sync reads to their
// JSON collection keys.
var neutronCollections = map[string]string{
	"ports": "ports", "security-groups": "security_groups", "networks": "networks",
	"subnets": "subnets", "floatingips": "floatingips",
}

// fakeRegion is one OpenStack region on httptest: Keystone under /identity
// (token, projects) and Neutron under /network (the lists), serving the
// fixtures of openstack/testdata/<dir> with the answers' documented shapes.
// The sync reaches it through its real REST client.
type fakeRegion struct {
	t      *testing.T
	srv    *httptest.Server
	region string

	mu    sync.Mutex
	items map[string][]map[string]any // collection key → items
}

// newFakeRegion serves the fixtures of dir as the OpenStack region region,
// with every port bound to a host of hosts moved to the host it maps to.
func newFakeRegion(t *testing.T, dir, region string, hosts map[string]string) *fakeRegion {
	t.Helper()
	f := &fakeRegion{t: t, region: region, items: map[string][]map[string]any{}}
	for res, key := range neutronCollections {
		f.items[key] = readCollection(t, filepath.Join(openstackFixtures, dir, res+".json"), key)
	}
	f.items["projects"] = readCollection(t, filepath.Join(openstackFixtures, "projects.json"), "projects")
	for _, p := range f.items["ports"] {
		if h, ok := hosts[p["binding:host_id"].(string)]; ok {
			p["binding:host_id"] = h
		}
	}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func readCollection(t *testing.T, path, key string) []map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var items []map[string]any
	if err := json.Unmarshal(doc[key], &items); err != nil || items == nil {
		t.Fatalf("%s: no %q collection: %v", path, key, err)
	}
	return items
}

const fakeToken = "gAAAAAB-e2e-token"

func (f *fakeRegion) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/identity/v3/auth/tokens":
		w.Header().Set("X-Subject-Token", fakeToken)
		w.WriteHeader(http.StatusCreated)
		f.write(w, map[string]any{"token": map[string]any{
			"expires_at": time.Now().Add(time.Hour).UTC().Format("2006-01-02T15:04:05.000000Z"),
			"catalog": []any{map[string]any{"type": "network", "name": "neutron", "endpoints": []any{
				map[string]any{"interface": "public", "region": f.region, "region_id": f.region, "url": f.srv.URL + "/network"},
			}}},
		}})
	case r.Header.Get("X-Auth-Token") != fakeToken:
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"error": {"code": 401, "title": "Unauthorized", "message": "The request you have made requires authentication."}}`)
	case r.Method == http.MethodGet && r.URL.Path == "/identity/v3/projects":
		f.list(w, "projects")
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/network/v2.0/"):
		key, ok := neutronCollections[strings.TrimPrefix(r.URL.Path, "/network/v2.0/")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		f.list(w, key)
	default:
		http.NotFound(w, r)
	}
}

// list answers with the whole collection on one page.
func (f *fakeRegion) list(w http.ResponseWriter, key string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.write(w, map[string]any{key: f.items[key]})
}

func (f *fakeRegion) write(w http.ResponseWriter, doc any) {
	data, err := json.Marshal(doc)
	if err != nil {
		f.t.Error(err)
		return
	}
	w.Write([]byte(strings.ReplaceAll(string(data), "{{BASE}}", f.srv.URL)))
}

// port returns the fixture port named name.
func (f *fakeRegion) port(name string) (map[string]any, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	i := slices.IndexFunc(f.items["ports"], func(p map[string]any) bool { return p["name"] == name })
	if i < 0 {
		return nil, false
	}
	return f.items["ports"][i], true
}

// addRule adds a rule to security group sg, as
// POST /v2.0/security-group-rules would.
func (f *fakeRegion) addRule(sg string, rule map[string]any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, g := range f.items["security_groups"] {
		if g["id"] == sg {
			rule["security_group_id"] = sg
			g["security_group_rules"] = append(g["security_group_rules"].([]any), rule)
			return
		}
	}
	f.t.Fatalf("no security group %s", sg)
}

// deleteRule removes the rule with the given id from security group sg, as
// DELETE /v2.0/security-group-rules/<id> would.
func (f *fakeRegion) deleteRule(sg, id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, g := range f.items["security_groups"] {
		if g["id"] == sg {
			rules := g["security_group_rules"].([]any)
			g["security_group_rules"] = slices.DeleteFunc(rules, func(r any) bool { return r.(map[string]any)["id"] == id })
			return
		}
	}
	f.t.Fatalf("no security group %s", sg)
}

// syncer returns a Syncer of the Calico region calicoRegion that reads the
// fake through the REST client and writes to store.
func (f *fakeRegion) syncer(t *testing.T, calicoRegion string, l *testbed.Lab) *openstack.Syncer {
	t.Helper()
	c, err := openstack.NewClient(openstack.Config{AuthURL: f.srv.URL + "/identity/v3",
		Username: "tabby", Password: "secret", UserDomainName: "Default",
		ProjectName: "service", ProjectDomainName: "Default", RegionName: f.region,
		Timeout: 2 * time.Second, MaxRetries: 1, Backoff: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	s, err := openstack.NewSyncer(openstack.SyncConfig{Source: c, Store: l.Store(), Region: calicoRegion})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustSyncOnce(t *testing.T, ctx context.Context, s *openstack.Syncer) openstack.Result {
	t.Helper()
	res, err := s.SyncOnce(ctx)
	if err != nil {
		t.Fatalf("sync %s: %v", s.Namespace(), err)
	}
	return res
}

// vm returns the lab workload that is the VM of region's port named port:
// the one in the region's Calico namespace ns, on the port's binding host,
// behind the interface the sync names after the port ID.
func vm(t *testing.T, l *testbed.Lab, region *fakeRegion, ns, port string) lab.WorkloadInfo {
	t.Helper()
	p, ok := region.port(port)
	if !ok {
		t.Fatalf("no port %q in the fixtures of %s", port, ns)
	}
	iface := "tap" + p["id"].(string)[:11]
	for _, w := range l.Fabric().Workloads() {
		if w.Ref.Namespace == ns && w.Host == p["binding:host_id"] && w.InterfaceName == iface {
			return w
		}
	}
	t.Fatalf("the lab has no VM %s: no workload of %s on %s behind %s", port, ns, p["binding:host_id"], iface)
	return lab.WorkloadInfo{}
}

func ipv4Of(t *testing.T, w lab.WorkloadInfo) netip.Addr {
	t.Helper()
	for _, a := range w.IPs {
		if a.Is4() {
			return a
		}
	}
	t.Fatalf("%s has no IPv4 address", w.Ref)
	return netip.Addr{}
}

// checkLabIsTheSync checks that the WorkloadEndpoints the sync wrote are
// exactly the lab's workloads: same namespace and name, node, interface
// and addresses, one for one.
func checkLabIsTheSync(t *testing.T, ctx context.Context, l *testbed.Lab, namespaces ...string) {
	t.Helper()
	weps := map[lab.WorkloadRef]*v3.WorkloadEndpoint{}
	for _, ns := range namespaces {
		list, err := l.Store().List(ctx, v3.KindWorkloadEndpoint, ns)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range list.Items {
			wep := o.(*v3.WorkloadEndpoint)
			weps[lab.WorkloadRef{Namespace: wep.Namespace, Name: wep.Name}] = wep
		}
	}
	for _, w := range l.Fabric().Workloads() {
		wep, ok := weps[w.Ref]
		if !ok {
			t.Errorf("lab workload %s has no synced WorkloadEndpoint", w.Ref)
			continue
		}
		delete(weps, w.Ref)
		var nets []string
		for _, a := range w.IPs {
			nets = append(nets, netip.PrefixFrom(a, a.BitLen()).String())
		}
		got := slices.Sorted(slices.Values(wep.Spec.IPNetworks))
		slices.Sort(nets)
		if wep.Spec.Node != w.Host || wep.Spec.InterfaceName != w.InterfaceName || !slices.Equal(got, nets) {
			t.Errorf("lab workload %s is on %s behind %s with %v; the sync wrote node %s, interface %s, %v",
				w.Ref, w.Host, w.InterfaceName, nets, wep.Spec.Node, wep.Spec.InterfaceName, got)
		}
	}
	for ref, wep := range weps {
		t.Errorf("the sync wrote %s (node %s, %s) that the lab does not have", ref, wep.Spec.Node, wep.Spec.InterfaceName)
	}
}

// expectVerdict probes from src to dst on TCP port: an allowed probe is
// retried until it connects or enforceBound passes (a starved CPU must not
// pass for a drop); a denied one must be dropped (a timeout, not a refusal
// of an unserved port) on three probes in a row.
func expectVerdict(t *testing.T, l *testbed.Lab, src lab.WorkloadRef, dst netip.Addr, port uint16, allowed bool) {
	t.Helper()
	ctx := context.Background()
	if allowed {
		var r lab.Result
		for deadline := time.Now().Add(enforceBound); time.Now().Before(deadline); {
			if r = l.Fabric().Probe(ctx, src, dst, lab.TCP, port, 0); r.Connected {
				return
			}
		}
		t.Fatalf("want allowed, got %v", r)
	}
	for range 3 {
		r := l.Fabric().Probe(ctx, src, dst, lab.TCP, port, 200*time.Millisecond)
		if r.Connected || !errors.Is(r.Err, lab.ErrTimeout) {
			t.Fatalf("want dropped, got %v", r)
		}
	}
}

func readSeedPolicies(t *testing.T) []v3.Object {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(openstackExamples, "00-operator-policies.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	objs, err := v3.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		v3.Default(o)
		if err := v3.Validate(o); err != nil {
			t.Fatal(err)
		}
	}
	return objs
}

func median(ds []time.Duration) time.Duration {
	s := slices.Sorted(slices.Values(ds))
	return s[len(s)/2]
}

// TestOpenStackSyncIsEnforcedOnRealPackets runs the OpenStack sync of two
// regions against fake Neutrons into the lab's datastore, whose only other
// content is the operator's seed policies, and checks on real packets
// between the VMs that the operator's deny wins over a tenant's security
// group, that the cross-region allow-tcp-80 opens exactly TCP 80 between
// the named groups, and that a VM no rule allows to is cut off; then
// measures how long a Neutron rule change takes to reach the packets.
func TestOpenStackSyncIsEnforcedOnRealPackets(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "examples", "lab", "openstack.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	topo, err := lab.ParseTopology(data)
	if err != nil {
		t.Fatal(err)
	}
	l := up(t, topo, testbed.Options{Initial: readSeedPolicies(t)})
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()

	one := newFakeRegion(t, "region-one", "RegionOne", nil)
	// The fixtures' compute-3 and compute-4 are the lab's compute-2 and
	// compute-1 (see examples/lab/openstack.yaml).
	two := newFakeRegion(t, "region-two", "RegionTwo", map[string]string{"compute-3": "compute-2", "compute-4": "compute-1"})
	syncOne, syncTwo := one.syncer(t, "one", l), two.syncer(t, "two", l)
	for _, s := range []*openstack.Syncer{syncOne, syncTwo} {
		res := mustSyncOnce(t, ctx, s)
		t.Logf("sync %s: %d created, %d problems (skipped rules), in %v", s.Namespace(), res.Created, len(res.Problems), res.Duration.Round(time.Millisecond))
	}
	checkLabIsTheSync(t, ctx, l, syncOne.Namespace(), syncTwo.Namespace())
	if t.Failed() {
		t.FailNow()
	}
	if _, err := l.WaitProgrammed(ctx); err != nil {
		t.Fatal(err)
	}

	web1 := vm(t, l, one, syncOne.Namespace(), "web1")
	web2 := vm(t, l, one, syncOne.Namespace(), "web2")
	lex1 := vm(t, l, one, syncOne.Namespace(), "lex1")
	client1 := vm(t, l, two, syncTwo.Namespace(), "client1")
	nosg1 := vm(t, l, two, syncTwo.Namespace(), "nosg1")
	lex2 := vm(t, l, two, syncTwo.Namespace(), "lex2")

	for _, tc := range []struct {
		name     string
		from, to lab.WorkloadInfo
		port     uint16
		allowed  bool
	}{
		{"the operator's deny of lexluthor wins over the web group's TCP 443 from anywhere", lex1, web1, 443, false},
		{"the web group's TCP 443 from anywhere admits superman's client from the other region", client1, web1, 443, true},
		{"the operator's deny of superman wins over lexluthor's default group's TCP 80 from anywhere", client1, lex2, 80, false},
		{"lexluthor's default group admits lexluthor's VM of the other region on TCP 80", lex1, lex2, 80, true},
		{"allow-tcp-80 admits the client group to the web group across regions and hosts", client1, web1, 80, true},
		{"allow-tcp-80 admits the client group to the web group across regions on one host", client1, web2, 80, true},
		{"allow-tcp-80 opens no other port", client1, web1, 8080, false},
		{"allow-tcp-80 opens TCP 80 to no other group", web2, web1, 80, false},
		{"the web group's TCP 22 from itself admits its members", web2, web1, 22, true},
		{"a VM in no group is sent nothing", client1, nosg1, 80, false},
		{"a VM in no group sends nothing, even where the peer's group admits anyone", nosg1, web1, 443, false},
		{"lexluthor's group admits TCP 8000-8080 from 10.0.0.0/8 across regions", lex2, lex1, 8080, true},
		{"lexluthor's group admits no port it has no rule for", lex2, lex1, 80, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			expectVerdict(t, l, tc.from.Ref, ipv4Of(t, tc.to), tc.port, tc.allowed)
		})
	}

	t.Run("the packets of every pair of VMs are what the engine predicts", func(t *testing.T) {
		m, err := l.Matrix(ctx, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		allowed := 0
		for _, c := range m.Cells {
			if c.Connected {
				allowed++
			}
		}
		for _, c := range m.Disagreements() {
			t.Errorf("%v: connected %v, predicted %v (%s)", c.Probe, c.Connected, c.Predicted.Allowed, c.Error)
		}
		if len(m.Problems) > 0 {
			t.Errorf("the engine refused synced resources: %v", m.Problems)
		}
		t.Logf("%d probes, %d connected, in %v", len(m.Cells), allowed, m.Elapsed.Round(time.Millisecond))
	})

	t.Run("a Neutron rule change reaches the packets within a bounded time", func(t *testing.T) {
		// "web" admits its members on TCP 80, then no longer: web2 to
		// web1 on TCP 80 opens and closes again.
		const ruleID = "0b5a1c2d-0001-4000-8000-0000000000e2"
		dst := ipv4Of(t, web1)
		var toAllow, toDeny, syncs []time.Duration
		for range 5 {
			start := time.Now()
			one.addRule(sgWeb, map[string]any{"id": ruleID, "direction": "ingress", "ethertype": "IPv4",
				"protocol": "tcp", "port_range_min": 80, "port_range_max": 80,
				"remote_ip_prefix": nil, "remote_group_id": sgWeb, "remote_address_group_id": nil})
			res := mustSyncOnce(t, ctx, syncOne)
			if res.Updated != 1 {
				t.Fatalf("adding a rule updated %d resources, want the group's policy only", res.Updated)
			}
			syncs = append(syncs, res.Duration)
			toAllow = append(toAllow, untilVerdict(t, l, web2.Ref, dst, true, start))

			start = time.Now()
			one.deleteRule(sgWeb, ruleID)
			res = mustSyncOnce(t, ctx, syncOne)
			syncs = append(syncs, res.Duration)
			toDeny = append(toDeny, untilVerdict(t, l, web2.Ref, dst, false, start))
		}
		if r := l.Fabric().Probe(ctx, client1.Ref, dst, lab.TCP, 80, 0); !r.Connected {
			t.Errorf("after the changes, allow-tcp-80 no longer admits the client group: %v", r)
		}
		t.Logf("from the Neutron change to the packets: allow in %v (p50) to %v (max), deny in %v (p50) to %v (max); the sync itself took %v (p50) (probes of 50 ms)",
			median(toAllow).Round(time.Millisecond), slices.Max(toAllow).Round(time.Millisecond),
			median(toDeny).Round(time.Millisecond), slices.Max(toDeny).Round(time.Millisecond),
			median(syncs).Round(time.Millisecond))
	})
}
