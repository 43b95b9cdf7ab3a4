//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tabby-project/tabby/analysis"
	v3 "github.com/tabby-project/tabby/api/v3"
	"github.com/tabby-project/tabby/internal/testbed"
)

type demoOptions struct {
	topology string
	policies string
	change   string
	runID    string
}

func newDemoCommand(e env) *cobra.Command {
	var o demoOptions
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Apply the seed policies on a two-host lab, show the matrix, change, show it again",
		Long: `Run the lab demo from start to end, then tear it down:

  1. bring up the lab of the seed examples (examples/lab/seeds.yaml: two
     hosts running the pods of examples/seeds/endpoints.yaml), with an
     embedded etcd and an agent per host;
  2. apply every file of examples/seeds/ as "calicoctl apply -f" would:
     each document decoded, defaulted and validated (Kubernetes
     NetworkPolicies converted as Calico converts them), then written to
     the datastore in file order;
  3. show the matrix: real probes between every pair of workloads on the
     destination's ports and ICMP, beside the engine's prediction from the
     same datastore content;
  4. apply a change (examples/lab/seeds-change.yaml) and show the matrix
     again.

Every resource is validated before anything is written; an invalid file
stops the demo with the error calicoctl would print. The exit status is 1
if the packets disagree with the engine anywhere, 2 on error. Ctrl-C tears
the lab down at any point.`,
		Example: `  tabby-lab demo
  tabby-lab demo -t my-lab.yaml -f my-policies/ --change my-change.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDemo(cmd.Context(), e, o)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.topology, "topology", "t", "examples/lab/seeds.yaml", "topology of the lab")
	f.StringVarP(&o.policies, "filename", "f", "examples/seeds", "file or directory of resources to apply first")
	f.StringVar(&o.change, "change", "examples/lab/seeds-change.yaml", "file or directory of resources to apply as the change")
	f.StringVar(&o.runID, "run", demoRunID, "name of the demo's lab")
	return cmd
}

func runDemo(ctx context.Context, e env, o demoOptions) (err error) {
	topo, err := readTopology(o.topology)
	if err != nil {
		return err
	}
	first, err := load(e.stderr, o.policies)
	if err != nil {
		return err
	}
	change, err := load(e.stderr, o.change)
	if err != nil {
		return err
	}
	r, err := begin(e, o.runID, o.topology)
	if err != nil {
		return err
	}
	defer end(e, r)
	ecfg, err := etcdFromEnv(e.getenv)
	if err != nil {
		return err
	}
	l, err := testbed.Up(ctx, topo, testbed.Options{
		RunID:    o.runID,
		Etcd:     ecfg,
		DataDir:  r.DataDir,
		Logger:   slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Progress: progress(e.stderr),
	})
	if err != nil {
		return err
	}
	defer func() {
		if derr := l.Down(); derr != nil && err == nil {
			err = derr
		}
	}()
	fmt.Fprintf(e.stdout, "Lab %s: %d hosts, %d workloads, datastore %s\n\n", o.topology, len(topo.Hosts),
		len(l.Fabric().Workloads()), strings.Join(l.EtcdEndpoints(), ","))

	disagree := 0
	var before *testbed.Matrix
	for _, step := range []struct {
		title string
		path  string
		objs  []v3.Object
	}{
		{"calicoctl apply -f " + o.policies, o.policies, first},
		{"calicoctl apply -f " + o.change, o.change, change},
	} {
		fmt.Fprintf(e.stdout, "== %s\n", step.title)
		if _, err := l.Apply(ctx, step.objs...); err != nil {
			return err
		}
		printApplied(e.stdout, step.objs)
		m, err := l.Matrix(ctx, nil, probeProgress(e.stderr))
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "\n== the matrix after %s\n\n", step.path)
		m.Print(e.stdout)
		fmt.Fprintln(e.stdout)
		disagree += len(m.Disagreements())
		if before != nil {
			printChanges(e.stdout, before, m)
		}
		before = m
	}
	if disagree > 0 {
		fmt.Fprintf(e.stdout, "%d disagreement(s) between the packets and the engine\n", disagree)
		return &exitError{code: 1}
	}
	fmt.Fprintln(e.stdout, "The packets agreed with the engine on every probe.")
	return nil
}

// load reads a file or the files of a directory (*.yaml, *.yml, *.json,
// in name order) as calicoctl apply -f reads them, and prints the notes.
func load(w io.Writer, path string) ([]v3.Object, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	paths := []string{path}
	if st.IsDir() {
		entries, err := os.ReadDir(path)
		if err != nil {
			return nil, err
		}
		paths = paths[:0]
		for _, en := range entries {
			if ext := filepath.Ext(en.Name()); !en.IsDir() && slices.Contains([]string{".yaml", ".yml", ".json"}, ext) {
				paths = append(paths, filepath.Join(path, en.Name()))
			}
		}
	}
	files := make([]analysis.File, 0, len(paths))
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		files = append(files, analysis.File{Name: p, Data: data})
	}
	objs, notes, err := analysis.Decode(files)
	for _, n := range notes {
		fmt.Fprintln(w, "tabby-lab: note:", n)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: nothing applied:\n%w", path, err)
	}
	if len(objs) == 0 {
		return nil, errors.New(path + ": no resources")
	}
	return objs, nil
}

// printApplied lists what was written, as calicoctl apply reports it.
func printApplied(w io.Writer, objs []v3.Object) {
	counts := map[string]int{}
	var kinds []string
	for _, o := range objs {
		k := v3.KindOf(o)
		if counts[k] == 0 {
			kinds = append(kinds, k)
		}
		counts[k]++
	}
	parts := make([]string, len(kinds))
	for i, k := range kinds {
		parts[i] = fmt.Sprintf("%d %s", counts[k], k)
	}
	fmt.Fprintf(w, "Successfully applied %d resource(s): %s\n", len(objs), strings.Join(parts, ", "))
	for _, o := range objs {
		if strings.Contains(v3.KindOf(o), "Policy") {
			fmt.Fprintf(w, "  %s\n", v3.KeyOf(o))
		}
	}
}

// printChanges lists the probes whose outcome differs between two
// matrices.
func printChanges(w io.Writer, before, after *testbed.Matrix) {
	was := map[string]bool{}
	for _, c := range before.Cells {
		was[c.Probe.String()] = c.Connected
	}
	verdict := func(connected bool) string {
		if connected {
			return "allowed"
		}
		return "denied"
	}
	var lines []string
	for _, c := range after.Cells {
		if old, ok := was[c.Probe.String()]; ok && old != c.Connected && c.Skipped == "" {
			lines = append(lines, fmt.Sprintf("  %s: %s, now %s (engine: %s)", c.Probe, verdict(old), verdict(c.Connected), c.Predicted.Reason))
		}
	}
	fmt.Fprintf(w, "What the change did on the packets: %d probe(s) changed\n", len(lines))
	for _, l := range lines {
		fmt.Fprintln(w, l)
	}
	fmt.Fprintln(w)
}
