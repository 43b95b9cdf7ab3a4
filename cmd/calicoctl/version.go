package main

import (
	"fmt"
	"runtime/debug"

	"github.com/spf13/cobra"
)

func newVersionCommand(s streams) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of calicoctl",
		Long: `Print the version of this calicoctl and the source revision it was built from.

The output starts with the same "Client Version:" and "Git commit:" lines as
Calico's calicoctl, followed by a line saying that this is Tabby's calicoctl.`,
		Example: `  calicoctl version`,
		Args:    cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			version, commit := buildVersion()
			_, err := fmt.Fprintf(s.out, "Client Version:    %s\nGit commit:        %s\n"+
				"This is Tabby's calicoctl, for Calico's projectcalico.org/v3 API.\n", version, commit)
			return err
		},
	}
}

// buildVersion reads the module version and VCS revision that the Go
// toolchain recorded in the binary.
func buildVersion() (version, commit string) {
	version, commit = "unknown", "unknown"
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return version, commit
	}
	if v := info.Main.Version; v != "" {
		version = v
	}
	dirty := false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			commit = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if dirty && commit != "unknown" {
		commit += "-dirty"
	}
	return version, commit
}
