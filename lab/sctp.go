//go:build linux

package lab

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The net package has no SCTP, so the lab drives one-to-one style SCTP
// sockets (SOCK_STREAM, IPPROTO_SCTP) through golang.org/x/sys/unix. They are
// non-blocking and wrapped in an *os.File, whose runtime poller provides the
// waiting, the deadlines and the wake-up on Close.

// checkSCTP reports whether the kernel speaks SCTP, trying once to load the
// module with modprobe if it does not. socket() already asks the kernel to
// autoload it; modprobe covers kernels where that is disabled.
func checkSCTP(ctx context.Context, nsPath string) error {
	try := func() error {
		return execAt(nsPath, func() error {
			fd, err := sctpSocket(unix.AF_INET)
			if err != nil {
				return err
			}
			return unix.Close(fd)
		})
	}
	err := try()
	if err == nil || !errors.Is(err, ErrSCTPUnsupported) {
		return err
	}
	modprobe, lerr := exec.LookPath("modprobe")
	if lerr != nil {
		return fmt.Errorf("%w (modprobe not found to load it)", err)
	}
	if out, merr := exec.CommandContext(ctx, modprobe, "sctp").CombinedOutput(); merr != nil {
		return fmt.Errorf("%w (modprobe sctp: %w: %s)", err, merr, out)
	}
	return try()
}

func sctpSocket(family int) (int, error) {
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_SCTP)
	switch {
	case errors.Is(err, unix.EPROTONOSUPPORT), errors.Is(err, unix.ESOCKTNOSUPPORT):
		return -1, fmt.Errorf("%w: socket: %w", ErrSCTPUnsupported, err)
	case err != nil:
		return -1, fmt.Errorf("SCTP socket: %w", err)
	}
	return fd, nil
}

func sockaddr(a netip.AddrPort) (int, unix.Sockaddr) {
	if a.Addr().Is6() {
		return unix.AF_INET6, &unix.SockaddrInet6{Addr: a.Addr().As16(), Port: int(a.Port())}
	}
	return unix.AF_INET, &unix.SockaddrInet4{Addr: a.Addr().As4(), Port: int(a.Port())}
}

// sctpConnect establishes an association with dst and closes it. A lost INIT
// is retransmitted by the kernel until the deadline, which then reports a
// timeout, as for TCP.
func sctpConnect(ctx context.Context, dst netip.AddrPort) error {
	family, sa := sockaddr(dst)
	fd, err := sctpSocket(family)
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(fd), "sctp")
	defer f.Close()
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var cerr error
	if err := rc.Control(func(fd uintptr) { cerr = unix.Connect(int(fd), sa) }); err != nil {
		return err
	}
	if cerr == nil {
		return nil
	}
	if !errors.Is(cerr, unix.EINPROGRESS) {
		return cerr
	}
	if d, ok := ctx.Deadline(); ok {
		if err := f.SetWriteDeadline(d); err != nil {
			return err
		}
	}
	stop := context.AfterFunc(ctx, func() { f.SetWriteDeadline(time.Now()) })
	defer stop()
	var serr error
	werr := rc.Write(func(fd uintptr) bool {
		v, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_ERROR)
		switch {
		case err != nil:
			serr = err
		case v != 0:
			serr = syscall.Errno(v)
		default:
			// Writable with no error is established, unless the poller woke
			// us early: then the peer is not known yet.
			if _, err := unix.Getpeername(int(fd)); errors.Is(err, unix.ENOTCONN) {
				return false
			} else if err != nil {
				serr = err
			}
		}
		return true
	})
	if werr != nil {
		return werr
	}
	return serr
}

// sctpServer accepts associations on one address and holds each open until
// the peer closes it, so a probe sees an established association rather than
// one the server has already shut down.
type sctpServer struct {
	ln *os.File

	mu     sync.Mutex
	closed bool
	conns  map[*os.File]struct{}
	wg     sync.WaitGroup
}

func listenSCTP(addr netip.AddrPort) (*sctpServer, error) {
	family, sa := sockaddr(addr)
	fd, err := sctpSocket(family)
	if err != nil {
		return nil, err
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("SO_REUSEADDR: %w", err)
	}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("bind: %w", err)
	}
	if err := unix.Listen(fd, 128); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("listen: %w", err)
	}
	return &sctpServer{ln: os.NewFile(uintptr(fd), "sctp-listener"), conns: map[*os.File]struct{}{}}, nil
}

// serve accepts until Close.
func (s *sctpServer) serve() {
	defer s.wg.Wait()
	rc, err := s.ln.SyscallConn()
	if err != nil {
		return
	}
	for {
		nfd := -1
		var aerr error
		err := rc.Read(func(fd uintptr) bool {
			nfd, _, aerr = unix.Accept4(int(fd), unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
			return !errors.Is(aerr, unix.EAGAIN)
		})
		if err != nil {
			return
		}
		switch {
		case errors.Is(aerr, unix.ECONNABORTED), errors.Is(aerr, unix.EINTR), errors.Is(aerr, unix.EPROTO):
			continue
		case aerr != nil:
			return
		}
		c := os.NewFile(uintptr(nfd), "sctp-association")
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.hold(c)
	}
}

// hold reads until the peer closes the association, then closes it.
func (s *sctpServer) hold(c *os.File) {
	defer s.wg.Done()
	buf := make([]byte, 512)
	for {
		if _, err := c.Read(buf); err != nil {
			break
		}
	}
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	c.Close()
}

// Close stops accepting and closes every open association; serve returns
// once they are all released.
func (s *sctpServer) Close() error {
	s.mu.Lock()
	s.closed = true
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	return s.ln.Close()
}
