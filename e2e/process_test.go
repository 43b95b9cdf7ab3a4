//go:build linux

package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	v3 "github.com/tabby-project/tabby/api/v3"
	"github.com/tabby-project/tabby/conformance"
	"github.com/tabby-project/tabby/internal/testbed"
	"github.com/tabby-project/tabby/lab"
)

// Bounds of the tabby-node process tests.
const (
	// buildBound bounds `go build` of tabby-node: a link from a warm build
	// cache takes seconds, a cold one of the etcd server much longer.
	buildBound = 3 * time.Minute
	// nodeReadyBound bounds a tabby-node's start: connect to etcd over the
	// socket, list, program, write the ready file.
	nodeReadyBound = 20 * time.Second
	// deniedProbeTimeout is how long a probe of the denied pair waits: far
	// above a connection's few milliseconds on the lab's veths, so that a
	// leak cannot hide as a slow connect.
	deniedProbeTimeout = 50 * time.Millisecond
	// processRestarts is how many times the restart step kills and starts
	// tabby-node under the probes.
	processRestarts = 10
)

// buildTabbyNode builds cmd/tabby-node into a temporary directory and
// returns the binary's path. go test puts its own go command first in
// PATH, so the build uses the toolchain and module of the test.
func buildTabbyNode(t *testing.T) string { return buildCommand(t, "tabby-node") }

// buildCommand builds cmd/<name> into a temporary directory, within
// buildBound, and returns the binary's path.
func buildCommand(t *testing.T, name string) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("building %s needs the go command: %v", name, err)
	}
	bin := filepath.Join(t.TempDir(), name)
	ctx, cancel := context.WithTimeout(context.Background(), buildBound)
	defer cancel()
	start := time.Now()
	out, err := exec.CommandContext(ctx, goTool, "build", "-o", bin, "github.com/tabby-project/tabby/cmd/"+name).CombinedOutput()
	if err != nil {
		t.Fatalf("go build %s: %v\n%s", name, err, out)
	}
	t.Logf("built %s in %v", name, time.Since(start).Round(time.Millisecond))
	return bin
}

// lockedBuffer collects a process's output for the test log.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// nodeProcess is a tabby-node process running inside a host's network
// namespace, started by `ip netns exec`, which execs tabby-node in its own
// process: the process is tabby-node itself, and a signal to it reaches
// tabby-node.
type nodeProcess struct {
	host      string
	bin       string
	nsPath    string
	readyFile string
	cmd       *exec.Cmd
	out       *lockedBuffer
	exited    chan struct{} // closed once Wait has returned
	waitErr   error
}

// startNode starts tabby-node for host in the host's namespace, reading
// the lab's etcd through endpoint, and kills it when the test ends if it
// still runs (before the lab's own clean-up, registered earlier, deletes
// the namespaces and stops etcd).
func startNode(t *testing.T, bin string, info lab.HostInfo, endpoint, dir string) *nodeProcess {
	t.Helper()
	p := &nodeProcess{
		host:      info.Name,
		bin:       bin,
		nsPath:    info.NetNSPath,
		readyFile: filepath.Join(dir, info.Name+".ready"),
		out:       &lockedBuffer{},
		exited:    make(chan struct{}),
	}
	// A killed tabby-node leaves its ready file: remove it, so that only
	// the new process's counts.
	if err := os.Remove(p.readyFile); err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	p.cmd = lab.Command(context.Background(), info.NetNS, bin)
	p.cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"NODENAME=" + info.Name,
		"ETCD_ENDPOINTS=" + endpoint,
		"TABBY_READY_FILE=" + p.readyFile,
		"TABBY_FLOW_LOG_FILE=none",
		"FELIX_PROMETHEUSMETRICSENABLED=false",
	}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	// If the test binary dies without its clean-up, tabby-node dies too.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start tabby-node in host %s: %v", info.Name, err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
				t.Errorf("kill tabby-node of host %s: %v", p.host, err)
			}
			<-p.exited
		}
		if t.Failed() {
			t.Logf("output of tabby-node (pid %d) of host %s:\n%s", p.cmd.Process.Pid, p.host, p.out)
		}
	})
	return p
}

// waitReady polls for the ready file until it appears, the process exits
// or nodeReadyBound passes, and checks that the process is the tabby-node
// binary inside the host's network namespace.
func (p *nodeProcess) waitReady(t *testing.T) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := time.NewTimer(nodeReadyBound)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if _, err := os.Stat(p.readyFile); err == nil {
			break
		} else if !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		select {
		case <-p.exited:
			t.Fatalf("tabby-node of host %s exited before it was ready: %v\n%s", p.host, p.waitErr, p.out)
		case <-deadline.C:
			t.Fatalf("tabby-node of host %s not ready after %v:\n%s", p.host, nodeReadyBound, p.out)
		case <-tick.C:
		}
	}
	ready := time.Since(start)
	pid := p.cmd.Process.Pid
	if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); err != nil || exe != p.bin {
		t.Fatalf("process %d of host %s runs %q (%v), want tabby-node %s", pid, p.host, exe, err, p.bin)
	}
	if !sameFile(t, fmt.Sprintf("/proc/%d/ns/net", pid), p.nsPath) {
		t.Fatalf("tabby-node (pid %d) of host %s is not in the host's network namespace %s", pid, p.host, p.nsPath)
	}
	return ready
}

