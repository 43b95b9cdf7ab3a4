package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
)

// matrixOptions are the flags of calicoctl policy matrix.
type matrixOptions struct {
	analysisFlags
	ports     []int
	protocols []string
}

func newPolicyMatrixCommand(s streams) *cobra.Command {
	var o matrixOptions
	cmd := &cobra.Command{
		Use:   "matrix -f FILENAME [--ports 80,81] [--protocols TCP,UDP]",
		Short: "Print who can reach whom: the verdict between every pair of endpoints",
		Long: `Decide the flow from every endpoint to every other one, for every protocol and
port asked for, and print one grid per protocol and port, as the Kubernetes
network-policy conformance tests print them: a row per source, a column per
destination, "." where the flow is allowed, "X" where it is denied, "-" from an
endpoint to itself (not evaluated). When endpoint names are too long to head
columns, the columns are numbered and each row starts with its number.

Each verdict is the one "calicoctl policy trace" explains for that flow.
Protocols without ports (ICMP...) get one grid whatever --ports says.

With -o json the output is the list of flows, each
{"from", "to", "protocol", "port", "verdict"} with verdict "Allow" or "Deny".
While the matrix is computed, progress is shown on stderr if it is a terminal.`,
		Example: `  # The demo cluster: namespaces x, y, z with pods a, b, c, on TCP ports 80 and 81
  calicoctl policy matrix --ports 80,81 -f examples/demo/

  # The seed policies with their endpoints, DNS and Redis included
  calicoctl policy matrix --ports 53,80,6379 --protocols TCP,UDP -f examples/seeds/

  # Every verdict as JSON, for a script
  calicoctl policy matrix -f policies/ -f pods.yaml -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runPolicyMatrix(cmd.Context(), s, o)
		},
	}
	f := cmd.Flags()
	f.IntSliceVar(&o.ports, "ports", []int{80}, "destination ports, comma-separated")
	f.StringSliceVar(&o.protocols, "protocols", []string{"TCP"}, "protocols, comma-separated: TCP, UDP, SCTP, ICMP, ICMPv6, UDPLite or numbers")
	o.add(f)
	return cmd
}

func runPolicyMatrix(ctx context.Context, s streams, o matrixOptions) error {
	if err := checkOutput(o.output); err != nil {
		return err
	}
	m, err := loadModel(ctx, s, o.analysisFlags)
	if err != nil {
		return err
	}
	var progress func(done, total int)
	if isTerminal(s.err) {
		progress = func(done, total int) {
			fmt.Fprintf(s.err, "\rmatrix: %d of %d flows decided", done, total)
			if done == total {
				fmt.Fprint(s.err, "\r\033[K")
			}
		}
	}
	x, err := m.Matrix(ctx, o.ports, o.protocols, progress)
	if err != nil {
		return err
	}
	if o.output == "json" {
		return printJSON(s.out, x.Cells)
	}
	x.Format(s.out)
	return nil
}

// isTerminal reports whether w is a character device, such as a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
