//go:build linux

package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

func newEndpointsCommand(e env) *cobra.Command {
	var runID string
	var wait time.Duration
	cmd := &cobra.Command{
		Use:   "endpoints",
		Short: "Print the running lab's etcd client URLs, for ETCD_ENDPOINTS",
		Long: `Print the client URLs of the running lab's datastore, comma-separated, as
calicoctl and tabby-node read them from ETCD_ENDPOINTS. A lab that is still
starting (tabby-lab up in the background) is waited for, up to --wait.`,
		Example: `  tabby-lab up -t examples/lab/seeds.yaml &
  export ETCD_ENDPOINTS=$(tabby-lab endpoints)
  calicoctl get workloadendpoints -A`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			deadline := time.Now().Add(wait)
			for {
				r, err := attach(e, runID)
				if err == nil && len(r.Etcd) > 0 {
					fmt.Fprintln(e.stdout, strings.Join(r.Etcd, ","))
					return nil
				}
				if err == nil {
					err = fmt.Errorf("lab %q is still starting: its datastore is not up yet", runID)
				}
				if time.Now().After(deadline) {
					return err
				}
				select {
				case <-cmd.Context().Done():
					return err
				case <-time.After(200 * time.Millisecond):
				}
			}
		},
	}
	cmd.Flags().StringVar(&runID, "run", upRunID, "the lab, as named by up --run")
	cmd.Flags().DurationVar(&wait, "wait", time.Minute, "how long to wait for a lab that is starting (0: do not wait)")
	return cmd
}
