//go:build linux

package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/tabby-project/tabby/datastore/etcd"
	"github.com/tabby-project/tabby/internal/testbed"
	"github.com/tabby-project/tabby/lab"
)

// defaultRunDir is where runs are recorded: TABBY_LAB_RUN_DIR, else
// testbed.DefaultRunDir.
func defaultRunDir() string {
	if d := os.Getenv("TABBY_LAB_RUN_DIR"); d != "" {
		return d
	}
	return testbed.DefaultRunDir
}

// The run ids of the commands that build a lab; "down" also removes
// namespaces of these runs that have no record.
const (
	upRunID    = "lab"
	demoRunID  = "demo"
	benchRunID = "bench"
)

func readTopology(path string) (*lab.Topology, error) {
	if path == "" {
		return nil, errors.New("no topology: give one with -t FILE (see examples/lab/)")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	topo, err := lab.ParseTopology(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return topo, nil
}

// etcdFromEnv returns the external etcd the environment names
// (etcd.ConfigFromEnv), or nil for the embedded one.
func etcdFromEnv(getenv func(string) string) (*etcd.Config, error) {
	cfg, err := etcd.ConfigFromEnv(getenv)
	if err != nil || len(cfg.Endpoints) == 0 {
		return nil, err
	}
	return &cfg, nil
}

// progress returns a function printing progress lines on w.
func progress(w io.Writer) func(string) {
	return func(msg string) { fmt.Fprintln(w, "tabby-lab:", msg) }
}

// probeProgress prints how many probes are done, on one line that it
// rewrites, when w is a terminal; elsewhere it prints nothing.
func probeProgress(w io.Writer) func(done, total int) {
	f, ok := w.(*os.File)
	if !ok {
		return nil
	}
	if st, err := f.Stat(); err != nil || st.Mode()&os.ModeCharDevice == 0 {
		return nil
	}
	return func(done, total int) {
		fmt.Fprintf(w, "\rtabby-lab: %d/%d probes", done, total)
		if done == total {
			fmt.Fprint(w, "\r\033[K")
		}
	}
}

// begin records a new run of id by this process, after removing the
// leftovers of an earlier run of id that crashed. It refuses if that run
// is still going.
func begin(e env, id, topology string) (*testbed.Run, error) {
	old, err := testbed.LoadRun(e.runDir, id)
	switch {
	case err == nil && old.Alive():
		return nil, fmt.Errorf("lab %q is already running (pid %d); stop it with: tabby-lab down --run %s", id, old.PID, id)
	case err == nil:
		fmt.Fprintf(e.stderr, "tabby-lab: removing the leftovers of lab %q, whose process (pid %d) is gone\n", id, old.PID)
		if err := old.Remove(); err != nil {
			return nil, err
		}
	case !errors.Is(err, testbed.ErrNoRun):
		return nil, err
	}
	if left, err := lab.ListNetNS(lab.PrefixFor(id)); err != nil {
		return nil, err
	} else if len(left) > 0 {
		fmt.Fprintf(e.stderr, "tabby-lab: removing %d namespaces of an unrecorded run %q\n", len(left), id)
		if err := lab.Cleanup(lab.PrefixFor(id)); err != nil {
			return nil, err
		}
	}
	r, err := testbed.NewRun(e.runDir, id, topology)
	if err != nil {
		return nil, err
	}
	return r, r.Save()
}

// end removes the record of a run of this process, and anything it left.
func end(e env, r *testbed.Run) {
	if err := r.Remove(); err != nil {
		fmt.Fprintf(e.stderr, "tabby-lab: clean up run %s: %v\n", r.ID, err)
	}
}

// attach returns the record of the running lab id.
func attach(e env, id string) (*testbed.Run, error) {
	r, err := testbed.LoadRun(e.runDir, id)
	if errors.Is(err, testbed.ErrNoRun) {
		return nil, fmt.Errorf("no lab %q is running: start one with tabby-lab up -t TOPOLOGY", id)
	}
	if err != nil {
		return nil, err
	}
	if !r.Alive() {
		return nil, fmt.Errorf("lab %q is not running: its process (pid %d) is gone; tabby-lab down removes its leftovers", id, r.PID)
	}
	return r, nil
}
