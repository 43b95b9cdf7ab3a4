//go:build linux

package testbed

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tabby-project/tabby/lab"
)

// listenIn opens a TCP listener in the named network namespace.
func listenIn(ctx context.Context, netns string, addr netip.AddrPort) (net.Listener, error) {
	var ln net.Listener
	err := lab.Exec(ctx, netns, func() error {
		var err error
		ln, err = net.Listen("tcp", addr.String())
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listen on %s in %s: %w", addr, netns, err)
	}
	return ln, nil
}

// dialIn connects from the named network namespace.
func dialIn(ctx context.Context, netns string, addr netip.AddrPort) (net.Conn, error) {
	var c net.Conn
	err := lab.Exec(ctx, netns, func() error {
		var d net.Dialer
		var err error
		c, err = d.DialContext(ctx, "tcp", addr.String())
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("connect to %s from %s: %w", addr, netns, err)
	}
	return c, nil
}

// throughput sends bytes over one TCP connection from src to dst:port
// for at most maxTime or maxBytes and returns the rate at which the
// receiver got them, in bytes per second, from the end of the handshake to
// the end of the stream.
func throughput(ctx context.Context, src, dst lab.WorkloadInfo, port uint16, maxBytes int64, maxTime time.Duration) (float64, error) {
	to := netip.AddrPortFrom(dst.IPs[0], port)
	ln, err := listenIn(ctx, dst.NetNS, to)
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	type received struct {
		n   int64
		end time.Time
		err error
	}
	got := make(chan received, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- received{err: err}
			return
		}
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(maxTime + 10*time.Second))
		n, err := io.Copy(io.Discard, c)
		got <- received{n: n, end: time.Now(), err: err}
	}()
	c, err := dialIn(ctx, src.NetNS, to)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	buf := make([]byte, 256<<10)
	c.SetWriteDeadline(start.Add(maxTime))
	for sent := int64(0); sent < maxBytes; {
		n, err := c.Write(buf)
		sent += int64(n)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			break
		}
		if err != nil {
			c.Close()
			return 0, fmt.Errorf("send: %w", err)
		}
	}
	if err := c.Close(); err != nil {
		return 0, fmt.Errorf("send: %w", err)
	}
	select {
	case r := <-got:
		if r.err != nil {
			return 0, fmt.Errorf("receive: %w", r.err)
		}
		return float64(r.n) / r.end.Sub(start).Seconds(), nil
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// connectionRate opens and closes TCP connections from src to dst:port
// for d, from workers threads of src's namespace, and returns how many it
// completed per second. The client resets each connection as it closes
// it (SO_LINGER 0), so no TIME_WAIT state piles up in its port range.
func connectionRate(ctx context.Context, src lab.WorkloadInfo, dst netip.AddrPort, d time.Duration, workers int) (float64, error) {
	var total atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, workers)
	start := time.Now()
	deadline := start.Add(d)
	for w := range workers {
		wg.Go(func() {
			// Every socket is created on this thread, inside src's namespace.
			errs[w] = lab.Exec(ctx, src.NetNS, func() error {
				dialer := net.Dialer{Timeout: time.Second}
				for time.Now().Before(deadline) {
					c, err := dialer.DialContext(ctx, "tcp", dst.String())
					if err != nil {
						return fmt.Errorf("connect to %s: %w", dst, err)
					}
					c.(*net.TCPConn).SetLinger(0)
					c.Close()
					total.Add(1)
				}
				return nil
			})
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return 0, err
	}
	return float64(total.Load()) / time.Since(start).Seconds(), nil
}
