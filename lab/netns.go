//go:build linux

package lab

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// ErrPrefix is returned by Cleanup and ListNetNS for a prefix that does not
// begin with NamePrefix, so that they never touch namespaces the lab did not
// make.
var ErrPrefix = errors.New("lab: namespace prefix must begin with " + NamePrefix)

// netnsDir is where iproute2 and the netns package bind-mount named network
// namespaces, so `ip netns` sees the lab's.
const netnsDir = "/run/netns"

// NetNSPath returns the path of the named network namespace, for callers
// that open it themselves (for example nftables.WithNetNSFd).
func NetNSPath(name string) string { return filepath.Join(netnsDir, name) }

// Exec runs fn on a locked OS thread that has entered the named network
// namespace, then moves the thread back. Sockets fn creates stay in that
// namespace after Exec returns. fn must not start goroutines that expect to
// be in the namespace: only the calling thread is moved. If the thread cannot
// be moved back, it is discarded rather than returned to the Go scheduler.
// ctx is checked before entering; fn gets its own deadline through its
// closure.
func Exec(ctx context.Context, name string, fn func() error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("enter netns %s: %w", name, err)
	}
	return execAt(NetNSPath(name), fn)
}

func execAt(path string, fn func() error) error {
	target, err := netns.GetFromPath(path)
	if err != nil {
		return fmt.Errorf("open netns %s: %w", path, err)
	}
	defer target.Close()
	return onLockedThread(func() error {
		if err := netns.Set(target); err != nil {
			return fmt.Errorf("enter netns %s: %w", path, err)
		}
		return fn()
	})
}

// onLockedThread runs fn on a fresh goroutine locked to its thread and puts
// the thread back into its original network namespace afterwards. When that
// fails the goroutine exits still locked, which makes the runtime terminate
// the thread instead of reusing it in the wrong namespace.
func onLockedThread(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("get current netns: %w", err)
			return
		}
		defer orig.Close()
		ferr := fn()
		if err := netns.Set(orig); err != nil {
			errc <- errors.Join(ferr, fmt.Errorf("restore netns: %w", err))
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// Command returns a command that runs program in the named network namespace
// through `ip netns exec`, which also gives it a /sys of that namespace.
func Command(ctx context.Context, name, program string, args ...string) *exec.Cmd {
	ip, err := exec.LookPath("ip")
	if err != nil {
		ip = "/usr/sbin/ip"
	}
	return exec.CommandContext(ctx, ip, append([]string{"netns", "exec", name, program}, args...)...)
}

// createNetNS makes a named network namespace the way `ip netns add` does:
// a new namespace bind-mounted on /run/netns/<name>.
func createNetNS(name string) error {
	err := onLockedThread(func() error {
		h, err := netns.NewNamed(name)
		if err != nil {
			return err
		}
		return h.Close()
	})
	if err != nil {
		return fmt.Errorf("create netns %s: %w", name, err)
	}
	return nil
}

// deleteNetNS unmounts and removes a named namespace. The kernel frees it,
// with every interface in it, once no socket or open handle refers to it. A
// file that is not a mount point (a run that crashed between creating and
// mounting) is removed all the same; a missing one is not an error.
func deleteNetNS(name string) error {
	path := NetNSPath(name)
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("delete netns %s: unmount: %w", name, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete netns %s: %w", name, err)
	}
	return nil
}

// ListNetNS returns the names of the named network namespaces that begin
// with prefix, sorted. The prefix must begin with NamePrefix.
func ListNetNS(prefix string) ([]string, error) {
	if !strings.HasPrefix(prefix, NamePrefix) {
		return nil, fmt.Errorf("%w: %q", ErrPrefix, prefix)
	}
	entries, err := os.ReadDir(netnsDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list netns: %w", err)
	}
	var names []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix) {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names, nil
}

// Cleanup removes every named network namespace beginning with prefix, and
// with them every interface, route and listener socket the lab made there:
// the leftovers of a run that crashed before Down. Use PrefixFor(runID) for
// one run; NamePrefix alone also removes labs other processes are running.
// The prefix must begin with NamePrefix.
func Cleanup(prefix string) error {
	names, err := ListNetNS(prefix)
	if err != nil {
		return err
	}
	var errs []error
	for _, n := range names {
		errs = append(errs, deleteNetNS(n))
	}
	return errors.Join(errs...)
}

// PrefixFor returns the prefix of every namespace of the run runID, for
// Cleanup and ListNetNS.
func PrefixFor(runID string) string { return NamePrefix + runID + "-" }
