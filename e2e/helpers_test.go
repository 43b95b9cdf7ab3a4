//go:build linux

package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tabby-project/tabby/conformance"
	"github.com/tabby-project/tabby/internal/testbed"
	"github.com/tabby-project/tabby/lab"
)

// needLab skips the test unless it runs as root; under CI=true it fails
// instead, as every test of the kernel must.
func needLab(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("the end-to-end tests need root (CI=true: they must run)")
	}
	t.Skip("the end-to-end tests need root")
}

func newRunID(t *testing.T) string {
	b := make([]byte, 3)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "e" + hex.EncodeToString(b)
}

// logWriter sends the agents' warnings and errors to the test log.
type logWriter struct{ t *testing.T }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// up brings the lab up for the test, with an embedded etcd and an agent
// per host, and removes every namespace it made when the test ends, also
// when it fails half way or Up itself fails.
func up(t *testing.T, topo *lab.Topology, opts testbed.Options) *testbed.Lab {
	t.Helper()
	needLab(t)
	opts.RunID = newRunID(t)
	opts.Logger = slog.New(slog.NewTextHandler(logWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	t.Cleanup(func() {
		if err := lab.Cleanup(lab.PrefixFor(opts.RunID)); err != nil {
			t.Errorf("cleanup: %v", err)
		}
		if left, err := lab.ListNetNS(lab.PrefixFor(opts.RunID)); err != nil || len(left) > 0 {
			t.Errorf("namespaces left behind: %v %v", left, err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	l, err := testbed.Up(ctx, topo, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Down(); err != nil {
			t.Errorf("down: %v", err)
		}
	})
	t.Logf("lab %s up with %d agents in %v", l.Fabric().RunID(), len(topo.Hosts), time.Since(start).Round(time.Millisecond))
	return l
}

// modelTopology is the conformance model as a lab: each pod on the node
// the model puts it on, with its IP, labels and named ports, its
// interface named as Calico names a pod's.
func modelTopology(m conformance.Model) *lab.Topology {
	topo := &lab.Topology{}
	hosts := map[string]int{}
	for _, n := range m.Nodes {
		hosts[n] = len(topo.Hosts)
		topo.Hosts = append(topo.Hosts, lab.Host{Name: n})
	}
	var ports []lab.Port
	for _, port := range m.Ports {
		for _, proto := range m.Protocols {
			ports = append(ports, lab.Port{Port: uint16(port), Protocol: lab.Protocol(proto), Name: conformance.PortName(port, proto)})
		}
	}
	for _, p := range m.Peers() {
		h := &topo.Hosts[hosts[m.Node(p)]]
		h.Workloads = append(h.Workloads, lab.Workload{
			Namespace: p.Namespace,
			Name:      p.Name,
			Labels:    map[string]string{"pod": p.Name},
			IPs:       []string{m.IP(p)},
			Ports:     ports,
		})
	}
	return topo
}
