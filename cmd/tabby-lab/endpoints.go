//go:build linux

package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

func newEndpointsCommand(e env) *cobra.Command {
	var runID string
	cmd := &cobra.Command{
		Use:   "endpoints",
		Short: "Print the running lab's etcd client URLs, for ETCD_ENDPOINTS",
		Long: `Print the client URLs of the running lab's datastore, comma-separated, as
calicoctl and tabby-node read them from ETCD_ENDPOINTS.`,
		Example: `  export ETCD_ENDPOINTS=$(tabby-lab endpoints)
  calicoctl get workloadendpoints -A`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			r, err := attach(e, runID)
			if err != nil {
				return err
			}
			fmt.Fprintln(e.stdout, strings.Join(r.Etcd, ","))
			return nil
		},
	}
	cmd.Flags().StringVar(&runID, "run", upRunID, "the lab, as named by up --run")
	return cmd
}
