package main

import (
	"io"
	"strconv"

	"github.com/spf13/cobra"
)

// streams are the standard streams a command reads and writes.
type streams struct {
	in       io.Reader
	out, err io.Writer
}

// exitError ends a command that has already reported its problems, with
// the given exit status.
type exitError struct {
	code int
}

func (e *exitError) Error() string { return "exit status " + strconv.Itoa(e.code) }

// newRootCommand builds the calicoctl command tree. Each verb comes from its
// own constructor in its own file; to add a verb, write newXCommand(s) in
// x.go and list it here.
func newRootCommand(s streams) *cobra.Command {
	root := &cobra.Command{
		Use:   "calicoctl",
		Short: "Manage Calico network policy resources with Tabby",
		Long: `calicoctl creates, reads, updates and deletes the projectcalico.org/v3
resources that define Calico network policy: NetworkPolicy, GlobalNetworkPolicy,
their Staged variants, Tier, NetworkSet, GlobalNetworkSet, Profile,
WorkloadEndpoint, HostEndpoint and FelixConfiguration.

This is Tabby's calicoctl. It reads the same YAML and JSON files as Calico's,
takes the same flags, and prints the same output and messages, so scripts
written for Calico keep working.`,
		Example: `  # Check policy files before applying them
  calicoctl validate -f policies/ -R

  # Show which calicoctl this is
  calicoctl version`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(s.in)
	root.SetOut(s.out)
	root.SetErr(s.err)
	root.CompletionOptions.DisableDefaultCmd = true

	root.AddCommand(
		newCreateCommand(s),
		newApplyCommand(s),
		newReplaceCommand(s),
		newDeleteCommand(s),
		newGetCommand(s),
		newPatchCommand(s),
		newLabelCommand(s),
		newValidateCommand(s),
		newConvertCommand(s),
		newPolicyCommand(s),
		newFlowsCommand(s),
		newVersionCommand(s),
	)
	return root
}
