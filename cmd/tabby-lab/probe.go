//go:build linux

package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/tabby-project/tabby/internal/testbed"
)

type probeOptions struct {
	runID string
	req   testbed.ProbeRequest
}

func newProbeCommand(e env) *cobra.Command {
	var o probeOptions
	cmd := &cobra.Command{
		Use:   "probe --from NS/NAME --to NS/NAME|IP [--protocol P] [--port N]",
		Short: "Send a probe between workloads of the running lab and compare with the engine",
		Long: `Send one probe of real packets from a workload of the running lab (see
tabby-lab up) and print what happened beside the verdict Tabby's engine
gives for it from the same datastore content.

Before probing, tabby-lab waits until every host's agent has programmed
what the datastore holds, so a policy just applied with calicoctl is in
force. A TCP or SCTP probe connects; a UDP probe sends a datagram the
workload must echo; an ICMP probe sends an echo request. Each waits at most
300 ms: a dropped packet shows as a timeout. To a workload with addresses
in both families, one probe per address is sent.

Exit status: 0 when the packets did what the engine predicted (whether
connected or not), 1 when they did not, 2 on error.`,
		Example: `  tabby-lab probe --from x/a --to y/b --protocol TCP --port 80
  tabby-lab probe --from x/a --to 10.100.2.2 --protocol UDP --port 53
  tabby-lab probe --from x/a --to y/b --protocol ICMP`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runProbe(cmd.Context(), e, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.req.From, "from", "", "source workload, namespace/name")
	f.StringVar(&o.req.To, "to", "", "destination workload (namespace/name) or IP address")
	f.StringVar(&o.req.Protocol, "protocol", "TCP", "TCP, UDP, SCTP or ICMP")
	f.Uint16Var(&o.req.Port, "port", 0, "destination port (not for ICMP)")
	f.StringVar(&o.runID, "run", upRunID, "the lab, as named by up --run")
	cmd.MarkFlagRequired("from")
	cmd.MarkFlagRequired("to")
	return cmd
}

func runProbe(ctx context.Context, e env, o probeOptions) error {
	r, err := attach(e, o.runID)
	if err != nil {
		return err
	}
	m, err := testbed.NewClient(r.Socket).Probe(ctx, o.req)
	if err != nil {
		return err
	}
	for _, c := range m.Cells {
		got := "connected"
		switch {
		case c.Skipped != "":
			got = "not sent: " + c.Skipped
		case !c.Connected:
			got = "did not connect (" + c.Error + ")"
		}
		mark := ""
		if c.Disagrees() {
			mark = "   <-- the packets disagree with the engine"
		}
		fmt.Fprintf(e.stdout, "%s: %s; engine: %s%s\n", c.Probe, got, c.Predicted.Reason, mark)
	}
	if len(m.Disagreements()) > 0 {
		return &exitError{code: 1}
	}
	return nil
}
