// Package nft enforces the engine's computed policy with nftables: it
// renders the policy of a host's endpoints into one table that Tabby owns
// (inet tabby) and programs it into the kernel, sending only what changed,
// each change as one atomic transaction.
//
//	dp, err := nft.New(nft.Config{NetNS: fd, LogGroup: 1})
//	defer dp.Close()
//	in := &nft.Input{Endpoints: map[v3.Key]nft.Endpoint{}, Profiles: map[string]nft.Profile{},
//		Sets: map[string][]engine.SetMember{}, RemotePorts: map[v3.Key]nft.EndpointPorts{}}
//	for { // on every change
//		for _, su := range e.DrainSets() { // sets first: rules refer to them
//			if su.Deleted {
//				delete(in.Sets, su.ID)
//			} else {
//				in.Sets[su.ID], _ = e.SetMembers(su.ID)
//			}
//		}
//		for _, u := range e.Drain() { // then the endpoints of this host
//			if u.Policy == nil || !local(u.Endpoint) {
//				delete(in.Endpoints, u.Endpoint)
//				continue
//			}
//			in.Endpoints[u.Endpoint], err = nft.WorkloadEndpointOf(wep, u.Policy) // or HostEndpointOf
//		}
//		changes, err := dp.Sync(ctx, in) // render, diff, one transaction
//	}
//
// Render is pure (the Input and Config in, a Model out), so what the table
// will hold can be inspected (Model.String prints it as `nft list table`
// would) and compared without a kernel; Dataplane.Apply programs a Model.
//
// # Library
//
// The kernel is driven over netlink with github.com/google/nftables
// (v0.3.0) rather than by running `nft`: a transaction is built as a
// batch of netlink messages and sent by Conn.Flush, which the kernel
// applies atomically or not at all; errors come back per message instead
// of as text to parse; nothing depends on the version of a binary on the
// host; and a connection is bound to one network namespace
// (nftables.WithNetNSFd), which is how one process programs many simulated
// hosts in the lab. The socket's buffers are enlarged, since the kernel
// answers every message of a transaction before Flush reads any answer.
//
// # The table
//
// Everything is in one inet-family table (IPv4 and IPv6 share the chains),
// named by Config.Table. The Dataplane creates it on the first Apply
// (replacing, in the same transaction, a table of that name left by an
// earlier run), changes only it and deletes only it (Remove). Its base
// chains have policy accept: a packet Tabby accepts still meets every
// other table of the host, so Tabby can only take traffic away, never let
// through what the rest of the ruleset drops.
//
//	raw-prerouting    prerouting, raw (-300)   doNotTrack policy of host endpoints (hep-raw-in → fhraw-<if>)
//	raw-output        output, raw (-300)       doNotTrack policy of host endpoints (hep-raw-out → thraw-<if>)
//	mangle-prerouting prerouting, dstnat-10    preDNAT policy of host endpoints (hep-pre → fhpre-<if>)
//	filter-input      input, filter (0)        from a workload: wl-to-host; else host endpoint ingress (hep-in → fh-<if>)
//	filter-forward    forward, filter (0)      hep-fwd-in → fhfw-<if>, wl-from → fw-<if>, wl-to → tw-<if>, hep-fwd-out → thfw-<if>
//	filter-output     output, filter (0)       to a workload: not policed (as Felix); else host endpoint egress (hep-out → th-<if>)
//
// Dispatch is by interface name through verdict maps (wl-from, wl-to,
// hep-in, ...: ifname → jump <endpoint chain>), one lookup whatever the
// number of endpoints. A forwarded packet from or to an interface with a
// workload prefix (Config.WorkloadInterfacePrefixes) that belongs to no
// endpoint is dropped. Established and related connections are accepted
// first in every base chain (the conntrack fast path), so a policy change
// never cuts a connection it allowed; endpoint chains drop packets of
// invalid conntrack state.
//
// # Endpoint, policy and profile chains
//
// An endpoint chain (tw-, fw-, fh-, th-, and the forward, preDNAT and
// untracked variants, after Felix's cali-tw- etc.) enforces one direction
// of one endpoint as calico-facts §5.2 describes Felix's:
//
//	clear the accept and pass marks
//	for each tier with a live policy in this direction:
//	    clear the pass mark
//	    for each policy: if pass is clear, jump to its chain; if accept is set, return
//	    unless the tier's default action is Pass: if pass is clear, drop (end of tier)
//	for each profile (normal chains only): jump to its chain; if accept is set, return
//	drop (normal chains only)
//
// A policy chain (pi-<ns>/<name>, po-…; pri-/pro-<profile> for profiles)
// holds the policy's rules in one direction and is shared by every
// endpoint the policy applies to. Allow sets the accept mark and returns,
// Pass sets the pass mark and returns, Deny drops, Log logs and goes on.
// So for forwarded traffic the source's egress chain and the destination's
// ingress chain both run, each returning when it allows and dropping when
// it denies. Staged policies are not rendered. The marks are two bits of
// the packet mark (Config.MarkAccept, Config.MarkPass; Felix's defaults).
// The table's size is linear: endpoints × the policies applying to each,
// plus the rules of each policy once, plus the sets.
//
// Host endpoints (interface name, or "*" for every interface but loopback,
// workload interfaces and those of other host endpoints) get fh-/th-
// chains for traffic to and from the host, which first jump to the
// failsafe chains (Config.FailsafeInbound/Outbound, Felix's defaults) so
// that no policy can lock the host out, and end in the default drop when
// no policy or profile allows. applyOnForward policy goes to fhfw-/thfw-
// chains (none when no such policy applies: forwarded traffic is then
// allowed), preDNAT policy to fhpre- chains before DNAT, doNotTrack policy
// to fhraw-/thraw- chains before conntrack, where an allowed packet is
// also marked notrack; these three have no end-of-tier drop (their tiers
// default to Pass) and no profiles, and a packet they accept is accepted
// by the later chains too, as in Felix. As in Felix, nothing lets IPv6
// neighbour discovery through a host endpoint by itself: a host endpoint
// on an interface that carries IPv6 needs policy allowing ICMPv6 types 133
// to 136 (or a profile allowing all). Traffic from a workload to its host
// runs the workload's egress policy, after IPv6 neighbour discovery is let
// through, and then Config.EndpointToHostAction.
//
// # Rules and sets
//
// A rule becomes one nft rule per address family it can match (none when
// it can match nothing: an HTTP rule, which the engine never matches for
// an L3/L4 packet; ports with a protocol that has none) and per
// alternative of numeric and named ports. Rule selectors are named sets
// s4-<id>/s6-<id> (the engine's set IDs) of their members' addresses and
// networks, one lookup however many members; when members come and go
// only their elements change. Nets and port lists are matched inline when
// they are a single prefix or range, else through interval sets named
// after their content (n4-, n6-, p-), shared by every rule using the same
// list. Named ports are sets np4-/np6- of address . protocol . port of the
// endpoints declaring them among the rule selector's members (all
// endpoints without a selector), as the engine resolves them: local
// endpoints' ports come with the endpoints, remote ones' from
// Input.RemotePorts. Profiles come compiled, in Input.Profiles: the
// engine's endpoint policy names them only.
//
// Every rule carries a comment naming what it is, and every rule that
// decides or jumps to a policy or profile a counter; Counters reads them
// back with their RuleRef, so packets can be counted per rule, per policy
// (the jumps to it), per end-of-tier and default drop and per failsafe
// port. A Log rule logs
// to nflog group Config.LogGroup (or the kernel log) with a prefix naming
// direction, tier, policy and rule, such as "calico-packet: I default
// prod/allow-web r0" (see Model.LogRef); with DropActionOverride
// LogAndDrop every policy drop, end-of-tier drops included, is logged as
// well ("... eot").
//
// # Applying
//
// Apply diffs the new model against the one it programmed last and sends
// one batch, in dependency order: new sets and chains (empty), the rules of
// new and changed chains (a changed chain is flushed and refilled), set and
// map elements removed and added, then the chains and sets no longer used
// flushed and deleted; the kernel commits it all at once or nothing. A
// one-policy change rewrites that policy's chains only; a membership
// change touches set elements only. A failed transaction changes nothing
// in the kernel; the Dataplane then forgets what it programmed and the
// next Apply replaces the table whole. Each transaction uses a netlink
// socket of its own.
//
// Replacing a table whole (the first Apply of a new Dataplane, as when an
// agent restarts) keeps the table and its hooked chains and, in the same
// transaction, flushes them and deletes every other chain and set before
// building the model again. Deleting and re-adding the table would be
// simpler, but the old and new hooked chains would then share the hooks
// while the transaction commits, and a packet crossing one before the
// kernel's generation flip and the other after it would be judged by
// neither: a restart could leak a packet that policy denies.
//
// # Requirements
//
// Programming needs Linux with nftables (5.x or later: inet tables,
// verdict maps, concatenated sets) and CAP_NET_ADMIN in the target
// namespace. Render and Diff need neither. The tests that program a kernel
// build network namespaces with package lab (root) and fail rather than
// skip when CI=true.
package nft
