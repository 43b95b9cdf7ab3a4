// Package flows aggregates the agent's flow-log records into flows and
// serves them on a local HTTP API.
//
// A record (Record: agent.FlowLog's JSON line, one per logged packet,
// read from the lines so that API clients need not link the agent)
// belongs to
// the flow of its Key: the 5-tuple (addresses, protocol, ports) with the
// direction, the verdict (the action that logged it) and what decided it
// (tier, policy or profile, rule index, match kind). A flow keeps the
// times of its first and last record and counts its packets. The records
// carry no packet length, so flows count packets only, not bytes.
//
//	agent.FlowLogReader ──JSON lines──► Aggregator.Write ──► flows (LRU)
//	                                                          │
//	           GET /api/flows ◄── List(Filter) ◄──────────────┤
//	    GET /api/flows/stream ◄── Subscribe ◄── every update ─┘
//
// # Bounded memory
//
// The aggregator holds at most Config.MaxFlows flows, evicting the one
// updated least recently, and forgets a flow with no record for
// Config.MaxAge (checked as records arrive and when flows are listed).
// Subscribers that do not keep up lose updates rather than slow the flow
// log down: the agent's nflog reader writes into the aggregator and must
// never block on an HTTP client.
//
// # Endpoint names and namespaces
//
// Config.Name, if set, names the endpoint holding an address
// ("namespace/pod", or a host endpoint's name); it is asked once, when a
// flow is first seen, and must not block. A flow belongs to a namespace
// when either named endpoint is in it or the deciding policy is a
// NetworkPolicy of it.
//
// # The HTTP API
//
// Handler serves, on loopback by default (DefaultAddr):
//
//	GET /api/flows?denied=true&namespace=ns&since=5m   JSON array of flows, newest first
//	GET /api/flows/stream?denied=true&namespace=ns     server-sent events, one "flow" event per update
//
// since is an RFC 3339 time or a duration back from now. The stream first
// sends the flows the filter matches (oldest first), then each flow again
// whenever a record updates it.
package flows
