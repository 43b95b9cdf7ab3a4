//go:build linux

package testbed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tabby-project/tabby/lab"
)

// DefaultRunDir is where tabby-lab records the labs it runs, on tmpfs so
// that a reboot, which removes every namespace, also removes the records.
const DefaultRunDir = "/run/tabby-lab"

// ErrNoRun is returned by LoadRun when no lab of that id is recorded.
var ErrNoRun = errors.New("testbed: no such lab")

// stopTimeout bounds how long Stop waits for a lab's process to exit after
// SIGTERM, then after SIGKILL.
const stopTimeout = 30 * time.Second

var runIDPattern = regexp.MustCompile(`^[a-z0-9]{1,12}$`)

// Run records a lab run by a long-lived process (tabby-lab up): enough to
// reach it, stop it, and remove what it made if it crashed. The record is
// written before anything is made, so every leftover has one.
type Run struct {
	ID  string `json:"id"`
	PID int    `json:"pid"`
	// StartTime is the process's start time in clock ticks since boot
	// (field 22 of /proc/<pid>/stat), which tells a recycled pid apart.
	StartTime uint64 `json:"startTime"`
	// Topology is the topology file the lab was built from.
	Topology string `json:"topology"`
	// DataDir holds the embedded etcd's data; Socket is where the process
	// answers (see Serve).
	DataDir string `json:"dataDir"`
	Socket  string `json:"socket"`
	// Etcd are the datastore's client URLs, once it runs.
	Etcd []string `json:"etcd,omitempty"`

	dir string
}

// NewRun returns the record of a run by this process, with its data
// directory and socket under dir.
func NewRun(dir, id, topology string) (*Run, error) {
	if !runIDPattern.MatchString(id) {
		return nil, fmt.Errorf("testbed: run id %q: want 1 to 12 lower-case letters and digits", id)
	}
	st, err := processStart(os.Getpid())
	if err != nil {
		return nil, err
	}
	return &Run{
		ID:        id,
		PID:       os.Getpid(),
		StartTime: st,
		Topology:  topology,
		DataDir:   filepath.Join(dir, id+".etcd"),
		Socket:    filepath.Join(dir, id+".sock"),
		dir:       dir,
	}, nil
}

func (r *Run) path() string { return filepath.Join(r.dir, r.ID+".json") }

// Save writes the record, replacing the previous one atomically.
func (r *Run) Save() error {
	if err := os.MkdirAll(r.dir, 0o700); err != nil {
		return fmt.Errorf("testbed: record run %s: %w", r.ID, err)
	}
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	tmp := r.path() + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return fmt.Errorf("testbed: record run %s: %w", r.ID, err)
	}
	if err := os.Rename(tmp, r.path()); err != nil {
		return fmt.Errorf("testbed: record run %s: %w", r.ID, err)
	}
	return nil
}

// LoadRun reads the record of run id, or returns ErrNoRun.
func LoadRun(dir, id string) (*Run, error) {
	data, err := os.ReadFile(filepath.Join(dir, id+".json"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %q (no record in %s)", ErrNoRun, id, dir)
	}
	if err != nil {
		return nil, fmt.Errorf("testbed: read run %s: %w", id, err)
	}
	r := &Run{dir: dir}
	if err := json.Unmarshal(data, r); err != nil {
		return nil, fmt.Errorf("testbed: read run %s: %w", id, err)
	}
	if r.ID != id {
		return nil, fmt.Errorf("testbed: record %s names run %q", id, r.ID)
	}
	return r, nil
}

// LoadRuns reads every record in dir, sorted by id.
func LoadRuns(dir string) ([]*Run, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("testbed: list runs: %w", err)
	}
	var runs []*Run
	for _, e := range entries {
		id, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || !runIDPattern.MatchString(id) {
			continue
		}
		r, err := LoadRun(dir, id)
		if err != nil {
			return nil, err
		}
		runs = append(runs, r)
	}
	return runs, nil
}

// Alive reports whether the process that recorded the run still runs.
func (r *Run) Alive() bool {
	st, err := processStart(r.PID)
	return err == nil && st == r.StartTime
}

// Stop asks the run's process to end (SIGTERM, which tabby-lab up answers
// by tearing the lab down), and kills it (SIGKILL) if it has not within 30
// s. A run whose process is gone is left alone.
func (r *Run) Stop(ctx context.Context) error {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		if !r.Alive() {
			return nil
		}
		if err := syscall.Kill(r.PID, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("testbed: stop run %s (pid %d): %w", r.ID, r.PID, err)
		}
		if r.waitGone(ctx, stopTimeout) {
			return nil
		}
	}
	return fmt.Errorf("testbed: run %s: pid %d does not end", r.ID, r.PID)
}

// waitGone polls until the process is gone, at most d.
func (r *Run) waitGone(ctx context.Context, d time.Duration) bool {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for r.Alive() {
		select {
		case <-ctx.Done():
			return false
		case <-deadline.C:
			return false
		case <-tick.C:
		}
	}
	return true
}

// Remove deletes what the run made and its record: its network
// namespaces (and with them every interface, route, nftables table and
// socket in them), the embedded etcd's data and the socket. The process
// must be gone (see Stop), unless it is the calling process.
func (r *Run) Remove() error {
	if r.Alive() && r.PID != os.Getpid() {
		return fmt.Errorf("testbed: run %s is still running (pid %d)", r.ID, r.PID)
	}
	errs := []error{lab.Cleanup(lab.PrefixFor(r.ID))}
	for _, p := range []string{r.DataDir, r.Socket} {
		if p != "" {
			errs = append(errs, os.RemoveAll(p))
		}
	}
	if err := os.Remove(r.path()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// processStart returns the start time of pid in clock ticks since boot.
func processStart(pid int) (uint64, error) {
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, err
	}
	// The command name, field 2, is in parentheses and may hold spaces.
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("testbed: /proc/%d/stat: no command name", pid)
	}
	fields := strings.Fields(s[i+1:])
	// fields[0] is field 3 (state); the start time is field 22.
	if len(fields) < 20 {
		return 0, fmt.Errorf("testbed: /proc/%d/stat: %d fields", pid, len(fields)+2)
	}
	return strconv.ParseUint(fields[19], 10, 64)
}
