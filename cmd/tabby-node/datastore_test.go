package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/tabby-project/tabby/api/v3"
	"github.com/tabby-project/tabby/datastore/etcd"
)

// syncBuffer is a bytes.Buffer safe to write from the command's goroutine
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

var servingRE = regexp.MustCompile(`serving etcd on (\S+) with data in`)

// waitServing polls out until the command says where it serves.
func waitServing(t *testing.T, out interface{ String() string }, done <-chan int) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if m := servingRE.FindStringSubmatch(out.String()); m != nil {
			return m[1]
		}
		select {
		case code := <-done:
			t.Fatalf("tabby-node datastore exited with %d before serving:\n%s", code, out.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("tabby-node datastore did not say it serves within 30s:\n%s", out.String())
	return ""
}

// startDatastoreCommand runs "tabby-node datastore" in-process until the
// returned stop function cancels it; stop returns the exit status.
func startDatastoreCommand(t *testing.T, args ...string) (endpoint string, out *syncBuffer, stop func() int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out = &syncBuffer{}
	errOut := &syncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, append([]string{"datastore"}, args...), env{stdout: out, stderr: errOut, getenv: func(string) string { return "" }})
	}()
	endpoint = waitServing(t, out, done)
	var once sync.Once
	code := 0
	stop = func() int {
		once.Do(func() {
			cancel()
			select {
			case code = <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("tabby-node datastore did not stop within 30s of its context ending")
			}
		})
		return code
	}
	t.Cleanup(func() { stop() })
	return endpoint, out, stop
}

func TestDatastoreServesAndKeepsItsDataAcrossRestarts(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "data")
	ep, out, stop := startDatastoreCommand(t, "--data-dir", dir, "--listen-client-urls", "http://127.0.0.1:0")
	s, err := etcd.Open(ctx, etcd.Config{Endpoints: []string{ep}})
	if err != nil {
		t.Fatalf("Open %s: %v", ep, err)
	}
	order := 7.0
	created, err := s.Create(ctx, &v3.Tier{ObjectMeta: metav1.ObjectMeta{Name: "kept"}, Spec: v3.TierSpec{Order: &order}})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if code := stop(); code != 0 {
		t.Fatalf("exit status %d after cancellation", code)
	}
	if !strings.Contains(out.String(), "tabby-node datastore: stopping") {
		t.Errorf("output does not say it stops:\n%s", out.String())
	}

	ep, _, _ = startDatastoreCommand(t, "--data-dir", dir, "--listen-client-urls", "http://127.0.0.1:0")
	s, err = etcd.Open(ctx, etcd.Config{Endpoints: []string{ep}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.Get(ctx, v3.KeyOf(created))
	if err != nil {
		t.Fatalf("Get after restart: %v", err)
	}
	if got.GetResourceVersion() != created.GetResourceVersion() || got.GetUID() != created.GetUID() {
		t.Errorf("after restart: rv %s uid %s, want %s %s", got.GetResourceVersion(), got.GetUID(),
			created.GetResourceVersion(), created.GetUID())
	}
}

func TestDatastoreRefusesToRun(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"when ETCD_ENDPOINTS names an external datastore", []string{"datastore", "--data-dir", t.TempDir()},
			map[string]string{"ETCD_ENDPOINTS": "http://10.0.0.1:2379"},
			"tabby-node datastore: ETCD_ENDPOINTS is set (http://10.0.0.1:2379): the hosts use that etcd, so the embedded datastore must not run; unset ETCD_ENDPOINTS to run it\n"},
		{"when CALICO_ETCD_ENDPOINTS does", []string{"datastore", "--data-dir", t.TempDir()},
			map[string]string{"CALICO_ETCD_ENDPOINTS": "http://10.0.0.1:2379"},
			"tabby-node datastore: CALICO_ETCD_ENDPOINTS is set (http://10.0.0.1:2379): the hosts use that etcd, so the embedded datastore must not run; unset CALICO_ETCD_ENDPOINTS to run it\n"},
		{"with an https URL and no certificate", []string{"datastore", "--data-dir", t.TempDir(), "--listen-client-urls", "https://127.0.0.1:0"},
			nil, "needs a certificate and key"},
		{"with an argument", []string{"datastore", "extra"}, nil, `unknown command "extra"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(context.Background(), tt.args, env{stdout: &out, stderr: &errOut, getenv: func(k string) string { return tt.env[k] }})
			if code != 1 {
				t.Errorf("exit status %d, want 1", code)
			}
			if !strings.Contains(errOut.String(), tt.want) {
				t.Errorf("stderr %q does not say %q", errOut.String(), tt.want)
			}
		})
	}
}

func TestHelpTeachesTheModes(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"datastore", "--help"}} {
		var out bytes.Buffer
		if code := run(context.Background(), args, env{stdout: &out, stderr: io.Discard, getenv: os.Getenv}); code != 0 {
			t.Fatalf("%v: exit %d", args, code)
		}
		for _, want := range []string{"ETCD_ENDPOINTS", "Example", "datastore"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("%v help does not mention %q:\n%s", args, want, out.String())
			}
		}
	}
}

// TestDatastoreStopsCleanlyOnSIGTERM runs the real main in a child process
// (this test binary) and signals it.
func TestDatastoreStopsCleanlyOnSIGTERM(t *testing.T) {
	if os.Getenv("TABBY_NODE_MAIN") == "1" {
		os.Args = append([]string{"tabby-node"}, strings.Fields(os.Getenv("TABBY_NODE_ARGS"))...)
		main()
		return
	}
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestDatastoreStopsCleanlyOnSIGTERM$")
			cmd.Env = append(os.Environ(), "TABBY_NODE_MAIN=1", "ETCD_ENDPOINTS=", "CALICO_ETCD_ENDPOINTS=",
				"TABBY_NODE_ARGS=datastore --data-dir "+filepath.Join(t.TempDir(), "d")+" --listen-client-urls http://127.0.0.1:0")
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Process.Kill()
			lines := bufio.NewScanner(stdout)
			ready := make(chan string, 1)
			rest := make(chan string, 1)
			go func() {
				var all []string
				for lines.Scan() {
					all = append(all, lines.Text())
					if servingRE.MatchString(lines.Text()) {
						ready <- lines.Text()
					}
				}
				rest <- strings.Join(all, "\n")
			}()
			select {
			case <-ready:
			case <-time.After(30 * time.Second):
				t.Fatalf("child did not serve within 30s; stderr:\n%s", stderr.String())
			}
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			waited := make(chan error, 1)
			go func() { waited <- cmd.Wait() }()
			select {
			case err := <-waited:
				if err != nil {
					t.Errorf("child exited with %v; stderr:\n%s", err, stderr.String())
				}
			case <-time.After(30 * time.Second):
				t.Fatal("child did not exit within 30s of the signal")
			}
			if out := <-rest; !strings.Contains(out, "tabby-node datastore: stopping") {
				t.Errorf("child output does not say it stops:\n%s", out)
			}
		})
	}
}
