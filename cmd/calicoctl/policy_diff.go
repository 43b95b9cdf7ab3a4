package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/tabby-project/tabby/analysis"
)

// datastoreSource is the --from/--to value that names the datastore.
const datastoreSource = "datastore"

// diffOptions are the flags of calicoctl policy diff.
type diffOptions struct {
	from, to  string
	recursive bool
	output    string
	config    string
	ports     []int
	protocols []string
	all       bool
}

func newPolicyDiffCommand(s streams) *cobra.Command {
	var o diffOptions
	cmd := &cobra.Command{
		Use:   "diff --from DIR|FILE|datastore --to DIR|FILE|datastore [--ports 80,443] [--protocols TCP,UDP]",
		Short: "Show what a change would break: every flow whose verdict differs between two sets of resources",
		Long: `Decide every flow between every pair of endpoints in two sets of resources, the
one of --from and the one of --to, and list each flow whose verdict differs,
with the rule, end of tier, profile or default that decided it on each side.
Either side is a file or directory of resources, as -f reads them, or the word
"datastore" for the resources of the datastore.

Flows are endpoint pairs (matched by name; endpoints of one side only are
listed, not compared) times flow classes: for TCP, UDP and SCTP one port of
every range of destination ports that the rules of either side treat alike
(the ports and port ranges they name, named ports resolved through the ports
the endpoints declare, and the ports between them); ICMP once. --ports and
--protocols choose the classes instead.

Staged policies (StagedNetworkPolicy, StagedGlobalNetworkPolicy) are never
enforced; the command also lists the flows of --to whose verdict its staged
policies would change if they were, enforced and staged outcome side by side.

--all also lists flows whose verdict is the same on both sides but decided by
another policy, rule or profile.`,
		Example: `  # What would applying my-change/ to the datastore break?
  calicoctl policy diff --from datastore --to my-change/

  # Compare two directories on TCP 80 and 443 only
  calicoctl policy diff --from before/ --to after/ --ports 80,443 --protocols TCP

  # What would the staged policies in the datastore change?
  calicoctl policy diff --from datastore --to datastore`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return runPolicyDiff(c.Context(), s, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.from, "from", "", `resources before the change: a file, a directory, "-" for standard input, or "datastore"`)
	f.StringVar(&o.to, "to", "", `resources after the change: a file, a directory, "-" for standard input, or "datastore"`)
	f.BoolVarP(&o.recursive, "recursive", "R", false, "with a directory, also read the files of its subdirectories")
	f.IntSliceVar(&o.ports, "ports", nil, "destination ports to compare, comma-separated (default: one per port class of the rules)")
	f.StringSliceVar(&o.protocols, "protocols", nil, "protocols to compare, comma-separated (default TCP,UDP,SCTP,ICMP)")
	f.BoolVar(&o.all, "all", false, "also list flows with the same verdict but another deciding rule")
	f.StringVarP(&o.output, "output", "o", "text", "output format: text or json")
	addConfigFlag(f, &o.config)
	_ = cmd.MarkFlagRequired("from")
	_ = cmd.MarkFlagRequired("to")
	return cmd
}

func runPolicyDiff(ctx context.Context, s streams, o diffOptions) error {
	if err := checkOutput(o.output); err != nil {
		return err
	}
	load := func(flag, src string) (*analysis.Model, error) {
		a := analysisFlags{recursive: o.recursive, config: o.config}
		if src != datastoreSource {
			a.filenames = []string{src}
		}
		m, err := loadModel(ctx, s, a)
		if err != nil {
			return nil, fmt.Errorf("--%s %s: %w", flag, src, err)
		}
		return m, nil
	}
	from, err := load("from", o.from)
	if err != nil {
		return err
	}
	to, err := load("to", o.to)
	if err != nil {
		return err
	}
	rep, err := analysis.Diff(ctx, from, to, analysis.DiffOptions{Ports: o.ports, Protocols: o.protocols, All: o.all})
	if err != nil {
		return err
	}
	return printResult(s.out, o.output, rep)
}
