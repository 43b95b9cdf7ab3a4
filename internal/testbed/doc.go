// Package testbed runs Tabby on a lab (package lab): a datastore, the
// resources Calico would hold for the lab's topology, one agent per
// simulated host enforcing them with nftables in the host's network
// namespace, and probes of real packets compared with the engine's
// prediction from the same datastore content. It is the logic of
// cmd/tabby-lab and the harness of the end-to-end tests (package e2e).
//
//	l, err := testbed.Up(ctx, topo, testbed.Options{})  // namespaces, etcd, agents: ready
//	defer l.Down()
//	l.Apply(ctx, policy)                                // through the datastore, as calicoctl
//	m, err := l.Matrix(ctx, nil, nil)                    // waits for the agents, probes every pair
//	m.Print(os.Stdout)                                   // observed beside predicted
//
// # The stack
//
//	etcd (embedded, or Options.Etcd) ◄── Apply, Delete, the topology's endpoints
//	  │ one client per host
//	  ▼
//	agent.Run (node-1) ── nft.New(Config{NetNS: fd of tb-<run>-h-node-1}) ── nftables of node-1
//	agent.Run (node-2) ── nft.New(Config{NetNS: fd of tb-<run>-h-node-2}) ── nftables of node-2
//
// Each host's agent is the loop of tabby-node (package agent), run in this
// process as a goroutine, with its own etcd client and the host
// namespace's file descriptor for its nftables dataplane. With
// Options.NoAgents and Options.EtcdSocket, Up starts none and the etcd
// serves on a unix socket, so that the caller can run a tabby-node process
// inside each host's namespace instead (see e2e/process_test.go).
// StopAgent ends an agent as a crash would (its context ends, nothing is
// cleaned up, the rules stay) and StartAgent starts a new one, whose first
// programming replaces the table in one transaction.
//
// # Knowing what the agents enforce
//
// Every agent is given a datastore that notes the revision of each List
// and of each watch event once the agent has taken it, and a dataplane
// that notes, when a Sync starts, the revision received so far, and makes
// it the host's programmed revision when the Sync succeeds. The agent
// applies everything it received before it programs, so a Sync started
// after an event was taken includes it. WaitProgrammed writes a barrier
// (a FelixConfiguration named BarrierName, which configures nothing) and
// waits, with a deadline, until every running agent has programmed its
// revision; an agent that took the barrier but programmed before the note
// was made is caught by writing the barrier again after a second. So "the
// datastore's content at revision R is in the kernel of every host" is
// known, not guessed, before any probe is sent.
//
// # Matrices
//
// Matrix takes a consistent view: it waits for the agents, reads the
// whole datastore at that revision into a fresh engine (Snapshot), and
// starts again if anything was written in between. Each workload is
// mapped to the WorkloadEndpoint its host's dataplane enforces for it (by
// node and host-side interface); one without an endpoint is predicted
// cut off, as the dataplane drops traffic of unknown cali interfaces.
// Probes run in parallel with bounded concurrency and short timeouts; a
// probe the engine predicts allowed that times out is sent once more with
// a longer timeout, so that a starved CPU does not pass for a drop. SCTP
// probes are not sent on a kernel without SCTP (the cell says so and takes
// no part in the comparison). FlushConntrack empties the hosts' conntrack
// tables, so that a test's probes are judged as new connections and not
// let through as established ones by an entry from earlier probes.
//
// # Long-lived labs
//
// tabby-lab up keeps a lab in one process; other tabby-lab processes
// reach it through Serve and Client (HTTP over a unix socket readable only
// by root) and find it, or what it left if it crashed, through its Run
// record in DefaultRunDir, written before anything is made.
//
// # Benchmarks
//
// Bench builds a three-host lab of its own and measures, in one run,
// throughput and connection rate without and with a policy load, the time
// from a policy change's datastore write to its effect on packets, and
// the ruleset's size as the cluster grows (see BenchOptions, BenchReport).
//
// # Requirements
//
// Up, Bench and everything that probes need Linux and root, like package
// lab, whose namespaces hold every interface, route, nftables table and
// socket the testbed makes: nothing of the machine's own network is
// touched. Down (or, after a crash, Run.Remove) removes it all.
package testbed