func sameFile(t *testing.T, a, b string) bool {
	t.Helper()
	fa, err := os.Stat(a)
	if err != nil {
		t.Fatal(err)
	}
	fb, err := os.Stat(b)
	if err != nil {
		t.Fatal(err)
	}
	return os.SameFile(fa, fb)
}

// kill9 sends SIGKILL to the process and waits until it is gone, checking
// that it was running and that the signal is what ended it.
func (p *nodeProcess) kill9(t *testing.T) {
	t.Helper()
	select {
	case <-p.exited:
		t.Fatalf("tabby-node of host %s had already exited: %v\n%s", p.host, p.waitErr, p.out)
	default:
	}
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("kill -9 tabby-node of host %s: %v", p.host, err)
	}
	<-p.exited
	ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("tabby-node of host %s ended with %v, not by SIGKILL", p.host, p.waitErr)
	}
}

// probeTally counts the probes of the denied and the allowed pair made
// while tabby-node restarts.
type probeTally struct {
	// denied, leaked and deniedFailed are the probes of the denied pair
	// that were dropped, that connected and that failed otherwise;
	// allowed and allowedFailed those of the allowed pair that connected
	// and that did not.
	denied, leaked, deniedFailed atomic.Int64
	allowed, allowedFailed       atomic.Int64
	firstLeak, firstFailure      atomic.Value
	// slowestAllowed is the longest connect of the allowed pair, in
	// nanoseconds: how far below deniedProbeTimeout a connection is.
	slowestAllowed atomic.Int64
}

func storeMax(v *atomic.Int64, n int64) {
	for {
		cur := v.Load()
		if n <= cur || v.CompareAndSwap(cur, n) {
			return
		}
	}
}

func (c *probeTally) deniedProbes() int64 {
	return c.denied.Load() + c.leaked.Load() + c.deniedFailed.Load()
}

func (c *probeTally) allowedProbes() int64 { return c.allowed.Load() + c.allowedFailed.Load() }

