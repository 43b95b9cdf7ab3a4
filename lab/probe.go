//go:build linux

package lab

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Errors a Result carries for a probe that did not connect. They are wrapped
// together with the underlying error.
var (
	// ErrTimeout: no answer before the probe's timeout, what a dropped packet
	// looks like.
	ErrTimeout = errors.New("lab: no answer before the timeout")
	// ErrRefused: a TCP reset, an SCTP abort or an ICMP port unreachable, what
	// a closed port or a rejecting rule looks like.
	ErrRefused = errors.New("lab: connection refused")
	// ErrUnreachable: an ICMP destination unreachable other than for the port,
	// or no route.
	ErrUnreachable = errors.New("lab: destination unreachable")
	// ErrSCTPUnsupported: the kernel has no SCTP, so the lab neither serves
	// nor probes it.
	ErrSCTPUnsupported = errors.New("lab: SCTP unsupported on this kernel")
	// ErrUnknownSource: the probe names a workload or host the lab does not
	// have.
	ErrUnknownSource = errors.New("lab: unknown probe source")
)

// ProbeSpec is one connection attempt. It starts in the workload From, or,
// when FromHost is set (and From is zero), in that host's own namespace.
// Port is ignored for ICMP, which sends an echo request.
type ProbeSpec struct {
	From     WorkloadRef
	FromHost string
	To       netip.Addr
	Protocol Protocol
	Port     uint16
}

// String returns "ns/name -> ip PROTO/port" (or "host:name -> ...").
func (p ProbeSpec) String() string {
	from := p.From.String()
	if p.FromHost != "" {
		from = "host:" + p.FromHost
	}
	if p.Protocol == ICMP {
		return fmt.Sprintf("%s -> %s ICMP", from, p.To)
	}
	return fmt.Sprintf("%s -> %s %s/%d", from, p.To, p.Protocol, p.Port)
}

// Result is the outcome of a probe. Connected is true when the connection
// was established (TCP, SCTP) or the echo came back (UDP, ICMP); otherwise
// Err says why, wrapping ErrTimeout, ErrRefused, ErrUnreachable,
// ErrSCTPUnsupported or ErrUnknownSource when one applies.
type Result struct {
	ProbeSpec
	Connected bool
	Err       error
	Elapsed   time.Duration
}

// String returns the probe and its outcome.
func (r Result) String() string {
	if r.Connected {
		return fmt.Sprintf("%s: connected in %v", r.ProbeSpec, r.Elapsed)
	}
	return fmt.Sprintf("%s: not connected after %v: %v", r.ProbeSpec, r.Elapsed, r.Err)
}

// Probe sends one probe from a workload to ip on proto/port and waits at
// most timeout (zero means Options.ProbeTimeout) for the answer.
func (f *Fabric) Probe(ctx context.Context, from WorkloadRef, to netip.Addr, proto Protocol, port uint16, timeout time.Duration) Result {
	return f.probe(ctx, ProbeSpec{From: from, To: to, Protocol: proto, Port: port}, timeout)
}

// ProbeFromHost is Probe from a host's own namespace, as traffic of its host
// endpoints.
func (f *Fabric) ProbeFromHost(ctx context.Context, host string, to netip.Addr, proto Protocol, port uint16, timeout time.Duration) Result {
	return f.probe(ctx, ProbeSpec{FromHost: host, To: to, Protocol: proto, Port: port}, timeout)
}

// ProbeAll runs the probes with at most Options.Workers at a time, each
// bounded by Options.ProbeTimeout, and returns their results in the order of
// specs. Probes not started when ctx ends carry ctx's error.
func (f *Fabric) ProbeAll(ctx context.Context, specs []ProbeSpec) []Result {
	results := make([]Result, len(specs))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(f.opts.Workers, len(specs)) {
		wg.Go(func() {
			for i := range next {
				results[i] = f.probe(ctx, specs[i], 0)
			}
		})
	}
	for i := range specs {
		next <- i
	}
	close(next)
	wg.Wait()
	return results
}

