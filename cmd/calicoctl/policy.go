package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/tabby-project/tabby/analysis"
)

// newPolicyCommand groups the commands that answer questions about policy:
// calicoctl policy trace|matrix|select|for. Each is built in its own
// policy_*.go file.
func newPolicyCommand(s streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy COMMAND",
		Short: "Ask what policy does: trace a flow, print who can reach whom, see what a policy selects",
		Long: `Answer the questions Calico users keep asking, by evaluating policy exactly as
Felix does, without touching any host:

  trace    would this flow be allowed, and why? (every tier, policy and rule consulted)
  matrix   what can reach what? (a grid of verdicts between every pair of endpoints)
  select   which endpoints does this policy apply to, and what do its rules match?
  for      which tiers, policies and profiles apply to this endpoint, in order?
  lint     what is unreachable, shadowed or a trap in this policy? (for CI: --fail-on)
  diff     what would this change break? (every flow whose verdict changes, and why)

Without -f the commands read every resource of the datastore, configured as
for every other calicoctl command (--config, ETCD_ENDPOINTS, ...), at one
revision. With -f they read files instead: Calico
projectcalico.org/v3 documents of any kind, and the Kubernetes objects Calico
builds policy from (v1 Namespace, Pod, ServiceAccount and networking.k8s.io/v1
NetworkPolicy), converted exactly as Calico converts them. One file may mix
both. Give -f several times to combine files and directories.

Endpoints are named "namespace/pod" for workloads (or namespace/workload for
ones that are not pods) and by name for host endpoints; a flow's peer may also
be an IP address.`,
		Example: `  # Who can reach whom in the datastore, on TCP 80
  calicoctl policy matrix

  # Why can't x/a reach y/b on TCP port 80?
  calicoctl policy trace --from x/a --to y/b --protocol TCP --port 80 -f examples/demo/

  # Who can reach whom, on TCP 80 and 81
  calicoctl policy matrix --ports 80,81 -f examples/demo/`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmd.Help()
		},
	}
	cmd.AddCommand(
		newPolicyTraceCommand(s),
		newPolicyMatrixCommand(s),
		newPolicySelectCommand(s),
		newPolicyForCommand(s),
		newPolicyLintCommand(s),
		newPolicyDiffCommand(s),
	)
	return cmd
}

// analysisFlags are the flags every policy analysis command takes.
type analysisFlags struct {
	filenames []string
	recursive bool
	namespace string
	output    string
	config    string
}

// add registers -f, -R and -o.
func (a *analysisFlags) add(f *pflag.FlagSet) {
	f.StringArrayVarP(&a.filenames, "filename", "f", nil,
		`file or directory of resources to analyse instead of the datastore, or "-" for standard input; repeat to combine`)
	f.BoolVarP(&a.recursive, "recursive", "R", false, "with a directory, also read the files of its subdirectories")
	f.StringVarP(&a.output, "output", "o", "text", "output format: text or json")
	addConfigFlag(f, &a.config)
}

// addNamespace registers -n; what says what it qualifies.
func (a *analysisFlags) addNamespace(f *pflag.FlagSet, what string) {
	f.StringVarP(&a.namespace, "namespace", "n", "", fmt.Sprintf(`namespace of %s named without one (default "default")`, what))
}

// loadModel builds the model the analysis commands question: from the -f
// inputs when there are any, else from every resource in the datastore the
// configuration names, read at one revision. Notes about file input go to
// stderr; problems are printed there, each naming its file and document,
// and end the command with status 1.
func loadModel(ctx context.Context, s streams, a analysisFlags) (*analysis.Model, error) {
	if len(a.filenames) == 0 {
		return loadStoreModel(ctx, s, a.config)
	}
	var files []analysis.File
	for _, name := range a.filenames {
		in, err := readInputs(s.in, name, a.recursive)
		if err != nil {
			return nil, err
		}
		for _, f := range in {
			files = append(files, analysis.File{Name: f.name, Data: f.data})
		}
	}
	objs, notes, err := analysis.Decode(files)
	for _, n := range notes {
		fmt.Fprintln(s.err, "Note: "+n)
	}
	var le *analysis.LoadError
	if errors.As(err, &le) {
		for _, p := range le.Problems {
			fmt.Fprintln(s.err, p.Error())
		}
		return nil, failf(s, "Loading failed: %d problem(s) in %d file(s)", len(le.Problems), len(files))
	}
	if err != nil {
		return nil, err
	}
	return analysis.New(objs)
}

// checkOutput refuses an output format the analysis commands do not print.
func checkOutput(format string) error {
	switch format {
	case "text", "json":
		return nil
	}
	return fmt.Errorf("unrecognized output format '%s': want text or json", format)
}

// formatter is a result that prints itself as text.
type formatter interface {
	Format(w io.Writer)
}

// printResult prints v as text or as indented JSON.
func printResult(w io.Writer, format string, v formatter) error {
	if format == "json" {
		return printJSON(w, v)
	}
	v.Format(w)
	return nil
}

func printJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode output as JSON: %w", err)
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// loadStoreModel reads every resource of the datastore in one consistent
// list, so the analysis sees a single revision even while others write.
func loadStoreModel(ctx context.Context, s streams, configPath string) (*analysis.Model, error) {
	store, err := connect(ctx, s, configPath)
	if err != nil {
		return nil, err
	}
	defer store.Close()
	l, err := store.List(ctx, "", "")
	if err != nil {
		return nil, fmt.Errorf("read the datastore: %w", err)
	}
	return analysis.New(l.Items)
}
