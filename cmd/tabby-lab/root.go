//go:build linux

package main

import (
	"github.com/spf13/cobra"
)

// newRootCommand builds the tabby-lab command tree; each command is in a
// file of its own.
func newRootCommand(e env) *cobra.Command {
	root := &cobra.Command{
		Use:   "tabby-lab",
		Short: "A testbed of network namespaces where Tabby enforces Calico policy on real packets",
		Long: `tabby-lab builds a small cluster on this machine out of Linux network
namespaces and runs Tabby on it, so that Calico policy can be tried on real
packets and checked against Tabby's engine.

A topology file lists hosts and, on each, workloads (namespace, name,
labels, IPs, ports, service account) and host endpoints. tabby-lab makes
one network namespace per host, where that host's nftables ruleset lives,
and one per workload, joined to its host by a veth pair whose host side is
named cali... as Calico names a pod's; the hosts are routed to each other
over a bridge in a namespace of its own. Every workload listens on its
ports (TCP accepts, UDP echoes, SCTP accepts when the kernel has SCTP).

The datastore is an etcd embedded in tabby-lab, on a free loopback port,
unless ETCD_ENDPOINTS names one (with ETCD_CA_CERT_FILE, ETCD_CERT_FILE and
ETCD_KEY_FILE for TLS). tabby-lab writes to it what Calico would hold for
the topology: a WorkloadEndpoint per workload, a HostEndpoint per host
endpoint, the profiles kns.<namespace> (allow all) and ksa.<ns>.<sa>.
Each host runs an agent (Tabby's tabby-node loop: datastore, engine,
nftables) as a goroutine of the tabby-lab process, programming the
nftables of its host's namespace. Policy written with calicoctl reaches
the packets within milliseconds.

Nothing outside the lab's namespaces is touched: not this machine's
interfaces, routes or nftables ruleset. The lab needs root.

  up      build a lab from a topology and keep it running (Ctrl-C ends it)
  probe   send one probe between workloads of the running lab
  matrix  probe every pair, beside the engine's prediction
  down    stop the running lab and remove leftovers of crashed runs
  demo    the seed policies on a two-host lab, before and after a change
  bench   throughput, connection rate, update latency, ruleset size`,
		Example: `  # The demo: seed policies on a two-host lab, a change, and the matrices
  tabby-lab demo

  # A lab of your own, in one terminal...
  tabby-lab up -t examples/lab/two-hosts.yaml
  # ...and policy and probes from another
  export ETCD_ENDPOINTS=$(tabby-lab endpoints)
  calicoctl apply -f my-policy.yaml
  tabby-lab probe --from x/a --to y/b --protocol TCP --port 80
  tabby-lab matrix
  tabby-lab down`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(e.stdout)
	root.SetErr(e.stderr)
	root.CompletionOptions.DisableDefaultCmd = true
	root.AddCommand(
		newUpCommand(e),
		newEndpointsCommand(e),
		newProbeCommand(e),
		newMatrixCommand(e),
		newDownCommand(e),
		newDemoCommand(e),
		newBenchCommand(e),
	)
	return root
}
