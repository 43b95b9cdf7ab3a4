// Command tabby-lab is Tabby's testbed on one Linux machine: a cluster of
// hosts and workloads made of network namespaces, Calico policy from an
// etcd datastore enforced by one agent per host with nftables, and probes
// of real packets printed beside the verdicts of Tabby's engine. It is the
// demo ("tabby-lab demo") and the tool behind the end-to-end tests.
//
// # Layout
//
// main.go turns SIGINT and SIGTERM into the cancellation of a context and
// runs the command tree against explicit streams, environment and run
// directory, so that tests run it in-process. Each command is a file; the
// work is done by internal/testbed (the stack, matrices, benchmarks, run
// records, the control socket) on top of package lab (the namespaces):
//
//	up         testbed.Up, then testbed.Serve until the context ends; Down
//	probe      testbed.Client.Probe    ─┐ through the socket of the
//	matrix     testbed.Client.Matrix   ─┘ running up process
//	endpoints  the running lab's etcd URLs, for ETCD_ENDPOINTS
//	down       testbed.Run.Stop (SIGTERM, then SIGKILL), testbed.Run.Remove
//	demo       testbed.Up, analysis.Decode + Apply, Matrix twice; Down
//	bench      testbed.Bench
//
// # How the hosts' agents run
//
// Each host's agent is Tabby's agent loop (package agent) running as a
// goroutine of the tabby-lab process that built the lab, with its own
// etcd client and an nftables dataplane bound to the host's namespace by
// file descriptor (nft.Config.NetNS). tabby-node has no agent mode yet; a
// process per host inside its namespace would be the alternative. Killing
// the tabby-lab process kills the agents as a crash would: their rules
// stay in the hosts' namespaces until "tabby-lab down" removes them.
//
// # Runs
//
// up, demo and bench record their run in /run/tabby-lab/<run>.json
// (TABBY_LAB_RUN_DIR overrides the directory) before making anything: the
// process id, the embedded etcd's data directory, the control socket. A
// run's namespaces are tb-<run>-...; the default runs are "lab", "demo"
// and "bench". down stops running labs and removes what crashed ones
// left; up, demo and bench remove the leftovers of a crashed run of their
// own name before they start.
//
// # Exit status
//
// 0 on success; 1 when the packets disagree with the engine (probe,
// matrix, demo); 2 on any other error.
//
// # Requirements
//
// Linux and root, like package lab; SCTP probes need the kernel's sctp
// module and are reported as not sent without it.
package main
