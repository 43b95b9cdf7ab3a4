package web

import (
	"context"
	"errors"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tabby-project/tabby/analysis"
	v3 "github.com/tabby-project/tabby/api/v3"
	"github.com/tabby-project/tabby/flows"
)

// demoModel loads the demo cluster of examples/demo: namespaces x, y, z
// with pods a, b, c at 10.100.<ns>.<pod>, and its policies.
func demoModel(t testing.TB) *analysis.Model {
	t.Helper()
	names, err := filepath.Glob("../../examples/demo/*.yaml")
	if err != nil || len(names) == 0 {
		t.Fatalf("demo files: %v (%d found)", err, len(names))
	}
	var files []analysis.File
	for _, n := range names {
		data, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, analysis.File{Name: n, Data: data})
	}
	objs, _, err := analysis.Decode(files)
	if err != nil {
		t.Fatalf("decode the demo: %v", err)
	}
	m, err := analysis.New(objs)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// deniedRecord is what the agent logs when z/a's egress to x/a on TCP 80
// is dropped by rule 0 of the demo's GlobalNetworkPolicy z.deny-egress.
func deniedRecord(at time.Time) flows.Record {
	return flows.Record{
		Time: at, Src: netip.MustParseAddr("10.100.3.1"), Dst: netip.MustParseAddr("10.100.1.1"),
		Proto: "TCP", SrcPort: 41000, DstPort: 80, Direction: "egress",
		Tier: "default", Policy: "z.deny-egress", Rule: 0, Match: "rule", Action: "Deny",
	}
}

// loggedRecord is a packet a Log rule of a namespace-y policy logged.
func loggedRecord(at time.Time) flows.Record {
	return flows.Record{
		Time: at, Src: netip.MustParseAddr("10.100.2.2"), Dst: netip.MustParseAddr("10.100.2.1"),
		Proto: "TCP", SrcPort: 42000, DstPort: 81, Direction: "ingress",
		Tier: "default", Policy: "y/log-all", Rule: 0, Match: "rule", Action: "Log",
	}
}