// AllPairs returns the probes of a full matrix: from every workload to every
// other one, on every address of the destination the source has a family
// for, on each of the destination's ports, plus one ICMP echo per address.
// A workload probing itself is left out: its packets never leave its
// namespace, so no policy could apply.
func (f *Fabric) AllPairs() []ProbeSpec {
	var specs []ProbeSpec
	for _, src := range f.wls {
		var v4, v6 bool
		for _, a := range src.info.IPs {
			v4, v6 = v4 || a.Is4(), v6 || a.Is6()
		}
		for _, dst := range f.wls {
			if dst == src {
				continue
			}
			for _, ip := range dst.info.IPs {
				if (ip.Is4() && !v4) || (ip.Is6() && !v6) {
					continue
				}
				for _, p := range dst.spec.Ports {
					specs = append(specs, ProbeSpec{From: src.info.Ref, To: ip, Protocol: p.Protocol, Port: p.Port})
				}
				specs = append(specs, ProbeSpec{From: src.info.Ref, To: ip, Protocol: ICMP})
			}
		}
	}
	return specs
}

func (f *Fabric) probe(ctx context.Context, spec ProbeSpec, timeout time.Duration) Result {
	res := Result{ProbeSpec: spec}
	var nsPath string
	switch {
	case spec.FromHost != "" && spec.From != (WorkloadRef{}):
		res.Err = fmt.Errorf("%w: both a workload and a host", ErrUnknownSource)
		return res
	case spec.FromHost != "":
		h, ok := f.hostBy[spec.FromHost]
		if !ok {
			res.Err = fmt.Errorf("%w: host %q", ErrUnknownSource, spec.FromHost)
			return res
		}
		nsPath = h.info.NetNSPath
	default:
		w, ok := f.wlBy[spec.From]
		if !ok {
			res.Err = fmt.Errorf("%w: workload %q", ErrUnknownSource, spec.From)
			return res
		}
		nsPath = w.info.NetNSPath
	}
	if spec.Protocol == SCTP && f.sctpErr != nil {
		res.Err = f.sctpErr
		return res
	}
	if timeout <= 0 {
		timeout = f.opts.ProbeTimeout
	}
	start := time.Now()
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	err := execAt(nsPath, func() error { return dial(pctx, spec) })
	res.Elapsed = time.Since(start)
	res.Connected = err == nil
	if err != nil {
		res.Err = classify(ctx, err)
	}
	return res
}

// dial runs in the source namespace, on a locked thread, for the whole
// probe, so sockets are created there and the thread is released when the
// answer or the deadline comes.
func dial(ctx context.Context, spec ProbeSpec) error {
	if !spec.To.IsValid() {
		return errors.New("no destination address")
	}
	if spec.Protocol != ICMP && spec.Port == 0 {
		return fmt.Errorf("%s probe without a port", spec.Protocol)
	}
	dst := netip.AddrPortFrom(spec.To, spec.Port)
	switch spec.Protocol {
	case TCP:
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", dst.String())
		if err != nil {
			return err
		}
		return c.Close()
	case UDP:
		var d net.Dialer
		c, err := d.DialContext(ctx, "udp", dst.String())
		if err != nil {
			return err
		}
		defer c.Close()
		return echo(ctx, c, 0, 8)
	case ICMP:
		c, err := pingConn(spec.To)
		if err != nil {
			return err
		}
		defer c.Close()
		req, reply := byte(8), byte(0)
		if spec.To.Is6() {
			req, reply = 128, 129
		}
		// The header's id and checksum are filled in by the kernel's ping
		// socket; the sequence number is fixed as one request is sent.
		return echo(ctx, c, req, reply)
	case SCTP:
		return sctpConnect(ctx, dst)
	default:
		return fmt.Errorf("unknown protocol %q", spec.Protocol)
	}
}

// echo sends a random token and waits for it to come back. For ICMP (req
// non-zero) the token follows an echo request header and must come back
// after an echo reply header; for UDP it is the whole datagram.
func echo(ctx context.Context, c net.Conn, req, reply byte) error {
	token := make([]byte, 16)
	if _, err := rand.Read(token); err != nil {
		return err
	}
	hdr := 0
	msg := token
	if req != 0 {
		hdr = 8
		msg = append([]byte{req, 0, 0, 0, 0, 0, 0, 1}, token...)
	}
	if d, ok := ctx.Deadline(); ok {
		if err := c.SetDeadline(d); err != nil {
			return err
		}
	}
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
	defer stop()
	if _, err := c.Write(msg); err != nil {
		return err
	}
	buf := make([]byte, 1500)
	for {
		n, err := c.Read(buf)
		if err != nil {
			return err
		}
		if n >= hdr && (req == 0 || buf[0] == reply) && bytes.Equal(buf[hdr:n], token) {
			return nil
		}
	}
}