// The agents of the other e2e tests run in this process and die by a
// context cancel. Here each host runs the real tabby-node binary inside its
// network namespace, all reading the lab's etcd through a unix socket, and
// the host enforcing the deny is killed with SIGKILL and restarted under
// continuous probes.
func TestTabbyNodeProcessesInTheHostNamespacesEnforceAndSurviveKillAndRestart(t *testing.T) {
	needLab(t)
	bin := buildTabbyNode(t)
	m := conformance.NewModel()
	base, err := conformance.Resources(m, conformance.Case{})
	if err != nil {
		t.Fatal(err)
	}
	// No in-process agent: the tabby-node processes are the only
	// enforcement, reading etcd through its socket file.
	l := up(t, modelTopology(m), testbed.Options{Initial: base, NoAgents: true, EtcdSocket: true})
	ya := netip.MustParseAddr(m.IP(conformance.Peer{Namespace: "y", Name: "a"}))
	yaInfo, ok := l.Fabric().Workload(lab.WorkloadRef{Namespace: "y", Name: "a"})
	if !ok {
		t.Fatal("the model has no y/a")
	}
	eps := l.EtcdEndpoints()
	if len(eps) != 1 || !strings.HasPrefix(eps[0], "unix:///") {
		t.Fatalf("the lab's etcd serves on %v, want one unix socket", eps)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	nodes := map[string]*nodeProcess{}
	for _, h := range l.Fabric().Hosts() {
		nodes[h.Name] = startNode(t, bin, h, eps[0], dir)
	}
	for _, h := range l.Fabric().Hosts() {
		t.Logf("tabby-node (pid %d) of host %s ready in %v", nodes[h.Name].cmd.Process.Pid, h.Name,
			nodes[h.Name].waitReady(t).Round(time.Millisecond))
	}
	if got := l.Programmed(); len(got) != 0 {
		t.Fatalf("in-process agents run beside the processes: %v", got)
	}
	// The deny is an ingress rule of y/a, so the host of y/a enforces it:
	// that is the process the kill and the restart hit.
	enforcer := yaInfo.Host
	pol := decode(t, denyXAtoYA)

	if !t.Run("a deny policy written to the datastore reaches the packets", func(t *testing.T) {
		untilVerdict(t, l, xa, ya, true, time.Now())
		start := time.Now()
		if _, err := l.Apply(ctx, pol); err != nil {
			t.Fatal(err)
		}
		took := untilVerdict(t, l, xa, ya, false, start)
		if r := l.Fabric().Probe(ctx, xb, ya, lab.TCP, 80, time.Second); !r.Connected {
			t.Fatalf("the policy denies more than x/a: %v", r)
		}
		t.Logf("x/a -> y/a denied %v after the write", took.Round(time.Millisecond))
	}) {
		return
	}

	if !t.Run("after kill -9 of the enforcing tabby-node denied traffic stays denied and allowed traffic stays allowed", func(t *testing.T) {
		nodes[enforcer].kill9(t)
		// New connections only: nothing passes as an established flow.
		if err := l.FlushConntrack(); err != nil {
			t.Fatal(err)
		}
		for range 10 {
			if r := l.Fabric().Probe(ctx, xa, ya, lab.TCP, 80, 100*time.Millisecond); r.Connected || !errors.Is(r.Err, lab.ErrTimeout) {
				t.Fatalf("with tabby-node of %s killed, the denied pair is not dropped: %v", enforcer, r)
			}
			if r := l.Fabric().Probe(ctx, xb, ya, lab.TCP, 80, time.Second); !r.Connected {
				t.Fatalf("with tabby-node of %s killed, allowed traffic does not connect: %v", enforcer, r)
			}
		}
	}) {
		return
	}

	t.Run("restarts of the enforcing tabby-node under continuous probes let no denied probe connect", func(t *testing.T) {
		var tally probeTally
		stop := make(chan struct{})
		ticks := make(chan struct{}, 4096)
		var wg sync.WaitGroup
		// halt stops the probers, at the end or when the step fails.
		halt := sync.OnceFunc(func() {
			close(stop)
			wg.Wait()
		})
		defer halt()
		for range 4 {
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					r := l.Fabric().Probe(ctx, xa, ya, lab.TCP, 80, deniedProbeTimeout)
					switch {
					case r.Connected:
						tally.leaked.Add(1)
						tally.firstLeak.CompareAndSwap(nil, r.String())
					case errors.Is(r.Err, lab.ErrTimeout):
						tally.denied.Add(1)
					default:
						// Not a drop: a rule rejects, or the probe
						// itself failed.
						tally.deniedFailed.Add(1)
						tally.firstFailure.CompareAndSwap(nil, r.String())
					}
					if r := l.Fabric().Probe(ctx, xb, ya, lab.TCP, 80, time.Second); r.Connected {
						tally.allowed.Add(1)
						storeMax(&tally.slowestAllowed, int64(r.Elapsed))
					} else {
						tally.allowedFailed.Add(1)
						tally.firstFailure.CompareAndSwap(nil, r.String())
					}
					select {
					case ticks <- struct{}{}:
					default:
					}
				}
			})
		}
		// rounds waits until the probers have done n more rounds.
		rounds := func(n int) {
			t.Helper()
			for range n {
				select {
				case <-ticks:
				case <-ctx.Done():
					t.Fatal("the probes stalled")
				}
			}
		}
		// The process killed by the previous step is still dead.
		rounds(6)
		type restart struct {
			ready                       time.Duration
			deniedProbes, allowedProbes int64
		}
		var restarts []restart
		for i := range processRestarts {
			if i > 0 {
				nodes[enforcer].kill9(t)
				rounds(6)
			}
			d0, a0 := tally.deniedProbes(), tally.allowedProbes()
			info, _ := l.Fabric().Host(enforcer)
			nodes[enforcer] = startNode(t, bin, info, eps[0], dir)
			ready := nodes[enforcer].waitReady(t)
			restarts = append(restarts, restart{ready, tally.deniedProbes() - d0, tally.allowedProbes() - a0})
			rounds(6)
		}
		halt()
		for i, r := range restarts {
			t.Logf("restart %d of tabby-node of %s: ready in %v, with %d probes of the denied pair and %d of the allowed one completed between its start and its ready file",
				i+1, enforcer, r.ready.Round(time.Millisecond), r.deniedProbes, r.allowedProbes)
		}
		t.Logf("%d kill -9 and restarts: %d probes of the denied pair (%d connected, each given %v), %d of the allowed pair (%d failed, the slowest connected in %v)",
			processRestarts, tally.deniedProbes(), tally.leaked.Load(), deniedProbeTimeout,
			tally.allowedProbes(), tally.allowedFailed.Load(), time.Duration(tally.slowestAllowed.Load()).Round(time.Microsecond))
		if n := tally.leaked.Load(); n > 0 {
			t.Errorf("%d probes of the denied pair connected while tabby-node restarted, first: %v", n, tally.firstLeak.Load())
		}
		if n := tally.deniedFailed.Load() + tally.allowedFailed.Load(); n > 0 {
			t.Errorf("%d probes were not answered as the policy says (denied pair not dropped, or allowed pair not connected) while tabby-node restarted, first: %v",
				n, tally.firstFailure.Load())
		}
		// The restarted process is the one in charge: a change reaches the
		// packets.
		start := time.Now()
		if err := l.Delete(ctx, v3.KeyOf(pol)); err != nil {
			t.Fatal(err)
		}
		t.Logf("after the restarts, deleting the policy opened x/a -> y/a in %v", untilVerdict(t, l, xa, ya, true, start).Round(time.Millisecond))
	})
}
