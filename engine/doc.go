// Package engine evaluates Calico policy: given projectcalico.org/v3
// resources it computes, for every endpoint, the tiers, policies and
// profiles that apply to it, and it decides flows with a trace of every
// tier, policy and rule consulted. It does no I/O, starts no goroutines and
// reads no clock: it is a deterministic, synchronous library fed by events
// (Upsert, Delete) whose output is pulled (Drain, DrainSets), in the manner
// of etcd raft's Ready and Felix's calculation graph.
//
//	e := engine.New()
//	_ = e.Upsert(namespaceProfile) // Profile kns.prod
//	_ = e.Upsert(pod)              // WorkloadEndpoint
//	_ = e.Upsert(policy)           // NetworkPolicy
//	for _, u := range e.Drain() { program(u.Endpoint, u.Policy) }
//	res, _ := e.EvaluateWithTrace(engine.Flow{
//		Src: engine.Peer{Endpoint: a}, Dst: engine.Peer{Endpoint: b},
//		Protocol: 6, DstPort: 80,
//	})
//	fmt.Print(res.Verdict, res.Trace)
//
// # Model
//
// The engine follows Felix (calico-facts §5). Resources are translated the
// way Calico's syncer translates them for Felix, then evaluated:
//
//   - An endpoint's labels are those its profiles apply (labelsToApply, an
//     earlier profile winning over a later one), overridden by its own
//     labels (for a WorkloadEndpoint, minus any pcns./pcsa. keys),
//     overridden by projectcalico.org/namespace, projectcalico.org/
//     orchestrator (when spec.orchestrator is set) and
//     projectcalico.org/serviceaccount (when spec.serviceAccountName is
//     set). Kubernetes namespaces and service accounts are the profiles
//     kns.<ns> and ksa.<ns>.<sa>; an endpoint inherits from them only if it
//     lists them. A NetworkSet gets projectcalico.org/namespace and inherits
//     from kns.<namespace>, as in Calico; a GlobalNetworkSet has its own
//     labels only; a HostEndpoint has its own and its profiles'.
//   - Selectors are rewritten as Calico's updateprocessors do and evaluated
//     against those labels: a NetworkPolicy's selector gets
//     "&& projectcalico.org/namespace == <ns>"; a namespaceSelector is
//     evaluated on pcns.-prefixed labels (all() meaning "any namespaced
//     thing", global() in a rule meaning "nothing namespaced"); a
//     serviceAccountSelector on pcsa.-prefixed ones. In a
//     GlobalNetworkPolicy with a namespaceSelector (or
//     serviceAccountSelector) every all() of the built selector becomes
//     has(projectcalico.org/namespace) (or has(projectcalico.org/
//     serviceaccount)), exactly as Calico's text replacement does, except
//     that the replacement never touches quoted values.
//   - A rule's source or destination selector is scoped by its
//     namespaceSelector or, in a namespaced policy, by the policy's
//     namespace, whenever the rule sets any of selector, notSelector or
//     namespaceSelector; serviceAccounts.names becomes
//     projectcalico.org/serviceaccount in {...}. notSelector is not scoped
//     (Felix keeps it as written).
//   - Rule peers are matched as Felix's IP sets match packets: a peer is
//     its address. A selector matches a peer if it matches the endpoint on
//     that side, another endpoint with the same address, or any network set
//     one of whose nets contains the address (any containing set, not the
//     longest prefix: IP-set membership is a union). notSelector excludes
//     the peer if it matches any of those. A bare address no endpoint or
//     network set holds matches no selector and every notSelector.
//   - Named ports in destination (source) ports resolve against the
//     destination (source) endpoints among those candidates that match the
//     rule's selector: the flow matches if one declares the name with the
//     flow's protocol and port. Ports and notPorts never match a protocol
//     without ports (anything but TCP, UDP and SCTP).
//   - A rule with an http match only matches flows that carry an HTTP
//     request (as Calico documents); for an L3/L4 flow it does not match, and
//     the trace says so. Paths match without the query and fragment.
//   - Tiers sort existing ones first, then by order (nil last), then by
//     name; a tier referenced but never upserted sorts after all existing
//     ones with default action Deny. The tiers default, kube-admin and
//     kube-baseline exist implicitly with Calico's fixed orders (1e6, 1000,
//     1e7) and default actions (Deny, Pass, Pass) until a Tier resource says
//     otherwise. Within a tier, policies sort by order (nil = +Inf), then by
//     "<name>/<namespace>/<kind>". Empty spec.types default as Calico's
//     client does: Ingress, plus Egress when there are egress rules (only
//     Egress when there are egress rules and no ingress rules).
//   - Per direction (ingress at the destination endpoint, egress at the
//     source) the walk visits the tiers with at least one policy governing
//     that direction. In a policy the first matching Allow or Deny rule ends
//     the walk; Log records the rule and goes on; Pass skips the rest of the
//     tier. A tier in which a policy applied and nothing decided or passed
//     ends in a deny, unless its defaultAction is Pass. Then the endpoint's
//     profiles in order: the first Allow or Deny rule decides, Pass and no
//     match go to the next profile, a missing profile is skipped. Then
//     deny. A flow is allowed when both directions allow; a side whose peer
//     is not an endpoint has no policy and allows.
//   - doNotTrack and preDNAT policies are listed for host endpoints
//     (EndpointPolicy.Untracked*, PreDNATIngress, with default action Pass)
//     and applyOnForward ones also in Forward*; workload endpoints get only
//     the normal tiers, and Evaluate walks only those. Failsafe ports are
//     the dataplane's concern, not the engine's.
//   - Staged policies are listed in EndpointPolicy (Staged set) but never
//     enforced. Result.Staged is the verdict that would hold if they were:
//     a staged policy with stagedAction Set takes the place of the live
//     policy of the same namespace and name (or adds itself), a staged
//     Delete removes it.
//
// # Incremental computation
//
// Every selector, policy and rule alike, is an entry of a selector index,
// shared by all users of the same canonical form and filed under one label
// requirement among its top-level conjuncts (k == "v", k in {...}, has(k)):
// the one the fewest members meet when the entry is created and, among
// equals (all of them while policies load before endpoints), the namespace
// label first and the orchestrator label, which every pod shares, after
// any other equality. Members (endpoints and network sets) are filed by
// label key and value. Relabelling one member evaluates only the entries
// filed under its labels, the unrestricted ones and the ones that matched
// it before; adding a selector evaluates only the members of its most
// selective requirement. A policy change therefore costs work in
// proportion to what it selects, and an endpoint change in proportion to
// the selectors that could select it, not to the size of the cluster.
//
// Endpoint policy lists are kept sorted as matches come and go, so
// Evaluate only reads. Changes are coalesced per endpoint (Drain) and per
// rule selector set (DrainSets) until pulled. The pending changes are
// replaced, not cleared, when pulled: clearing or ranging over a Go map
// costs the largest size it ever had, which after the initial load would
// be the size of the cluster.
//
// TestIncrementalWorkIsTheSameAt1000And10000Endpoints (work counted) and
// BenchmarkIncrementalRatio (time) hold the incremental path to this: one
// relabelling or policy edit costs the same in a cluster of 10,000
// endpoints as in one of 1,000.
//
// # Invariants
//
//   - The state after any sequence of Upsert and Delete depends only on the
//     set of resources held, not on the order they arrived in.
//   - For every selector entry and member, the member is in the entry's
//     match set exactly when the selector matches the member's labels.
//   - A failed Upsert changes nothing.
//   - Evaluate, EvaluateWithTrace and the queries never modify the engine.
package engine
