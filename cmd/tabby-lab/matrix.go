//go:build linux

package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/tabby-project/tabby/internal/testbed"
)

type matrixOptions struct {
	runID  string
	output string
}

func newMatrixCommand(e env) *cobra.Command {
	var o matrixOptions
	cmd := &cobra.Command{
		Use:   "matrix",
		Short: "Probe every pair of workloads of the running lab beside the engine's prediction",
		Long: `Send real probes between every pair of workloads of the running lab (see
tabby-lab up): from each workload to every other one, on each address of
the destination the source has a family for, on each of the destination's
ports (TCP, UDP, and SCTP when the kernel has SCTP), and an ICMP echo. The
probes run in parallel, each waiting at most 300 ms.

Before probing, tabby-lab waits until every host's agent has programmed
what the datastore holds, then loads the same content into Tabby's engine,
whose verdict for each probe is printed beside the packets' outcome: one
grid per protocol and port, rows from, columns to, "." allowed, "X"
denied, "!" where the packets disagree with the engine. Each disagreement
is then listed with the engine's reason.

Exit status: 0 when the packets agree with the engine everywhere, 1 on any
disagreement, 2 on error.`,
		Example: `  tabby-lab matrix
  tabby-lab matrix -o json | jq '.cells[] | select(.connected != .predicted.allowed)'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runMatrix(cmd.Context(), e, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.runID, "run", upRunID, "the lab, as named by up --run")
	f.StringVarP(&o.output, "output", "o", "table", "table or json")
	return cmd
}

func runMatrix(ctx context.Context, e env, o matrixOptions) error {
	if o.output != "table" && o.output != "json" {
		return fmt.Errorf("--output %q: want table or json", o.output)
	}
	r, err := attach(e, o.runID)
	if err != nil {
		return err
	}
	fmt.Fprintln(e.stderr, "tabby-lab: waiting for the agents, then probing every pair")
	m, err := testbed.NewClient(r.Socket).Matrix(ctx)
	if err != nil {
		return err
	}
	if o.output == "json" {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(m); err != nil {
			return err
		}
	} else {
		m.Print(e.stdout)
	}
	if len(m.Disagreements()) > 0 {
		return &exitError{code: 1}
	}
	return nil
}
