// Command tabby-node is Tabby's per-host process, the counterpart of
// calico-node.
//
// # Layout
//
// main.go turns SIGINT and SIGTERM into the cancellation of a context and
// runs the command tree against explicit streams and environment, so that
// tests run it in-process:
//
//	main ─► run(ctx, args, env) ─► newRootCommand(env)   (root.go)
//	                                  └─ newDatastoreCommand (datastore.go)
//
// The root command is where the host agent (watch the datastore, compute
// policy, program nftables) runs; each other mode is a subcommand in its own
// file. There is no package-level state.
//
// # Datastore mode
//
// "tabby-node datastore" runs the embedded etcd of a single-machine
// installation (datastore/etcd/embedded) and nothing else, until it is
// signalled: the data directory keeps every resource and revision across
// restarts. It refuses to start when ETCD_ENDPOINTS names an external
// datastore, since the agents would then not use the embedded one.
//
// # Exit status
//
// 0 after a clean shutdown, 1 when the command line is wrong, the command
// could not start, or its server failed.
package main
