package main

import (
	"github.com/spf13/cobra"
)

// newRootCommand builds the tabby-node command tree. The root command runs
// the host agent; each other mode is a subcommand from its own file.
func newRootCommand(e env) *cobra.Command {
	var o agentOptions
	root := &cobra.Command{
		Use:   "tabby-node",
		Short: "Tabby's per-host node: Calico network policy enforced with nftables",
		Long: `tabby-node is Tabby's counterpart of calico-node: it runs on every host and
enforces the Calico network policy of the datastore on the host's
workloads and interfaces.

It is configured like calico-node: NODENAME (else the hostname) names the
host, DATASTORE_TYPE=etcdv3 and ETCD_ENDPOINTS name the datastore, with
ETCD_CA_CERT_FILE, ETCD_CERT_FILE and ETCD_KEY_FILE for TLS.

Run without a subcommand, tabby-node is the agent: it lists and watches the
datastore, computes the policy of the WorkloadEndpoints and HostEndpoints
whose spec.node is NODENAME, and programs it as nftables rules in the table
"inet tabby" of its network namespace, touching nothing else. It programs
policy before it reports ready (TABBY_READY_FILE), and the rules stay when
it stops, so a dead or restarting agent never opens traffic. FELIX_<FIELD>
variables (FAILSAFEINBOUNDHOSTPORTS, DROPACTIONOVERRIDE, LOGPREFIX, ...)
override the datastore's FelixConfiguration; Log rules go to nflog group
TABBY_NFLOG_GROUP (default 20) and become JSON flow-log lines on standard
output (TABBY_FLOW_LOG_FILE) and are aggregated into flows; Prometheus
metrics are served on http://127.0.0.1:9091/metrics, and a web view (the
host's endpoints and their policies, the connectivity matrix, the flow log,
the trace of a flow) with its JSON flow API (/api/flows, read by
"calicoctl flows") on http://127.0.0.1:9092 (TABBY_UI_ADDR; none turns it
off).

On a single machine nothing else is needed: without ETCD_ENDPOINTS the
datastore is an etcd embedded in tabby-node, serving on
http://127.0.0.1:2379 with its data on disk. "tabby-node datastore" runs
only that datastore, for a machine that keeps the policy store and
enforces nothing.`,
		Example: `  # Enforce policy on this host, with the embedded datastore
  NODENAME=node-1 tabby-node

  # Enforce policy from an external etcd cluster, over TLS
  NODENAME=node-1 ETCD_ENDPOINTS=https://10.0.0.5:2379 ETCD_CA_CERT_FILE=ca.pem \
    ETCD_CERT_FILE=node.pem ETCD_KEY_FILE=node-key.pem tabby-node

  # Run the datastore alone, keeping its data in /var/lib/tabby/etcd
  tabby-node datastore

  # Point calicoctl at it
  ETCD_ENDPOINTS=http://127.0.0.1:2379 calicoctl get tiers`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runAgent(cmd.Context(), e, o)
		},
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(e.stdout)
	root.SetErr(e.stderr)
	root.CompletionOptions.DisableDefaultCmd = true
	addAgentFlags(root, &o)
	root.AddCommand(newDatastoreCommand(e))
	return root
}
