package authz

import (
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
)

// DefaultIdentityHeader is where the forward-auth endpoint reads the
// source identity unless told otherwise: Envoy's and Traefik's header for
// the client certificate, whose URI= field is the SPIFFE id.
const DefaultIdentityHeader = "X-Forwarded-Client-Cert"

// ForwardAuthOptions configure the forward-auth endpoint.
type ForwardAuthOptions struct {
	// IdentityHeader names the header holding the source identity
	// (DefaultIdentityHeader if empty). A value in x-forwarded-client-cert
	// form (with a URI= field) gives the URI of its last element; any
	// other value is taken as the SPIFFE id itself. The proxy in front
	// must set or strip this header: a client must not choose it.
	IdentityHeader string
}

// ForwardAuthHandler returns the forward-auth endpoint of nginx's
// auth_request and Traefik's forwardAuth. Every request to it is a check:
//
//	method  X-Original-Method (nginx), else X-Forwarded-Method (Traefik)
//	target  X-Original-URI (nginx), else X-Forwarded-Uri (Traefik)
//	source  X-Real-IP, else the first address of X-Forwarded-For
//	port    X-Forwarded-Port, the destination port (0 if absent)
//	identity the header opts.IdentityHeader names
//
// It answers 200 to allow and 403 to deny, with the reason in the
// x-tabby-reason header and the body. The destination is the
// authorizer's; the handler's own request line is ignored.
func (a *Authorizer) ForwardAuthHandler(opts ForwardAuthOptions) http.Handler {
	if opts.IdentityHeader == "" {
		opts.IdentityHeader = DefaultIdentityHeader
	}
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r, malformed := requestFromHeaders(req, opts.IdentityHeader)
		d := a.check(frontendHTTP, r, malformed)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if d.Allowed {
			w.WriteHeader(http.StatusOK)
			fmt.Fprintln(w, "allowed:", d.Reason)
			return
		}
		w.Header().Set(ReasonHeader, headerSafe(d.Reason))
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprintln(w, "forbidden:", d.Reason)
	})
}

// requestFromHeaders reads the original request a proxy describes.
func requestFromHeaders(req *http.Request, identityHeader string) (Request, string) {
	h := req.Header
	r := Request{
		Method: firstHeader(h, "X-Original-Method", "X-Forwarded-Method"),
		Path:   firstHeader(h, "X-Original-URI", "X-Forwarded-Uri"),
		Source: sourceAddr(h),
	}
	if p, err := strconv.ParseUint(strings.TrimSpace(h.Get("X-Forwarded-Port")), 10, 16); err == nil {
		r.Destination = netip.AddrPortFrom(netip.Addr{}, uint16(p))
	}
	if r.Method == "" {
		return r, "no X-Original-Method or X-Forwarded-Method header"
	}
	if r.Path == "" {
		return r, "no X-Original-URI or X-Forwarded-Uri header"
	}
	id := strings.TrimSpace(h.Get(identityHeader))
	if strings.Contains(strings.ToUpper(id), "URI=") {
		id = PrincipalFromXFCC(id)
	}
	r.Principal = id
	return r, ""
}

func firstHeader(h http.Header, names ...string) string {
	for _, n := range names {
		if v := strings.TrimSpace(h.Get(n)); v != "" {
			return v
		}
	}
	return ""
}

// sourceAddr is X-Real-IP, else the first (client-most) address of
// X-Forwarded-For; zero if neither holds an IP.
func sourceAddr(h http.Header) netip.AddrPort {
	v := strings.TrimSpace(h.Get("X-Real-IP"))
	if v == "" {
		v, _, _ = strings.Cut(h.Get("X-Forwarded-For"), ",")
		v = strings.TrimSpace(v)
	}
	ip, err := netip.ParseAddr(v)
	if err != nil {
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(ip.Unmap(), 0)
}