// newTestServer serves the web view of the demo with the two records in
// its aggregator.
func newTestServer(t *testing.T) (*httptest.Server, *analysis.Model, *flows.Aggregator) {
	t.Helper()
	m := demoModel(t)
	cache := NewModelCache(func(context.Context) (*analysis.Model, error) { return m, nil }, time.Minute)
	if _, err := cache.Get(t.Context()); err != nil {
		t.Fatal(err)
	}
	agg := flows.New(flows.Config{Name: cache.Name})
	now := time.Now().UTC()
	agg.Add(deniedRecord(now))
	agg.Add(loggedRecord(now))
	h, err := New(Config{Flows: agg, Model: cache.Get, Ports: []int{80, 81}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, m, agg
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// attrs returns, for every element of body with all the data- attributes
// named, their values in that order.
func attrs(body, tag string, names ...string) [][]string {
	var pat strings.Builder
	pat.WriteString("<" + tag + `\b[^>]*?`)
	for _, n := range names {
		pat.WriteString(`\sdata-` + n + `="([^"]*)"[^>]*?`)
	}
	pat.WriteString(">")
	var out [][]string
	for _, m := range regexp.MustCompile(pat.String()).FindAllStringSubmatch(body, -1) {
		vals := make([]string, len(names))
		for i := range names {
			vals[i] = html.UnescapeString(m[i+1])
		}
		out = append(out, vals)
	}
	return out
}

func TestPagesLoad(t *testing.T) {
	srv, _, _ := newTestServer(t)
	tests := []struct {
		name, path, want string
	}{
		{"the index links every page", "/", `href="/matrix"`},
		{"the endpoints page lists the endpoints", "/endpoints", `data-endpoint="x/a"`},
		{"the matrix page has a grid per service", "/matrix", `data-service="TCP/81"`},
		{"the flow page has the flow table", "/flows", `id="flows"`},
		{"the trace page without a flow shows the form", "/trace", `name="protocol"`},
		{"the flow API answers JSON", "/api/flows", `"policy":"z.deny-egress"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := get(t, srv.URL+tt.path)
			if status != http.StatusOK {
				t.Fatalf("GET %s: status %d", tt.path, status)
			}
			if !strings.Contains(body, tt.want) {
				t.Errorf("GET %s: no %s in\n%s", tt.path, tt.want, body)
			}
		})
	}
}

func TestEndpointsPage(t *testing.T) {
	srv, m, _ := newTestServer(t)
	_, body := get(t, srv.URL+"/endpoints")
	rows := strings.Split(body, "<tr data-endpoint=")
	for _, ep := range m.Endpoints() {
		t.Run("endpoint "+ep.Name+" is listed with the policies that select it", func(t *testing.T) {
			var row string
			for _, r := range rows[1:] {
				if strings.HasPrefix(r, `"`+ep.Name+`"`) {
					row = r
				}
			}
			if row == "" {
				t.Fatalf("no row for %s", ep.Name)
			}
			pol, err := m.For(ep.Name, "")
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, tp := range append(pol.Policy.Ingress, pol.Policy.Egress...) {
				for _, ref := range tp.Policies {
					want = append(want, v3.ResourceID(ref.Key.Kind, ref.Key.Namespace, ref.Key.Name))
				}
			}
			var got []string
			for _, a := range attrs(row, "li", "policy") {
				got = append(got, a[0])
			}
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("policies listed %q, want %q", got, want)
			}
			for _, a := range ep.Addrs {
				if !strings.Contains(row, a.String()) {
					t.Errorf("address %s missing", a)
				}
			}
		})
	}
}

func TestMatrixPage(t *testing.T) {
	srv, m, _ := newTestServer(t)
	tests := []struct {
		name, query string
		ports       []int
		protocols   []string
	}{
		{"the default services are the configured ports on TCP", "", []int{80, 81}, []string{"TCP"}},
		{"ports and protocols come from the query", "?port=81&protocol=UDP,ICMP", []int{81}, []string{"UDP", "ICMP"}},
	}
	for _, tt := range tests {
		t.Run(tt.name+" and every cell is the engine's verdict", func(t *testing.T) {
			want, err := m.Matrix(t.Context(), tt.ports, tt.protocols, nil)
			if err != nil {
				t.Fatal(err)
			}
			status, body := get(t, srv.URL+"/matrix"+tt.query)
			if status != http.StatusOK {
				t.Fatalf("status %d:\n%s", status, body)
			}
			cells := attrs(body, "td", "from", "to", "service", "verdict")
			if len(cells) != len(want.Cells) {
				t.Fatalf("%d cells, want %d", len(cells), len(want.Cells))
			}
			denied := 0
			for _, c := range cells {
				var svc analysis.Service
				for _, s := range want.Services {
					if s.String() == c[2] {
						svc = s
					}
				}
				v, ok := want.Verdict(c[0], c[1], svc)
				if !ok || string(v) != c[3] {
					t.Errorf("%s → %s %s: page says %s, engine %s (known %v)", c[0], c[1], c[2], c[3], v, ok)
				}
				if c[3] == string(v3.Deny) {
					denied++
				}
			}
			if denied == 0 {
				t.Error("no denied cell: the demo's policies deny some flows")
			}
		})
	}
	t.Run("a bad port is a bad request", func(t *testing.T) {
		if status, _ := get(t, srv.URL+"/matrix?port=eighty"); status != http.StatusBadRequest {
			t.Errorf("status %d, want 400", status)
		}
	})
}

func TestFlowsPage(t *testing.T) {
	srv, m, _ := newTestServer(t)
	tests := []struct {
		name, query  string
		wantPolicies []string
	}{
		{"every flow is listed with its policy", "", []string{"z.deny-egress", "y/log-all"}},
		{"denied=true lists the denied flow with its policy", "?denied=true", []string{"z.deny-egress"}},
		{"a namespace lists the flows touching it", "?namespace=y", []string{"y/log-all"}},
		{"a namespace no flow touches lists none", "?namespace=nowhere", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := get(t, srv.URL+"/flows"+tt.query)
			if status != http.StatusOK {
				t.Fatalf("status %d", status)
			}
			var got []string
			for _, a := range attrs(body, "tr", "policy") {
				got = append(got, a[0])
			}
			if strings.Join(sorted(got), ",") != strings.Join(sorted(tt.wantPolicies), ",") {
				t.Errorf("policies %q, want %q", got, tt.wantPolicies)
			}
		})
	}
	t.Run("the denied flow names its endpoints and rule and links to a trace the engine denies", func(t *testing.T) {
		_, body := get(t, srv.URL+"/flows?denied=true")
		for _, want := range []string{"z/a (10.100.3.1)", "x/a (10.100.1.1)", "default/z.deny-egress rule 0", `data-action="Deny"`} {
			if !strings.Contains(body, want) {
				t.Errorf("no %q on the page", want)
			}
		}
		link := regexp.MustCompile(`href="(/trace\?[^"]*)"`).FindStringSubmatch(body)
		if link == nil {
			t.Fatal("no trace link")
		}
		_, trace := get(t, srv.URL+html.UnescapeString(link[1]))
		res, err := m.Trace(analysis.FlowSpec{From: "10.100.3.1", To: "10.100.1.1", Protocol: "TCP", Port: 80})
		if err != nil {
			t.Fatal(err)
		}
		got := attrs(trace, "strong", "verdict")
		if len(got) != 1 || got[0][0] != string(res.Verdict) || res.Verdict != v3.Deny {
			t.Errorf("trace verdict %v, engine %s (want Deny)", got, res.Verdict)
		}
	})
	t.Run("a bad filter is a bad request", func(t *testing.T) {
		if status, _ := get(t, srv.URL+"/flows?since=never"); status != http.StatusBadRequest {
			t.Errorf("status %d, want 400", status)
		}
	})
}

func sorted(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}

func TestTracePage(t *testing.T) {
	srv, m, _ := newTestServer(t)
	tests := []struct {
		name       string
		spec       analysis.FlowSpec
		query      string
		wantStatus int
	}{
		{"a flow the policy allows traces to Allow", analysis.FlowSpec{From: "x/b", To: "x/a", Protocol: "TCP", Port: 80}, "from=x/b&to=x/a&protocol=TCP&port=80", 200},
		{"a flow the policy denies traces to Deny", analysis.FlowSpec{From: "x/c", To: "y/b", Protocol: "TCP", Port: 81}, "from=x/c&to=y/b&protocol=TCP&port=81", 200},
		{"an unknown endpoint is a bad request", analysis.FlowSpec{}, "from=nowhere/x&to=x/a&protocol=TCP&port=80", 400},
		{"a port that is not a number is a bad request", analysis.FlowSpec{}, "from=x/b&to=x/a&protocol=TCP&port=http", 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := get(t, srv.URL+"/trace?"+tt.query)
			if status != tt.wantStatus {
				t.Fatalf("status %d, want %d:\n%s", status, tt.wantStatus, body)
			}
			if tt.wantStatus != 200 {
				if !strings.Contains(body, `id="error"`) {
					t.Error("the page does not show the error")
				}
				return
			}
			res, err := m.Trace(tt.spec)
			if err != nil {
				t.Fatal(err)
			}
			got := attrs(body, "strong", "verdict")
			if len(got) != 1 || got[0][0] != string(res.Verdict) {
				t.Errorf("verdict %v, engine %s", got, res.Verdict)
			}
			var text strings.Builder
			res.Format(&text)
			if !strings.Contains(html.UnescapeString(body), text.String()) {
				t.Errorf("the page does not hold the trace:\n%s", text.String())
			}
		})
	}
}

