package authz

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
)

// ReasonHeader is the response header that carries Decision.Reason on a
// denial, to the client through Envoy and in the forward-auth answer.
const ReasonHeader = "x-tabby-reason"

// RegisterGRPC registers a's envoy.service.auth.v3.Authorization service
// on s.
func (a *Authorizer) RegisterGRPC(s *grpc.Server) {
	authv3.RegisterAuthorizationServer(s, &grpcServer{a: a})
}

// grpcServer answers Envoy's ext_authz Check.
type grpcServer struct {
	authv3.UnimplementedAuthorizationServer
	a *Authorizer
}

// Check decides one request. It never returns an error: a request it
// cannot read is denied with a reason, so Envoy never falls back to its
// failure_mode_allow.
func (g *grpcServer) Check(_ context.Context, req *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	r, malformed := requestFromCheck(req)
	d := g.a.check(frontendGRPC, r, malformed)
	if d.Allowed {
		return &authv3.CheckResponse{
			Status:       &status.Status{Code: int32(code.Code_OK)},
			HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: &authv3.OkHttpResponse{}},
		}, nil
	}
	return &authv3.CheckResponse{
		Status: &status.Status{Code: int32(code.Code_PERMISSION_DENIED), Message: d.Reason},
		HttpResponse: &authv3.CheckResponse_DeniedResponse{DeniedResponse: &authv3.DeniedHttpResponse{
			Status: &typev3.HttpStatus{Code: typev3.StatusCode_Forbidden},
			Headers: []*corev3.HeaderValueOption{{
				Header:       &corev3.HeaderValue{Key: ReasonHeader, Value: headerSafe(d.Reason)},
				AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
			}},
			Body: "forbidden: " + d.Reason + "\n",
		}},
	}, nil
}

// requestFromCheck reads the request Envoy describes; malformed says what
// is missing when it cannot.
func requestFromCheck(req *authv3.CheckRequest) (Request, string) {
	attrs := req.GetAttributes()
	if attrs == nil {
		return Request{}, "no attributes"
	}
	r := Request{
		Principal:   attrs.GetSource().GetPrincipal(),
		Source:      socketAddr(attrs.GetSource().GetAddress()),
		Destination: socketAddr(attrs.GetDestination().GetAddress()),
	}
	http := attrs.GetRequest().GetHttp()
	if http == nil {
		return r, "no HTTP request attributes"
	}
	r.Method, r.Path = http.GetMethod(), http.GetPath()
	if r.Path == "" {
		// Envoy leaves path empty and fills header :path in some modes.
		r.Path = http.GetHeaders()[":path"]
	}
	if r.Method == "" {
		r.Method = http.GetHeaders()[":method"]
	}
	return r, ""
}

// socketAddr returns the IP and port of a socket address, zero for a pipe
// or an address that is not an IP.
func socketAddr(a *corev3.Address) netip.AddrPort {
	sa := a.GetSocketAddress()
	if sa == nil {
		return netip.AddrPort{}
	}
	ip, err := netip.ParseAddr(sa.GetAddress())
	if err != nil {
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(ip.Unmap(), uint16(sa.GetPortValue()))
}

// headerSafe drops the bytes an HTTP header value cannot hold.
func headerSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

// Listen opens the listener of an address as tabby-authz takes them:
// "unix:<path>" or a path containing a slash is a unix socket (a stale
// socket file is removed first), anything else host:port TCP.
func Listen(addr string) (net.Listener, error) {
	path, isUnix := strings.CutPrefix(addr, "unix:")
	if !isUnix && strings.Contains(addr, "/") {
		path, isUnix = addr, true
	}
	if !isUnix {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("listen on %s: %w", addr, err)
		}
		return l, nil
	}
	path = strings.TrimPrefix(path, "//")
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&os.ModeSocket != 0 {
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("remove stale socket %s: %w", path, err)
		}
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("listen on unix socket %s: %w", path, err)
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("listen on unix socket %s: %w", path, err)
	}
	return l, nil
}
