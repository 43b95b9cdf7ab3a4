package main

import (
	"github.com/spf13/cobra"
)

// newRootCommand builds the tabby-node command tree. The root command will
// run the host agent; each other mode is a subcommand from its own file.
func newRootCommand(e env) *cobra.Command {
	root := &cobra.Command{
		Use:   "tabby-node",
		Short: "Tabby's per-host node: Calico network policy enforced with nftables",
		Long: `tabby-node is Tabby's counterpart of calico-node: it runs on every host and
enforces the Calico network policy of the datastore on the host's
workloads and interfaces.

It is configured like calico-node: NODENAME (else the hostname) names the
host, DATASTORE_TYPE=etcdv3 and ETCD_ENDPOINTS name the datastore, with
ETCD_CA_CERT_FILE, ETCD_CERT_FILE and ETCD_KEY_FILE for TLS.

On a single machine nothing else is needed: without ETCD_ENDPOINTS the
datastore is an etcd embedded in tabby-node, serving on
http://127.0.0.1:2379 with its data on disk. "tabby-node datastore" runs
only that datastore, for a machine that keeps the policy store and
enforces nothing.`,
		Example: `  # Run the datastore alone, keeping its data in /var/lib/tabby/etcd
  tabby-node datastore

  # Point calicoctl at it
  ETCD_ENDPOINTS=http://127.0.0.1:2379 calicoctl get tiers`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(e.stdout)
	root.SetErr(e.stderr)
	root.CompletionOptions.DisableDefaultCmd = true
	root.AddCommand(newDatastoreCommand(e))
	return root
}
