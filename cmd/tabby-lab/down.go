//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/tabby-project/tabby/internal/testbed"
	"github.com/tabby-project/tabby/lab"
)

func newDownCommand(e env) *cobra.Command {
	var runID string
	cmd := &cobra.Command{
		Use:   "down [--run NAME]",
		Short: "Stop the running labs and remove what crashed runs left",
		Long: `Stop every lab tabby-lab is running on this machine (up, demo, bench), or
only the one --run names, and remove everything they made.

A running lab's process is asked to end (SIGTERM) and tears its lab down
itself; one that does not end within 30 s is killed. Then whatever a run
left behind, if its process crashed or was killed, is removed: its network
namespaces (and with them every interface, route, nftables table and
socket in them), the embedded etcd's data and its record in
/run/tabby-lab. Namespaces of the default runs (lab, demo, bench) are
removed even without a record. Nothing else is touched.`,
		Example: `  tabby-lab down
  tabby-lab down --run mine`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDown(cmd.Context(), e, runID)
		},
	}
	cmd.Flags().StringVar(&runID, "run", "", "only this lab (default: all)")
	return cmd
}

func runDown(ctx context.Context, e env, runID string) error {
	var runs []*testbed.Run
	var err error
	if runID == "" {
		runs, err = testbed.LoadRuns(e.runDir)
	} else {
		var r *testbed.Run
		r, err = testbed.LoadRun(e.runDir, runID)
		if err == nil {
			runs = []*testbed.Run{r}
		} else if errors.Is(err, testbed.ErrNoRun) {
			err = nil
		}
	}
	if err != nil {
		return err
	}
	var errs []error
	removed := 0
	for _, r := range runs {
		if r.Alive() {
			fmt.Fprintf(e.stderr, "tabby-lab: stopping lab %q (pid %d)\n", r.ID, r.PID)
			if err := r.Stop(ctx); err != nil {
				errs = append(errs, err)
				continue
			}
		} else {
			fmt.Fprintf(e.stderr, "tabby-lab: lab %q crashed (pid %d is gone); removing its leftovers\n", r.ID, r.PID)
		}
		if err := r.Remove(); err != nil {
			errs = append(errs, err)
			continue
		}
		removed++
	}
	ids := []string{upRunID, demoRunID, benchRunID}
	if runID != "" {
		ids = []string{runID}
	}
	for _, id := range ids {
		left, err := lab.ListNetNS(lab.PrefixFor(id))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if len(left) == 0 {
			continue
		}
		fmt.Fprintf(e.stderr, "tabby-lab: removing %d namespaces of lab %q\n", len(left), id)
		if err := lab.Cleanup(lab.PrefixFor(id)); err != nil {
			errs = append(errs, err)
			continue
		}
		removed++
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if removed == 0 {
		fmt.Fprintln(e.stdout, "no lab to remove")
		return nil
	}
	fmt.Fprintln(e.stdout, "done: nothing of the removed labs is left")
	return nil
}
