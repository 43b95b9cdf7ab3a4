// Package agent is the per-host loop of tabby-node: it watches the
// datastore, feeds the engine, and keeps the host's nftables dataplane
// equal to the policy the engine computes for the host's endpoints; it
// turns the packets Log rules send to nflog into flow-log lines and
// exports Prometheus metrics.
//
//	datastore ──List(rev)──► fresh engine ──► nft.Input ──Sync──► kernel   (then ready)
//	    │                       ▲    │ DrainSets, Drain,            ▲
//	    └──Watch(rev)──batch────┘    │ PoliciesFor, SetMembers      │
//	                                 └──────────────────────────────┘
//	nflog group ──FlowLogReader──► JSON lines         nft counters ──► /metrics
//
// # The loop
//
// Run lists every kind at one revision into a new engine, builds the
// dataplane Input of this host (its workload and host endpoints, those
// whose spec.node is Config.NodeName, with their computed policy; the
// profiles; the members of every rule selector set; the named ports of
// other hosts' endpoints) and syncs it. Then it watches from that
// revision: events are applied to the engine as they come, a burst of
// them (events less than Config.Coalesce apart, as those of one
// transaction are) is drained into the Input, and the Input is synced
// again. The dataplane diffs against what it programmed, so each Sync
// sends only what changed, in one atomic transaction.
//
// A watch that ends (a compaction, a broken stream, an unreachable
// datastore) starts a new session: a new full list into a new engine,
// then one Sync of the complete result. Lists fail while the datastore is
// down; the agent retries with exponential backoff (Config.RetryMin to
// Config.RetryMax) and does not touch the dataplane meanwhile.
//
// # Fail closed
//
// These hold, and the tests check them on real packets:
//
//   - The agent is ready (Agent.Ready, Config.OnReady, Config.ReadyFile)
//     only once its first Sync has succeeded: endpoints are never reported
//     ready before their policy is in the kernel.
//   - Nothing is ever removed on exit. Run returning, or the process
//     dying, leaves the last programmed rules enforcing; a new agent's
//     first Sync replaces the table in one transaction (the nft
//     dataplane's first Apply deletes and recreates it atomically), so a
//     restart never opens a flow the policy denies, not even briefly.
//   - Every Sync programs a state the datastore was in: the initial list,
//     a resync's list (a consistent snapshot at one revision), or the
//     state after a whole batch of watch events. A resync never programs a
//     partial view.
//   - A resource the engine refuses (written to the datastore without
//     validation) is treated as absent, as Calico's syncer drops invalid
//     resources; a local endpoint refused so is not rendered, and the
//     dataplane drops the forwarded traffic of workload interfaces it does
//     not know.
//
// The coalescing window is a heuristic: events of one transaction arrive
// back to back and land in one batch, but a transaction whose events are
// delayed by more than Coalesce could be programmed in two steps.
//
// # FelixConfiguration
//
// The dataplane configuration is Config.DataplaneConfig, overridden by the
// FelixConfiguration "default", then "node.<NodeName>", then Config.Felix
// (the FELIX_ environment variables), the later winning field by field
// (nft.Config.ApplyFelix): failsafe ports, logPrefix, dropActionOverride
// and defaultEndpointToHostAction. A dataplane's configuration is fixed
// when it is created, so when the effective configuration changes the
// agent creates a new dataplane, syncs the whole Input to it (replacing
// the table in one transaction) and only then closes the old one. A
// FelixConfiguration the dataplane refuses is ignored, with an error
// logged. Other FelixConfiguration fields (metrics port, nftablesMode)
// are read from the environment only, at start.
//
// # Flow logs
//
// With Config.FlowLog set, the agent binds nflog group
// DataplaneConfig.LogGroup in the dataplane's network namespace
// (go-nflog's netns option: the socket is created on a thread that entered
// the namespace) and writes one JSON FlowLog per logged packet: time,
// addresses, protocol, ports, direction, tier, policy (or profile), rule
// index and action. The log prefix is resolved against the programmed
// table (nft.Model.LogRef) and, for a prefix the table no longer has, read
// from its text (ParsePrefix). Flow logs are best effort: packets lost to
// a full socket buffer are not logged, and a failure to bind the group is
// retried without holding up enforcement.
//
// # Metrics
//
// With Config.Registerer set the agent registers the families listed in
// metrics.go (rules programmed, update latency, datastore connection,
// resyncs, syncs, per-policy packet and byte counters read from the
// nftables counters at scrape time). Handler and ServeMetrics serve a
// registry on /metrics; tabby-node serves it on DefaultMetricsAddr, on
// loopback.
//
// # Wiring it into tabby-node
//
// FromEnv reads NODENAME, the FELIX_ variables and Tabby's own (see its
// doc), and Env.Config turns them into a Config:
//
//	env, err := agent.FromEnv(os.Getenv)
//	store := ... // from DATASTORE_TYPE, ETCD_ENDPOINTS and the TLS variables
//	reg := prometheus.NewRegistry()
//	flow, err := env.OpenFlowLog()
//	a, err := agent.New(env.Config(store, reg, flow, slog.Default()))
//	if env.MetricsAddr != "" {
//		go agent.ServeMetrics(ctx, env.MetricsAddr, reg)
//	}
//	return a.Run(ctx) // until SIGINT/SIGTERM cancels ctx
//
// # Requirements
//
// The agent itself needs nothing of the kernel; the nft dataplane it
// drives needs CAP_NET_ADMIN in the target namespace, and so does the
// flow-log reader. The tests with a fake dataplane run anywhere; those on
// real packets build namespaces with package lab (root) and fail rather
// than skip when CI=true.
package agent
