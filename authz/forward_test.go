package authz

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/prometheus/client_golang/prometheus"
)

// forwardAnswer is what a proxy reads from the forward-auth endpoint.
type forwardAnswer struct {
	Status int
	Reason string
}

func forwardCheck(t *testing.T, url string, headers map[string]string) forwardAnswer {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		t.Fatal(err)
	}
	return forwardAnswer{Status: resp.StatusCode, Reason: resp.Header.Get(ReasonHeader)}
}

func TestForwardAuthDecidesAsThePolicySays(t *testing.T) {
	store := loadStore(t, "cluster.yaml")
	a := startAuthorizer(t, store, Config{Destination: Destination{Endpoint: webKey}})
	xfcc := httptest.NewServer(a.ForwardAuthHandler(ForwardAuthOptions{}))
	t.Cleanup(xfcc.Close)
	plain := httptest.NewServer(a.ForwardAuthHandler(ForwardAuthOptions{IdentityHeader: "X-Spiffe-Id"}))
	t.Cleanup(plain.Close)
	ok := forwardAnswer{Status: 200}
	forbidden := func(reason string) forwardAnswer { return forwardAnswer{Status: 403, Reason: reason} }

	tests := []struct {
		name    string
		url     string
		headers map[string]string
		want    forwardAnswer
	}{
		{"nginx headers with a plain identity header are allowed as policy says", plain.URL, map[string]string{
			"X-Original-Method": "GET", "X-Original-URI": "/api/items?page=2", "X-Spiffe-Id": frontend,
			"X-Real-IP": "10.0.2.7", "X-Forwarded-Port": "8080"}, ok},
		{"Traefik headers with the client certificate header are allowed as policy says", xfcc.URL, map[string]string{
			"X-Forwarded-Method": "GET", "X-Forwarded-Uri": "/api/items", "X-Forwarded-Port": "8080",
			"X-Forwarded-Client-Cert": `By=spiffe://cluster.local/ns/prod/sa/web;Hash=abc;URI=` + frontend,
			"X-Forwarded-For":         "10.0.2.7, 10.0.0.1"}, ok},
		{"the last element of a forwarded certificate chain is the client", xfcc.URL, map[string]string{
			"X-Forwarded-Method": "POST", "X-Forwarded-Uri": "/deploy/v1",
			"X-Forwarded-Client-Cert": `URI=` + frontend + `,By=x;Subject="CN=a,O=b";URI=` + builder}, ok},
		{"a method the policy does not allow is forbidden with the reason", plain.URL, map[string]string{
			"X-Original-Method": "DELETE", "X-Original-URI": "/api/items", "X-Spiffe-Id": frontend,
			"X-Forwarded-Port": "8080"}, forbidden(endOfDefaultTier)},
		{"the source address from X-Real-IP is checked against nets", plain.URL, map[string]string{
			"X-Original-Method": "GET", "X-Original-URI": "/api/items", "X-Spiffe-Id": frontend,
			"X-Real-IP": "192.168.66.9", "X-Forwarded-Port": "8080"},
			forbidden("denied by tier default policy quarantine ingress rule 0 (Deny)")},
		{"the first X-Forwarded-For address is the source", xfcc.URL, map[string]string{
			"X-Forwarded-Method": "GET", "X-Forwarded-Uri": "/api/items", "X-Forwarded-Port": "8080",
			"X-Forwarded-Client-Cert": "URI=" + frontend, "X-Forwarded-For": "192.168.66.9, 10.0.2.7"},
			forbidden("denied by tier default policy quarantine ingress rule 0 (Deny)")},
		{"no identity header is forbidden", plain.URL, map[string]string{
			"X-Original-Method": "GET", "X-Original-URI": "/api/items"},
			forbidden("malformed request: no source principal")},
		{"no method header is forbidden", plain.URL, map[string]string{
			"X-Original-URI": "/api/items", "X-Spiffe-Id": frontend},
			forbidden("malformed request: no X-Original-Method or X-Forwarded-Method header")},
		{"no URI header is forbidden", plain.URL, map[string]string{
			"X-Original-Method": "GET", "X-Spiffe-Id": frontend},
			forbidden("malformed request: no X-Original-URI or X-Forwarded-Uri header")},
		{"an absolute URI instead of a path is forbidden", plain.URL, map[string]string{
			"X-Original-Method": "GET", "X-Original-URI": "http://web/api/items", "X-Spiffe-Id": frontend},
			forbidden(`malformed request: HTTP path "http://web/api/items" does not start with /`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, forwardCheck(t, tt.url, tt.headers)); diff != "" {
				t.Errorf("answer (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPrincipalFromXFCC(t *testing.T) {
	tests := []struct {
		name, header, want string
	}{
		{"a single element gives its URI", "Hash=1;URI=spiffe://td/ns/a/sa/b", "spiffe://td/ns/a/sa/b"},
		{"the last element wins", "URI=spiffe://td/ns/a/sa/b,URI=spiffe://td/ns/c/sa/d", "spiffe://td/ns/c/sa/d"},
		{"quoted values may hold commas and semicolons", `Subject="CN=x,O=y;z";URI=spiffe://td/ns/a/sa/b`, "spiffe://td/ns/a/sa/b"},
		{"an element without URI gives nothing", "URI=spiffe://td/ns/a/sa/b,Hash=2", ""},
		{"field names are case insensitive", "uri=spiffe://td/ns/a/sa/b", "spiffe://td/ns/a/sa/b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := PrincipalFromXFCC(tt.header); got != tt.want {
				t.Errorf("PrincipalFromXFCC(%q) = %q, want %q", tt.header, got, tt.want)
			}
		})
	}
}

func TestParseSPIFFE(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Identity
		wantErr bool
	}{
		{"a Kubernetes SPIFFE id parses", "spiffe://cluster.local/ns/prod/sa/web", Identity{"cluster.local", "prod", "web"}, false},
		{"a path other than ns and sa is refused", "spiffe://cluster.local/sa/web/ns/prod", Identity{}, true},
		{"an empty namespace is refused", "spiffe://cluster.local/ns//sa/web", Identity{}, true},
		{"extra segments are refused", "spiffe://cluster.local/ns/prod/sa/web/x", Identity{}, true},
		{"another scheme is refused", "https://cluster.local/ns/prod/sa/web", Identity{}, true},
		{"a query is refused", "spiffe://cluster.local/ns/prod/sa/web?x", Identity{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseSPIFFE(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseSPIFFE(%q) error %v, want error %v", tt.in, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("ParseSPIFFE(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestMetricsAndFlowLogsCountEveryCheck(t *testing.T) {
	store := loadStore(t, "cluster.yaml")
	reg := prometheus.NewRegistry()
	var flow syncBuffer
	a := startAuthorizer(t, store, Config{Destination: Destination{Endpoint: webKey}, Registerer: reg, FlowLog: &flow})
	c := grpcClient(t, a)
	srv := httptest.NewServer(a.ForwardAuthHandler(ForwardAuthOptions{IdentityHeader: "X-Spiffe-Id"}))
	t.Cleanup(srv.Close)

	check(t, c, envoyCheck(frontend, client, web8080, "GET", "/api/items"))
	check(t, c, envoyCheck(frontend, client, web8080, "POST", "/api/items"))
	check(t, c, envoyCheck("", client, web8080, "GET", "/"))
	forwardCheck(t, srv.URL, map[string]string{"X-Original-Method": "GET", "X-Original-URI": "/api/a", "X-Spiffe-Id": frontend, "X-Forwarded-Port": "8080"})
	forwardCheck(t, srv.URL, map[string]string{"X-Original-Method": "GET", "X-Original-URI": "/api/a", "X-Spiffe-Id": frontend, "X-Real-IP": "192.168.66.1"})

	counts := []struct {
		name   string
		metric prometheus.Metric
		want   float64
	}{
		{"gRPC checks", a.metrics.checks.WithLabelValues(frontendGRPC), 3},
		{"gRPC allows", a.metrics.allowed.WithLabelValues(frontendGRPC), 1},
		{"gRPC denies at the end of a tier", a.metrics.denied.WithLabelValues(frontendGRPC, "end-of-tier"), 1},
		{"gRPC denies of malformed requests", a.metrics.denied.WithLabelValues(frontendGRPC, causeMalformed), 1},
		{"gRPC latency observations", a.metrics.latency.WithLabelValues(frontendGRPC).(prometheus.Metric), 3},
		{"forward-auth checks", a.metrics.checks.WithLabelValues(frontendHTTP), 2},
		{"forward-auth allows", a.metrics.allowed.WithLabelValues(frontendHTTP), 1},
		{"forward-auth denies by a rule", a.metrics.denied.WithLabelValues(frontendHTTP, "rule"), 1},
		{"datastore connected", a.metrics.connected, 1},
	}
	for _, tt := range counts {
		t.Run(tt.name+" are counted", func(t *testing.T) {
			if got := metricValue(t, tt.metric); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range families {
		names = append(names, f.GetName())
	}
	wantNames := []string{"tabby_authz_allowed_total", "tabby_authz_check_duration_seconds", "tabby_authz_checks_total",
		"tabby_authz_datastore_connected", "tabby_authz_denied_total", "tabby_authz_resyncs_total"}
	if diff := cmp.Diff(wantNames, names); diff != "" {
		t.Errorf("registered families (-want +got):\n%s", diff)
	}

	var got []FlowLog
	dec := json.NewDecoder(strings.NewReader(flow.String()))
	for dec.More() {
		var fl FlowLog
		if err := dec.Decode(&fl); err != nil {
			t.Fatalf("flow log %q: %v", flow.String(), err)
		}
		got = append(got, fl)
	}
	want := []FlowLog{
		{Frontend: "grpc", Principal: frontend, SourceAddr: client, DestAddr: web8080, Destination: webKey.String(),
			Method: "POST", Path: "/api/items", Action: "deny", Cause: "end-of-tier", Reason: endOfDefaultTier,
			Tier: "default", Rule: -1},
		{Frontend: "grpc", SourceAddr: client, DestAddr: web8080, Destination: webKey.String(),
			Method: "GET", Path: "/", Action: "deny", Cause: "malformed", Reason: "malformed request: no source principal", Rule: -1},
		{Frontend: "http", Principal: frontend, SourceAddr: "192.168.66.1", Destination: webKey.String(),
			Method: "GET", Path: "/api/a", Action: "deny", Cause: "rule",
			Reason: "denied by tier default policy quarantine ingress rule 0 (Deny)",
			Tier:   "default", Policy: "quarantine", Kind: "GlobalNetworkPolicy", Rule: 0},
	}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(FlowLog{}, "Time")); diff != "" {
		t.Errorf("flow logs (-want +got):\n%s", diff)
	}
	for _, fl := range got {
		if fl.Time.IsZero() {
			t.Errorf("flow log without a time: %+v", fl)
		}
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent writers and readers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