func TestMatrixLimit(t *testing.T) {
	m := demoModel(t)
	h, err := New(Config{Model: func(context.Context) (*analysis.Model, error) { return m, nil }, MaxMatrixEndpoints: 3})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	status, body := get(t, srv.URL+"/matrix")
	if status != http.StatusRequestEntityTooLarge || !strings.Contains(body, "calicoctl policy matrix") || strings.Contains(body, "data-verdict") {
		t.Errorf("a model over the limit: status %d, want 413 with a pointer to calicoctl and no cells:\n%s", status, body)
	}
}

func TestModelErrors(t *testing.T) {
	h, err := New(Config{Model: func(context.Context) (*analysis.Model, error) { return nil, errors.New("etcd is down") }})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	for _, path := range []string{"/endpoints", "/matrix", "/trace?from=x/a&to=x/b&protocol=TCP&port=80"} {
		t.Run("a datastore error shows on "+path, func(t *testing.T) {
			status, body := get(t, srv.URL+path)
			if status != http.StatusServiceUnavailable || !strings.Contains(body, "etcd is down") {
				t.Errorf("status %d, want 503 with the error:\n%s", status, body)
			}
		})
	}
}

func TestModelCache(t *testing.T) {
	m := demoModel(t)
	loads := 0
	c := NewModelCache(func(context.Context) (*analysis.Model, error) { loads++; return m, nil }, time.Minute)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c.now = func() time.Time { return now }
	if got := c.Name(netip.MustParseAddr("10.100.1.1")); got != "" {
		t.Errorf("Name before any load = %q, want empty", got)
	}
	for range 2 {
		if _, err := c.Get(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if loads != 1 {
		t.Errorf("two Gets within the TTL loaded %d times, want 1", loads)
	}
	now = now.Add(2 * time.Minute)
	if _, err := c.Get(t.Context()); err != nil {
		t.Fatal(err)
	}
	if loads != 2 {
		t.Errorf("a Get after the TTL did not reload (%d loads)", loads)
	}
	if got := c.Name(netip.MustParseAddr("10.100.1.1")); got != "x/a" {
		t.Errorf("Name(10.100.1.1) = %q, want x/a", got)
	}
}
