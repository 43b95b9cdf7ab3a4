package main

import (
	"context"
	"errors"

	"github.com/spf13/cobra"

	"github.com/tabby-project/tabby/analysis"
	"github.com/tabby-project/tabby/engine"
)

// traceOptions are the flags of calicoctl policy trace.
type traceOptions struct {
	analysisFlags
	flow               analysis.FlowSpec
	icmpType, icmpCode int
	httpMethod         string
	httpPath           string
}

func newPolicyTraceCommand(s streams) *cobra.Command {
	var o traceOptions
	cmd := &cobra.Command{
		Use:   "trace --from SOURCE --to DESTINATION [--protocol TCP] [--port PORT] -f FILENAME",
		Short: "Decide one flow and show every tier, policy and rule consulted",
		Long: `Decide whether a flow would be allowed, as Felix decides it, and show how:
egress policy at the source, then ingress policy at the destination, each a tree
of the tiers, policies and rules consulted in order, with the first field that
did not match for every rule that did not, and the reason of the verdict.

A flow is allowed when both directions allow it. In each direction the tiers
are walked in order; in a tier the first Allow or Deny rule decides, Pass goes
to the next tier, and a tier whose policies apply but decide nothing denies
("end of tier"). When no tier applies, or all passed, the endpoint's profiles
decide (a Kubernetes namespace profile allows everything); then the flow is
denied.

SOURCE and DESTINATION are endpoints: "namespace/pod" (or namespace/workload)
for a workload, a name for a host endpoint, or a name alone for a workload of
the namespace given with -n; or IP addresses. An address that no endpoint
holds is outside the cluster: no policy applies on its side.

With -o json the output is an object with "verdict" ("Allow" or "Deny"),
"egress" and "ingress" (what decided each direction), "trace" (the full
walk), "staged" (the verdict with staged policies enforced, when any concern
the flow), and the flow itself.`,
		Example: `  # Can x/a open a TCP connection to y/b on port 80?
  calicoctl policy trace --from x/a --to y/b --protocol TCP --port 80 -f examples/demo/

  # The same by address, as JSON
  calicoctl policy trace --from 10.100.1.1 --to 10.100.2.2 --port 80 -f examples/demo/ -o json

  # A ping, and an HTTP request for layer-7 rules
  calicoctl policy trace --from x/a --to x/b --protocol ICMP --icmp-type 8 --icmp-code 0 -f policies/
  calicoctl policy trace --from prod/web --to prod/api --port 8080 --http-method GET --http-path /users -f policies/`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cmd.Flags().Changed("icmp-type") {
				o.flow.ICMP = &engine.ICMP{Type: o.icmpType, Code: o.icmpCode}
			} else if cmd.Flags().Changed("icmp-code") {
				return errors.New("--icmp-code needs --icmp-type")
			}
			if o.httpMethod != "" || o.httpPath != "" {
				o.flow.HTTP = &engine.HTTPRequest{Method: o.httpMethod, Path: o.httpPath}
			}
			return runPolicyTrace(cmd.Context(), s, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.flow.From, "from", "", "source: namespace/pod, host endpoint name, or IP address")
	f.StringVar(&o.flow.To, "to", "", "destination: namespace/pod, host endpoint name, or IP address")
	f.StringVar(&o.flow.Protocol, "protocol", "TCP", "protocol: TCP, UDP, SCTP, ICMP, ICMPv6, UDPLite or a number")
	f.IntVar(&o.flow.Port, "port", 0, "destination port (TCP, UDP and SCTP)")
	f.IntVar(&o.flow.SrcPort, "src-port", 0, "source port (TCP, UDP and SCTP)")
	f.IntVar(&o.icmpType, "icmp-type", 0, "ICMP type (ICMP and ICMPv6)")
	f.IntVar(&o.icmpCode, "icmp-code", 0, "ICMP code (with --icmp-type)")
	f.StringVar(&o.httpMethod, "http-method", "", "HTTP method of the request, for rules with an http match")
	f.StringVar(&o.httpPath, "http-path", "", "HTTP path of the request, for rules with an http match")
	o.add(f)
	o.addNamespace(f, "endpoints")
	for _, name := range []string{"from", "to"} {
		if err := cmd.MarkFlagRequired(name); err != nil {
			// The flags are defined just above; failing to find one is a bug.
			panic(err)
		}
	}
	return cmd
}

func runPolicyTrace(ctx context.Context, s streams, o traceOptions) error {
	if err := checkOutput(o.output); err != nil {
		return err
	}
	m, err := loadModel(ctx, s, o.analysisFlags)
	if err != nil {
		return err
	}
	o.flow.Namespace = o.namespace
	res, err := m.Trace(o.flow)
	if err != nil {
		return err
	}
	return printResult(s.out, o.output, res)
}
