//go:build linux

package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/tabby-project/tabby/api/v3"
	"github.com/tabby-project/tabby/datastore/etcd"
	"github.com/tabby-project/tabby/internal/testbed"
	"github.com/tabby-project/tabby/lab"
)

// mainEnv makes the test binary run tabby-lab's main with the arguments
// of mainArgsEnv, for the tests that need a process of its own to kill.
const (
	mainEnv     = "TABBY_LAB_TEST_MAIN"
	mainArgsEnv = "TABBY_LAB_TEST_ARGS"
)

func TestMain(m *testing.M) {
	if os.Getenv(mainEnv) == "1" {
		os.Args = append([]string{"tabby-lab"}, strings.Fields(os.Getenv(mainArgsEnv))...)
		main()
		return
	}
	os.Exit(m.Run())
}

// syncBuffer is a bytes.Buffer safe to write from a command's goroutine
// while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// needRoot skips a test that builds a lab unless it runs as root; under
// CI=true it fails instead.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("the lab needs root (CI=true: the test must run)")
	}
	t.Skip("the lab needs root")
}

func newRunID(t *testing.T) string {
	b := make([]byte, 3)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	id := "c" + hex.EncodeToString(b)
	t.Cleanup(func() {
		if err := lab.Cleanup(lab.PrefixFor(id)); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	return id
}

// command runs one tabby-lab command line in-process.
func command(ctx context.Context, e env, args ...string) (code int, stdout, stderr string) {
	var out, errOut syncBuffer
	e.stdout, e.stderr = &out, &errOut
	code = run(ctx, args, e)
	return code, out.String(), errOut.String()
}

func testEnv(t *testing.T) env {
	return env{stdout: io.Discard, stderr: io.Discard, getenv: func(string) string { return "" }, runDir: t.TempDir()}
}

func TestHelpTeachesEveryCommand(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"the root lists the commands and an example", []string{"--help"}, []string{"up", "probe", "matrix", "down", "demo", "bench", "Example", "ETCD_ENDPOINTS"}},
		{"up describes the topology file", []string{"up", "--help"}, []string{"hosts:", "workloads:", "hostEndpoints:", "Ctrl-C", "tabby-lab down"}},
		{"probe gives its exit status", []string{"probe", "--help"}, []string{"--from", "--to", "ICMP", "Exit status"}},
		{"matrix explains the grid", []string{"matrix", "--help"}, []string{"\"!\"", "engine", "Exit status"}},
		{"down says what it removes", []string{"down", "--help"}, []string{"namespaces", "SIGTERM", "crashed"}},
		{"demo lists its steps", []string{"demo", "--help"}, []string{"examples/seeds", "calicoctl apply", "seeds-change.yaml"}},
		{"bench names its figures", []string{"bench", "--help"}, []string{"throughput", "connection rate", "update latency", "ruleset size", "0.9"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, _ := command(context.Background(), testEnv(t), tt.args...)
			if code != 0 {
				t.Fatalf("exit %d", code)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("help lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

func TestCommandsRefuse(t *testing.T) {
	e := testEnv(t)
	self, err := testbed.NewRun(e.runDir, "busy", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := self.Save(); err != nil {
		t.Fatal(err)
	}
	topo := "../../examples/lab/two-hosts.yaml"
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"up without a topology", []string{"up"}, "give one with -t FILE"},
		{"up of a lab that is running", []string{"up", "-t", topo, "--run", "busy"}, `lab "busy" is already running`},
		{"up with a bad run name", []string{"up", "-t", topo, "--run", "Bad"}, "lower-case letters and digits"},
		{"probe of a lab that is not running", []string{"probe", "--from", "x/a", "--to", "y/b", "--port", "80", "--run", "idle"}, `no lab "idle" is running`},
		{"matrix with an unknown output", []string{"matrix", "-o", "xml"}, "want table or json"},
		{"demo with a missing policy directory", []string{"demo", "-t", topo, "-f", "/nonexistent"}, "/nonexistent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := command(context.Background(), e, tt.args...)
			if code != 2 || !strings.Contains(errOut, tt.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", code, errOut, tt.want)
			}
		})
	}
}

// waitRecord polls the run's record until up has recorded its datastore.
func waitRecord(t *testing.T, dir, id string, done <-chan int) *testbed.Run {
	t.Helper()
	deadline := time.After(time.Minute)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if r, err := testbed.LoadRun(dir, id); err == nil && len(r.Etcd) > 0 {
			if _, err := os.Stat(r.Socket); err == nil {
				return r
			}
		}
		select {
		case code := <-done:
			t.Fatalf("up exited with %d before the lab was up", code)
		case <-deadline:
			t.Fatal("the lab was not up within a minute")
		case <-tick.C:
		}
	}
}

func TestUpServesProbesAndMatricesUntilCancelled(t *testing.T) {
	needRoot(t)
	id := newRunID(t)
	e := testEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var upOut syncBuffer
	done := make(chan int, 1)
	go func() {
		ue := e
		ue.stdout, ue.stderr = &upOut, &upOut
		done <- run(ctx, []string{"up", "-t", "../../examples/lab/two-hosts.yaml", "--run", id}, ue)
	}()
	r := waitRecord(t, e.runDir, id, done)

	code, out, _ := command(ctx, e, "endpoints", "--run", id)
	if code != 0 || strings.TrimSpace(out) != strings.Join(r.Etcd, ",") {
		t.Errorf("endpoints: exit %d, %q; want %v", code, out, r.Etcd)
	}
	code, out, errOut := command(ctx, e, "probe", "--run", id, "--from", "x/a", "--to", "y/b", "--port", "80")
	if code != 0 || strings.Count(out, "connected; engine: allowed") != 2 {
		t.Errorf("probe: exit %d:\n%s%s", code, out, errOut)
	}
	code, out, errOut = command(ctx, e, "matrix", "--run", id)
	if code != 0 || !strings.Contains(out, "0 disagreement(s)") {
		t.Errorf("matrix: exit %d:\n%s%s", code, out, errOut)
	}

	// Policy written by anyone to the lab's etcd is enforced.
	s, err := etcd.Open(ctx, etcd.Config{Endpoints: r.Etcd})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tcp := v3.ProtocolFromString("TCP")
	if _, err := s.Apply(ctx, &v3.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "deny-x", Namespace: "y"},
		Spec: v3.NetworkPolicySpec{Selector: "pod == 'b'", Ingress: []v3.Rule{
			{Action: v3.Deny, Protocol: &tcp, Source: v3.EntityRule{NamespaceSelector: "projectcalico.org/name == 'x'"}},
			{Action: v3.Allow},
		}},
	}); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = command(ctx, e, "probe", "--run", id, "--from", "x/a", "--to", "y/b", "--port", "80")
	if code != 0 || strings.Count(out, "did not connect") != 2 || !strings.Contains(out, "denied by NetworkPolicy(y/deny-x) rule 0") {
		t.Errorf("probe after the deny: exit %d:\n%s%s", code, out, errOut)
	}

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("up exited with %d:\n%s", code, upOut.String())
		}
	case <-time.After(time.Minute):
		t.Fatal("up did not end within a minute of its context")
	}
	if left, _ := lab.ListNetNS(lab.PrefixFor(id)); len(left) > 0 {
		t.Errorf("namespaces left: %v", left)
	}
	if _, err := testbed.LoadRun(e.runDir, id); err == nil {
		t.Error("the run's record is left")
	}
	if _, err := os.Stat(r.DataDir); err == nil {
		t.Error("the etcd data is left")
	}
}

