//go:build linux

package testbed

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRunRecords(t *testing.T) {
	dir := t.TempDir()
	r, err := NewRun(dir, "r1", "topo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(r.DataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	r.Etcd = []string{"http://127.0.0.1:1234"}
	if err := r.Save(); err != nil {
		t.Fatal(err)
	}
	t.Run("a saved record reads back", func(t *testing.T) {
		got, err := LoadRun(dir, "r1")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(r, got, cmp.AllowUnexported(Run{})); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
	t.Run("every record is listed", func(t *testing.T) {
		runs, err := LoadRuns(dir)
		if err != nil || len(runs) != 1 || runs[0].ID != "r1" {
			t.Errorf("LoadRuns = %v, %v", runs, err)
		}
	})
	t.Run("the recording process is alive", func(t *testing.T) {
		if !r.Alive() {
			t.Error("Alive is false for this process")
		}
	})
	t.Run("a process with the same pid but another start time is not the run's", func(t *testing.T) {
		other := *r
		other.StartTime++
		if other.Alive() {
			t.Error("Alive is true for another start time")
		}
	})
	t.Run("an unknown run is ErrNoRun", func(t *testing.T) {
		if _, err := LoadRun(dir, "nope"); !errors.Is(err, ErrNoRun) {
			t.Errorf("err = %v, want ErrNoRun", err)
		}
	})
	t.Run("a bad run id is refused", func(t *testing.T) {
		if _, err := NewRun(dir, "Bad_ID", ""); err == nil {
			t.Error("no error")
		}
	})
	t.Run("removing a run removes its data and record", func(t *testing.T) {
		if err := r.Remove(); err != nil {
			t.Fatal(err)
		}
		left, _ := filepath.Glob(filepath.Join(dir, "*"))
		if len(left) != 0 {
			t.Errorf("left behind: %v", left)
		}
	})
}

func TestStopEndsTheRunsProcessWithSIGTERM(t *testing.T) {
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The child is reaped by Wait, so that it does not stay a zombie,
	// which would look alive.
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	st, err := processStart(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	r := &Run{ID: "r2", PID: cmd.Process.Pid, StartTime: st, dir: t.TempDir()}
	stopped := make(chan error, 1)
	go func() { stopped <- r.Stop(context.Background()) }()
	<-waited
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	if r.Alive() {
		t.Error("still alive after Stop")
	}
	if got := cmd.ProcessState.String(); got != "signal: terminated" {
		t.Errorf("the process ended with %q, want signal: terminated", got)
	}
}
