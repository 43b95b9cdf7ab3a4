//go:build linux

package testbed

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

func TestUpWithNoAgentsAndAnEtcdSocketLeavesTheHostsToTheCaller(t *testing.T) {
	dir := t.TempDir()
	l := up(t, readTopology(t, "testdata/two-hosts.yaml"), Options{DataDir: dir, NoAgents: true, EtcdSocket: true})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	want := "unix://" + filepath.Join(dir, "client.sock")
	if got := l.EtcdEndpoints(); len(got) != 1 || got[0] != want {
		t.Errorf("EtcdEndpoints = %v, want [%s]", got, want)
	}
	if got := l.Programmed(); len(got) != 0 {
		t.Errorf("agents run: %v", got)
	}
	// The lab's own client reads and writes through the socket.
	if _, err := l.WaitProgrammed(ctx); err != nil {
		t.Fatalf("WaitProgrammed with no agent: %v", err)
	}
	// In-process agents can still be started, and WaitProgrammed waits
	// for them.
	host := l.Fabric().Hosts()[0].Name
	if err := l.StartAgent(ctx, host); err != nil {
		t.Fatal(err)
	}
	rev, err := l.WaitProgrammed(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := l.Programmed(); len(got) != 1 || got[host] < rev {
		t.Errorf("Programmed = %v, want %s at revision %d or later", got, host, rev)
	}
}
