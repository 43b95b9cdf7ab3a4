//go:build linux

package testbed

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/tabby-project/tabby/lab"
)

// ErrBadProbe is wrapped by the errors of Resolve for a probe request that
// names no workload, address or protocol of the lab.
var ErrBadProbe = errors.New("testbed: bad probe")

// ProbeRequest asks for probes from a workload to a workload (every
// address of it the source has a family for) or to an address.
type ProbeRequest struct {
	// From is "namespace/name"; To is "namespace/name" or an IP address.
	From, To string
	// Protocol is TCP, UDP, SCTP or ICMP (any case); Port is ignored for
	// ICMP.
	Protocol string
	Port     uint16
}

// Resolve turns the request into probes of the lab.
func (l *Lab) Resolve(req ProbeRequest) ([]lab.ProbeSpec, error) {
	from, err := l.workloadNamed(req.From)
	if err != nil {
		return nil, err
	}
	proto := lab.Protocol(strings.ToUpper(req.Protocol))
	switch proto {
	case lab.TCP, lab.UDP, lab.SCTP:
		if req.Port == 0 {
			return nil, fmt.Errorf("%w: %s needs a port", ErrBadProbe, proto)
		}
	case lab.ICMP:
		req.Port = 0
	default:
		return nil, fmt.Errorf("%w: protocol %q: want TCP, UDP, SCTP or ICMP", ErrBadProbe, req.Protocol)
	}
	var targets []netip.Addr
	if a, err := netip.ParseAddr(req.To); err == nil {
		targets = []netip.Addr{a}
	} else {
		to, err := l.workloadNamed(req.To)
		if err != nil {
			return nil, err
		}
		for _, a := range to.IPs {
			if _, ok := firstAddr(from.IPs, a); ok {
				targets = append(targets, a)
			}
		}
		if len(targets) == 0 {
			return nil, fmt.Errorf("%w: %s and %s share no address family", ErrBadProbe, from.Ref, to.Ref)
		}
	}
	specs := make([]lab.ProbeSpec, len(targets))
	for i, a := range targets {
		specs[i] = lab.ProbeSpec{From: from.Ref, To: a, Protocol: proto, Port: req.Port}
	}
	return specs, nil
}

func (l *Lab) workloadNamed(s string) (lab.WorkloadInfo, error) {
	ns, name, ok := strings.Cut(s, "/")
	if !ok {
		return lab.WorkloadInfo{}, fmt.Errorf("%w: %q: want namespace/name", ErrBadProbe, s)
	}
	w, ok := l.fabric.Workload(lab.WorkloadRef{Namespace: ns, Name: name})
	if !ok {
		return lab.WorkloadInfo{}, fmt.Errorf("%w: the lab has no workload %q", ErrBadProbe, s)
	}
	return w, nil
}

// Serve answers, on the unix socket at path, the requests of a Client:
// matrices and probes of the lab, until ctx ends. Only the socket's owner
// (root) may connect. A stale socket file is replaced.
func Serve(ctx context.Context, l *Lab, path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("testbed: serve: %w", err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return fmt.Errorf("testbed: serve: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return fmt.Errorf("testbed: serve: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /matrix", func(w http.ResponseWriter, r *http.Request) {
		m, err := l.Matrix(r.Context(), nil, nil)
		reply(w, m, err)
	})
	mux.HandleFunc("POST /probe", func(w http.ResponseWriter, r *http.Request) {
		var req ProbeRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			reply(w, nil, fmt.Errorf("%w: %w", ErrBadProbe, err))
			return
		}
		specs, err := l.Resolve(req)
		if err != nil {
			reply(w, nil, err)
			return
		}
		m, err := l.Matrix(r.Context(), specs, nil)
		reply(w, m, err)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	// When ctx ends, requests in progress finish (a matrix takes seconds)
	// before Serve returns, so that the caller can tear the lab down.
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			srv.Close()
		}
	}()
	err = srv.Serve(ln)
	if !errors.Is(err, http.ErrServerClosed) {
		srv.Close()
		return fmt.Errorf("testbed: serve: %w", err)
	}
	<-stopped
	return nil
}

// shutdownTimeout bounds how long Serve waits for requests in progress
// once its context ends.
const shutdownTimeout = 30 * time.Second

// answer is the body of every reply: the matrix, or the error.
type answer struct {
	Matrix *Matrix `json:"matrix,omitempty"`
	Error  string  `json:"error,omitempty"`
}

func reply(w http.ResponseWriter, m *Matrix, err error) {
	a := answer{Matrix: m}
	w.Header().Set("Content-Type", "application/json")
	if err != nil {
		a.Error = err.Error()
		w.WriteHeader(http.StatusUnprocessableEntity)
	}
	json.NewEncoder(w).Encode(a)
}

// Client asks the process serving a lab (Serve) for matrices and probes.
type Client struct {
	http *http.Client
}

// NewClient returns a client of the lab served at the socket path.
func NewClient(path string) *Client {
	return &Client{http: &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
	}}}
}

// Matrix asks for the lab's full matrix (Lab.Matrix with every pair).
func (c *Client) Matrix(ctx context.Context) (*Matrix, error) {
	return c.call(ctx, "/matrix", nil)
}

// Probe asks for the probes of req (Lab.Resolve, then Lab.Matrix).
func (c *Client) Probe(ctx context.Context, req ProbeRequest) (*Matrix, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	return c.call(ctx, "/probe", body)
}

func (c *Client) call(ctx context.Context, path string, body []byte) (*Matrix, error) {
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://lab"+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(r)
	if err != nil {
		return nil, fmt.Errorf("testbed: reach the lab: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("testbed: read the lab's answer: %w", err)
	}
	var a answer
	if err := json.Unmarshal(data, &a); err != nil {
		return nil, fmt.Errorf("testbed: the lab's answer (HTTP %d): %w", resp.StatusCode, err)
	}
	if a.Error != "" {
		return nil, errors.New(a.Error)
	}
	if a.Matrix == nil {
		return nil, fmt.Errorf("testbed: the lab answered HTTP %d without a matrix", resp.StatusCode)
	}
	return a.Matrix, nil
}