func TestDownRemovesWhatAKilledLabLeft(t *testing.T) {
	needRoot(t)
	id := newRunID(t)
	dir := t.TempDir()
	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), mainEnv+"=1", "TABBY_LAB_RUN_DIR="+dir, "ETCD_ENDPOINTS=",
		mainArgsEnv+"=up -t "+filepath.Join("..", "..", "examples", "lab", "two-hosts.yaml")+" --run "+id)
	var out syncBuffer
	child.Stdout, child.Stderr = &out, &out
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan int, 1)
	go func() {
		child.Wait()
		exited <- child.ProcessState.ExitCode()
	}()
	r := waitRecord(t, dir, id, exited)
	if err := child.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-exited
	if left, _ := lab.ListNetNS(lab.PrefixFor(id)); len(left) == 0 {
		t.Fatal("the killed lab left no namespaces: nothing to test")
	}

	e := testEnv(t)
	e.runDir = dir
	code, stdout, stderr := command(context.Background(), e, "down", "--run", id)
	if code != 0 || !strings.Contains(stderr, "crashed") {
		t.Errorf("down: exit %d:\n%s%s", code, stdout, stderr)
	}
	if left, _ := lab.ListNetNS(lab.PrefixFor(id)); len(left) > 0 {
		t.Errorf("namespaces left: %v", left)
	}
	for _, p := range []string{r.DataDir, r.Socket, filepath.Join(dir, id+".json")} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s is left", p)
		}
	}
}

func TestDemoShowsTheChangeOnThePackets(t *testing.T) {
	needRoot(t)
	id := newRunID(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	code, out, errOut := command(ctx, testEnv(t), "demo", "--run", id,
		"-t", "../../examples/lab/seeds.yaml", "-f", "../../examples/seeds", "--change", "../../examples/lab/seeds-change.yaml")
	if code != 0 {
		t.Fatalf("demo: exit %d:\n%s%s", code, out, errOut)
	}
	for _, want := range []string{
		"calicoctl apply -f ../../examples/seeds",
		"What the change did on the packets: 1 probe(s) changed",
		"production/frontend -> 10.0.1.10 TCP/6379: denied, now allowed",
		"The packets agreed with the engine on every probe.",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if left, _ := lab.ListNetNS(lab.PrefixFor(id)); len(left) > 0 {
		t.Errorf("namespaces left: %v", left)
	}
}

func TestBenchPrintsEveryFigure(t *testing.T) {
	needRoot(t)
	id := newRunID(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	code, out, errOut := command(ctx, testEnv(t), "bench", "--run", id, "--policies", "10", "--endpoints", "10",
		"--set-members", "100", "--changes", "2", "--rounds", "1", "--duration", "200ms")
	if code != 0 {
		t.Fatalf("bench: exit %d:\n%s%s", code, out, errOut)
	}
	for _, want := range []string{"TCP throughput", "ratio", "Connection setup", "p50", "p99", "Ruleset of one host", "linear"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
