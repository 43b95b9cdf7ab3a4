package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestEtcdFromEnv(t *testing.T) {
	tests := []struct {
		name      string
		env       map[string]string
		endpoints []string
		external  bool
		err       string
	}{
		{name: "no ETCD_ENDPOINTS means the embedded datastore", env: map[string]string{}},
		{
			name:      "ETCD_ENDPOINTS lists the members of an external cluster",
			env:       map[string]string{"ETCD_ENDPOINTS": "http://10.0.0.1:2379, http://10.0.0.2:2379"},
			endpoints: []string{"http://10.0.0.1:2379", "http://10.0.0.2:2379"},
			external:  true,
		},
		{
			name:      "CALICO_ETCD_ENDPOINTS wins over ETCD_ENDPOINTS, as in Calico",
			env:       map[string]string{"ETCD_ENDPOINTS": "http://a:2379", "CALICO_ETCD_ENDPOINTS": "http://b:2379"},
			endpoints: []string{"http://b:2379"},
			external:  true,
		},
		{
			name: "a Kubernetes datastore is refused",
			env:  map[string]string{"DATASTORE_TYPE": "kubernetes"},
			err:  "DATASTORE_TYPE=kubernetes is not supported",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, external, err := etcdFromEnv(func(k string) string { return tt.env[k] })
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if external != tt.external || strings.Join(cfg.Endpoints, " ") != strings.Join(tt.endpoints, " ") {
				t.Fatalf("got endpoints %q external %v, want %q %v", cfg.Endpoints, external, tt.endpoints, tt.external)
			}
		})
	}
}

// TestAgentProgramsItsTableBeforeItIsReady runs the real tabby-node, with
// its embedded datastore, in a network namespace of its own (unshare), and
// checks that once it reports ready its nftables table is in that
// namespace, and that it stops cleanly on SIGTERM.
func TestAgentProgramsItsTableBeforeItIsReady(t *testing.T) {
	if os.Getenv("TABBY_NODE_MAIN") == "1" {
		os.Args = append([]string{"tabby-node"}, strings.Fields(os.Getenv("TABBY_NODE_ARGS"))...)
		main()
		return
	}
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("this test needs root (network namespaces and nftables), and CI=true")
		}
		t.Skip("needs root")
	}
	dir := t.TempDir()
	ready := filepath.Join(dir, "ready")
	cmd := exec.Command("unshare", "--net", "sh", "-c", `ip link set lo up && exec "$0" "$@"`,
		os.Args[0], "-test.run=^TestAgentProgramsItsTableBeforeItIsReady$")
	cmd.Env = append(os.Environ(), "TABBY_NODE_MAIN=1", "ETCD_ENDPOINTS=", "CALICO_ETCD_ENDPOINTS=",
		"NODENAME=node-1", "TABBY_READY_FILE="+ready, "TABBY_FLOW_LOG_FILE=none",
		"FELIX_PROMETHEUSMETRICSENABLED=false",
		"TABBY_NODE_ARGS=--data-dir "+filepath.Join(dir, "etcd"))
	var stdout, stderr syncBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })

	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := os.Stat(ready); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready within 60s\nstdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	out, err := exec.Command("nsenter", "-t", strconv.Itoa(cmd.Process.Pid), "-n", "nft", "list", "table", "inet", "tabby").CombinedOutput()
	if err != nil {
		t.Fatalf("the agent is ready but its table is not in its namespace: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "chain filter-forward") {
		t.Errorf("the programmed table has no forward chain:\n%s", out)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	select {
	case err := <-waited:
		if err != nil {
			t.Fatalf("tabby-node exited with %v\nstderr:\n%s", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("tabby-node did not stop within 30s of SIGTERM")
	}
	if !strings.Contains(stdout.String(), "the programmed rules stay in place") {
		t.Errorf("tabby-node did not say it leaves its rules:\n%s", stdout.String())
	}
}
