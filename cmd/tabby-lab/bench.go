//go:build linux

package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/spf13/cobra"

	"github.com/tabby-project/tabby/internal/testbed"
)

func newBenchCommand(e env) *cobra.Command {
	var o testbed.BenchOptions
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure the dataplane: throughput, connection rate, update latency, ruleset size",
		Long: `Build a three-host lab of its own and measure, in one run, each figure as
a ratio against a baseline measured in the same run:

  throughput       TCP between two workloads on different hosts, one
                   connection for --duration (a Go sender and receiver in the
                   workloads' namespaces), without policy and then with
                   --policies policies applying to the receiver and
                   --set-members addresses in the network sets their rules
                   select (target: ratio >= 0.9)
  connection rate  new TCP connections per second between the same two, in
                   the same two states (every SYN meets every policy)
  update latency   with --endpoints more endpoints programmed on the
                   receiver's host, --changes policy changes (a deny of the
                   sender, applied then deleted) timed from the datastore
                   write to their effect on the packets: p50 and p99
  ruleset size     the table of one host as namespaces of 25 endpoints and
                   25 policies are added: it must grow with the namespaces,
                   not with endpoints x policies

Each traffic figure is the median of --rounds rounds, which alternate
between no policy and the load (written, then deleted again), so that a
machine whose speed drifts biases neither side; every round is printed.
On a busy machine single rounds vary by tens of percent: compare the
rounds before reading much into a ratio. The run takes under a minute and
removes its lab at the end (or on Ctrl-C).`,
		Example: `  tabby-lab bench
  tabby-lab bench --policies 200 --set-members 2000 --duration 1s   # quicker`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runBench(cmd.Context(), e, o)
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.Endpoints, "endpoints", 1000, "extra endpoints on the receiver's host")
	f.IntVar(&o.Policies, "policies", 1000, "policies applying to the receiver")
	f.IntVar(&o.SetMembers, "set-members", 10000, "addresses in the network sets the policies' rules select (in 100 sets)")
	f.IntVar(&o.Changes, "changes", 20, "policy changes to time")
	f.IntVar(&o.Rounds, "rounds", 5, "rounds of each traffic measurement")
	f.DurationVar(&o.Duration, "duration", 2*time.Second, "length of a throughput round (a connection-rate round is half)")
	f.StringVar(&o.RunID, "run", benchRunID, "name of the benchmark's lab")
	return cmd
}

func runBench(ctx context.Context, e env, o testbed.BenchOptions) error {
	r, err := begin(e, o.RunID, "")
	if err != nil {
		return err
	}
	defer end(e, r)
	if o.Etcd, err = etcdFromEnv(e.getenv); err != nil {
		return err
	}
	o.DataDir = r.DataDir
	o.Logger = slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	o.Progress = progress(e.stderr)
	rep, err := testbed.Bench(ctx, o)
	if err != nil {
		return err
	}
	rep.Print(e.stdout)
	return nil
}
