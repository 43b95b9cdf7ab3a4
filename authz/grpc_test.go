package authz

import (
	"context"
	"testing"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/genproto/googleapis/rpc/code"

	v3 "github.com/tabby-project/tabby/api/v3"
)

// verdict is what a test reads back from a CheckResponse.
type verdict struct {
	Code       code.Code
	HTTPStatus typev3.StatusCode
	Reason     string
}

// check sends req over gRPC and reads the verdict. A denial must carry the
// reason header, the 403 and the status code together.
func check(t *testing.T, c authv3.AuthorizationClient, req *authv3.CheckRequest) verdict {
	t.Helper()
	resp, err := c.Check(context.Background(), req)
	if err != nil {
		t.Fatalf("Check returned an RPC error (Envoy would apply failure_mode_allow): %v", err)
	}
	v := verdict{Code: code.Code(resp.GetStatus().GetCode())}
	if v.Code == code.Code_OK {
		if resp.GetOkResponse() == nil {
			t.Errorf("OK without an ok_response")
		}
		return v
	}
	d := resp.GetDeniedResponse()
	if d == nil {
		t.Fatalf("status %v without a denied_response", v.Code)
	}
	v.HTTPStatus = d.GetStatus().GetCode()
	for _, h := range d.GetHeaders() {
		if h.GetHeader().GetKey() == ReasonHeader {
			v.Reason = h.GetHeader().GetValue()
		}
	}
	if resp.GetStatus().GetMessage() != v.Reason {
		t.Errorf("status message %q differs from the %s header %q", resp.GetStatus().GetMessage(), ReasonHeader, v.Reason)
	}
	return v
}

func allowed() verdict { return verdict{Code: code.Code_OK} }

func denied(reason string) verdict {
	return verdict{Code: code.Code_PERMISSION_DENIED, HTTPStatus: typev3.StatusCode_Forbidden, Reason: reason}
}

const (
	frontend = "spiffe://cluster.local/ns/prod/sa/frontend"
	builder  = "spiffe://cluster.local/ns/dev/sa/builder"
	tester   = "spiffe://cluster.local/ns/dev/sa/tester"
	client   = "10.0.2.7:41234"
	web8080  = "10.0.0.10:8080"

	endOfDefaultTier = "denied by end of tier default: no policy matched"
)

func TestCheckDecidesAsThePolicySays(t *testing.T) {
	store := loadStore(t, "cluster.yaml")
	tests := []struct {
		name      string
		principal string
		src, dst  string
		method    string
		path      string
		want      verdict
	}{
		{"a frontend may GET under the API prefix", frontend, client, web8080, "GET", "/api/items", allowed()},
		{"a frontend may HEAD the exact health path", frontend, client, web8080, "HEAD", "/healthz", allowed()},
		{"the query string is ignored by an exact path", frontend, client, web8080, "GET", "/healthz?full=1", allowed()},
		{"an exact path does not match a longer path", frontend, client, web8080, "GET", "/healthz/extra", denied(endOfDefaultTier)},
		{"a method the rule does not list is denied", frontend, client, web8080, "POST", "/api/items", denied(endOfDefaultTier)},
		{"methods are case sensitive", frontend, client, web8080, "get", "/api/items", denied(endOfDefaultTier)},
		{"paths are case sensitive", frontend, client, web8080, "GET", "/API/items", denied(endOfDefaultTier)},
		{"the prefix needs its trailing slash", frontend, client, web8080, "GET", "/apiary", denied(endOfDefaultTier)},
		{"the rule's destination port is checked", frontend, client, "10.0.0.10:9090", "GET", "/api/items", denied(endOfDefaultTier)},
		{"another service account of the namespace is denied", "spiffe://cluster.local/ns/prod/sa/batch", client, web8080, "GET", "/api/items", denied(endOfDefaultTier)},
		{"a service account selected by label in a selected namespace may deploy", builder, client, web8080, "POST", "/deploy/v2", allowed()},
		{"a service account whose labels the selector rejects may not", tester, client, web8080, "POST", "/deploy/v2", denied(endOfDefaultTier)},
		{"the same account name in a namespace the selector rejects may not", "spiffe://cluster.local/ns/prod/sa/builder", client, web8080, "POST", "/deploy/v2", denied(endOfDefaultTier)},
		{"an IPv6 source is evaluated too", frontend, "[fd00::7]:5555", web8080, "GET", "/api/items", allowed()},
		{"a global deny on the source network wins over the namespaced allow", frontend, "192.168.66.7:5555", web8080, "GET", "/api/items",
			denied("denied by tier default policy quarantine ingress rule 0 (Deny)")},
	}
	dests := []struct {
		name string
		dest Destination
	}{
		{"by endpoint key", Destination{Endpoint: webKey}},
		{"by labels", Destination{Namespace: "prod", Labels: map[string]string{"app": "web"}, ServiceAccount: "web"}},
	}
	for _, d := range dests {
		t.Run("destination "+d.name, func(t *testing.T) {
			c := grpcClient(t, startAuthorizer(t, store, Config{Destination: d.dest}))
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					got := check(t, c, envoyCheck(tt.principal, tt.src, tt.dst, tt.method, tt.path))
					if diff := cmp.Diff(tt.want, got); diff != "" {
						t.Errorf("verdict (-want +got):\n%s", diff)
					}
				})
			}
		})
	}
}