// pingConn opens a connected ICMP "ping" socket (SOCK_DGRAM, IPPROTO_ICMP),
// which the namespace's net.ipv4.ping_group_range lets the lab use; the
// kernel gives it its own echo id, so concurrent probes never see each
// other's replies as a raw socket would.
func pingConn(dst netip.Addr) (net.Conn, error) {
	family, sa := sockaddr(netip.AddrPortFrom(dst, 0))
	proto := unix.IPPROTO_ICMP
	if dst.Is6() {
		proto = unix.IPPROTO_ICMPV6
	}
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, proto)
	if err != nil {
		return nil, fmt.Errorf("open ICMP socket: %w", err)
	}
	if err := unix.Connect(fd, sa); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("connect ICMP socket: %w", err)
	}
	file := os.NewFile(uintptr(fd), "icmp")
	defer file.Close()
	return net.FileConn(file)
}

// classify wraps err with the sentinel that says what happened. ctx is the
// caller's: if it ended, the probe was cancelled rather than timed out.
func classify(ctx context.Context, err error) error {
	var ne net.Error
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("probe cancelled: %w", ctx.Err())
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return fmt.Errorf("%w: %w", ErrTimeout, err)
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET):
		return fmt.Errorf("%w: %w", ErrRefused, err)
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return fmt.Errorf("%w: %w", ErrUnreachable, err)
	default:
		return err
	}
}

// listen starts the listeners: in every workload namespace on each of its
// IPs and ports, in every host namespace on its fabric IPs for the ports of
// its host endpoints. Each socket is bound to one address so a UDP echo
// leaves from the address the probe was sent to.
func (f *Fabric) listen() error {
	for _, w := range f.wls {
		if err := f.serve(w.info.NetNSPath, w.info.IPs, w.spec.Ports); err != nil {
			return fmt.Errorf("workload %s: %w", w.info.Ref, err)
		}
	}
	for _, h := range f.hosts {
		// Host endpoints of one host share its addresses, so a port two of
		// them declare is served once.
		type key struct {
			port  uint16
			proto Protocol
		}
		seen := map[key]bool{}
		var ports []Port
		for _, hep := range h.spec.HostEndpoints {
			for _, p := range hep.Ports {
				if k := (key{p.Port, p.Protocol}); !seen[k] {
					seen[k] = true
					ports = append(ports, p)
				}
			}
		}
		if err := f.serve(h.info.NetNSPath, h.info.IPs, ports); err != nil {
			return fmt.Errorf("host %s: %w", h.info.Name, err)
		}
	}
	return nil
}

func (f *Fabric) serve(nsPath string, ips []netip.Addr, ports []Port) error {
	return execAt(nsPath, func() error {
		for _, ip := range ips {
			for _, p := range ports {
				if err := f.serveOne(netip.AddrPortFrom(ip, p.Port), p.Protocol); err != nil {
					return fmt.Errorf("listen on %s/%s: %w", netip.AddrPortFrom(ip, p.Port), p.Protocol, err)
				}
			}
		}
		return nil
	})
}

// serveOne runs in the namespace: the socket is created there, and the
// goroutine serving it may run on any thread.
func (f *Fabric) serveOne(addr netip.AddrPort, proto Protocol) error {
	switch proto {
	case TCP:
		ln, err := net.Listen("tcp", addr.String())
		if err != nil {
			return err
		}
		f.closers = append(f.closers, ln)
		f.serving.Go(func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		})
	case UDP:
		pc, err := net.ListenPacket("udp", addr.String())
		if err != nil {
			return err
		}
		f.closers = append(f.closers, pc)
		f.serving.Go(func() {
			buf := make([]byte, 1500)
			for {
				n, from, err := pc.ReadFrom(buf)
				if errors.Is(err, net.ErrClosed) {
					return
				}
				if err == nil {
					pc.WriteTo(buf[:n], from)
				}
			}
		})
	case SCTP:
		if f.sctpErr != nil {
			return nil
		}
		s, err := listenSCTP(addr)
		if err != nil {
			return err
		}
		f.closers = append(f.closers, s)
		f.serving.Go(s.serve)
	}
	return nil
}
