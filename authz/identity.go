package authz

import (
	"errors"
	"fmt"
	"strings"
)

// ErrBadPrincipal is wrapped by ParseSPIFFE for a principal that is not a
// Kubernetes SPIFFE id.
var ErrBadPrincipal = errors.New("authz: principal is not spiffe://<trust-domain>/ns/<namespace>/sa/<serviceaccount>")

// Identity is a workload identity in the form Istio and SPIRE issue to
// Kubernetes workloads: spiffe://<trust-domain>/ns/<namespace>/sa/<name>.
type Identity struct {
	TrustDomain    string
	Namespace      string
	ServiceAccount string
}

// String returns the SPIFFE id.
func (id Identity) String() string {
	return "spiffe://" + id.TrustDomain + "/ns/" + id.Namespace + "/sa/" + id.ServiceAccount
}

// ParseSPIFFE parses a SPIFFE id of the form
// spiffe://<trust-domain>/ns/<namespace>/sa/<serviceaccount>. Anything
// else (another path, empty segments, a query or fragment) is
// ErrBadPrincipal.
func ParseSPIFFE(s string) (Identity, error) {
	rest, ok := strings.CutPrefix(s, "spiffe://")
	if !ok {
		return Identity{}, fmt.Errorf("%w: %q", ErrBadPrincipal, s)
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 5 || parts[1] != "ns" || parts[3] != "sa" ||
		parts[0] == "" || parts[2] == "" || parts[4] == "" || strings.ContainsAny(rest, "?#") {
		return Identity{}, fmt.Errorf("%w: %q", ErrBadPrincipal, s)
	}
	return Identity{TrustDomain: parts[0], Namespace: parts[2], ServiceAccount: parts[4]}, nil
}

// PrincipalFromXFCC returns the URI of the last element of an
// x-forwarded-client-cert header (the client of the proxy that set it),
// or "" if it has none. Elements are separated by commas and fields by
// semicolons; values may be double-quoted, with \" and \\ escapes.
func PrincipalFromXFCC(header string) string {
	var elems [][]string
	var fields []string
	var cur strings.Builder
	quoted, escaped := false, false
	for i := 0; i < len(header); i++ {
		c := header[i]
		switch {
		case escaped:
			cur.WriteByte(c)
			escaped = false
		case quoted && c == '\\':
			escaped = true
		case c == '"':
			quoted = !quoted
		case !quoted && c == ';':
			fields = append(fields, cur.String())
			cur.Reset()
		case !quoted && c == ',':
			fields = append(fields, cur.String())
			cur.Reset()
			elems = append(elems, fields)
			fields = nil
		default:
			cur.WriteByte(c)
		}
	}
	fields = append(fields, cur.String())
	elems = append(elems, fields)
	uri := ""
	for _, f := range elems[len(elems)-1] {
		k, v, ok := strings.Cut(strings.TrimSpace(f), "=")
		if ok && strings.EqualFold(k, "URI") && uri == "" {
			uri = v
		}
	}
	return uri
}