func TestCheckOtherDestinations(t *testing.T) {
	store := loadStore(t, "cluster.yaml")
	tests := []struct {
		name string
		dest Destination
		want verdict
	}{
		{"a workload no policy selects is allowed by its namespace profile",
			Destination{Namespace: "open", Labels: map[string]string{"app": "x"}},
			verdict{Code: code.Code_OK}},
		{"a namespaced policy applies in its own namespace",
			Destination{Namespace: "dev", Labels: map[string]string{"app": "db"}},
			verdict{Code: code.Code_OK}},
		{"a workload with neither policy nor profile is denied by default",
			Destination{Namespace: "nowhere"},
			denied("denied by default: no policy or profile allowed the request")},
		{"a destination endpoint missing from the datastore is denied",
			Destination{Endpoint: v3.Key{Kind: v3.KindWorkloadEndpoint, Namespace: "prod", Name: "gone"}},
			denied("destination WorkloadEndpoint(prod/gone) is not in the datastore")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := startAuthorizer(t, store, Config{Destination: tt.dest})
			got := check(t, grpcClient(t, a), envoyCheck(frontend, client, "10.9.9.9:80", "GET", "/"))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("verdict (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCheckNamesTheDecidingPolicy(t *testing.T) {
	store := loadStore(t, "cluster.yaml")
	tests := []struct {
		name string
		dest Destination
		want string
	}{
		{"an allow by a namespaced policy", Destination{Endpoint: webKey}, "allowed by tier default policy prod/web-api ingress rule 0 (Allow)"},
		{"an allow by another namespace's policy", Destination{Namespace: "dev", Labels: map[string]string{"app": "db"}}, "allowed by tier default policy dev/allow-all ingress rule 0 (Allow)"},
		{"an allow by a profile", Destination{Namespace: "open"}, "allowed by profile kns.open ingress rule 0 (Allow)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := startAuthorizer(t, store, Config{Destination: tt.dest})
			r := Request{Principal: frontend, Method: "GET", Path: "/api/x",
				Destination: mustAddrPort("10.0.0.10:8080")}
			if d := a.Decide(r); !d.Allowed || d.Reason != tt.want {
				t.Errorf("Decide = %v %q, want allowed %q", d.Allowed, d.Reason, tt.want)
			}
		})
	}
}

func TestCheckDeniesMalformedRequests(t *testing.T) {
	store := loadStore(t, "cluster.yaml")
	a := startAuthorizer(t, store, Config{Destination: Destination{Endpoint: webKey}, TrustDomain: "cluster.local"})
	c := grpcClient(t, a)
	noHTTP := envoyCheck(frontend, client, web8080, "GET", "/api/items")
	noHTTP.Attributes.Request = nil
	pipe := envoyCheck(frontend, client, web8080, "GET", "/api/items")
	pipe.Attributes.Source.Address = nil
	pipe.Attributes.Destination.Address = nil
	tests := []struct {
		name string
		req  *authv3.CheckRequest
		want verdict
	}{
		{"a request without attributes is denied", &authv3.CheckRequest{}, denied("malformed request: no attributes")},
		{"a request without HTTP attributes is denied", noHTTP, denied("malformed request: no HTTP request attributes")},
		{"a request without a principal is denied", envoyCheck("", client, web8080, "GET", "/api/items"),
			denied("malformed request: no source principal")},
		{"a principal that is not a namespace and service account is denied",
			envoyCheck("spiffe://cluster.local/sa/frontend", client, web8080, "GET", "/api/items"),
			denied(`malformed request: authz: principal is not spiffe://<trust-domain>/ns/<namespace>/sa/<serviceaccount>: "spiffe://cluster.local/sa/frontend"`)},
		{"a principal of another trust domain is denied",
			envoyCheck("spiffe://evil.example/ns/prod/sa/frontend", client, web8080, "GET", "/api/items"),
			denied(`source principal "spiffe://evil.example/ns/prod/sa/frontend" is not in trust domain "cluster.local"`)},
		{"a relative path is denied", envoyCheck(frontend, client, web8080, "GET", "api/items"),
			denied(`malformed request: HTTP path "api/items" does not start with /`)},
		{"a request without a method is denied", envoyCheck(frontend, client, web8080, "", "/api/items"),
			denied("malformed request: no HTTP method")},
		{"a request without addresses misses port rules and is denied", pipe, denied(endOfDefaultTier)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, check(t, c, tt.req)); diff != "" {
				t.Errorf("verdict (-want +got):\n%s", diff)
			}
		})
	}
}
