// Package analysis answers questions about a set of Calico resources
// without a dataplane: would this flow be allowed, and why (Trace); what
// can reach what (Matrix); what does this policy select and what do its
// rules match (Select); which tiers, policies and profiles apply to this
// endpoint (For); what is wrong or unreachable in this policy (Lint); what
// would this change break (Diff, including what staged policies would
// change). calicoctl's `policy trace|matrix|select|for|lint|diff` commands
// are thin wrappers around it.
//
// The resources come from wherever the caller has them: New takes
// projectcalico.org/v3 objects as a datastore stores them (a datastore list,
// a test's fixtures), and Decode reads them from files first:
//
//	objs, notes, err := analysis.Decode([]analysis.File{{Name: "demo.yaml", Data: data}})
//	m, err := analysis.New(objs)
//	res, err := m.Trace(analysis.FlowSpec{From: "x/a", To: "y/b", Protocol: "TCP", Port: 80})
//	res.Format(os.Stdout)
//
// Decode reads Calico documents of any kind and the Kubernetes objects
// Calico derives resources from (v1 Namespace, Pod, ServiceAccount and
// networking.k8s.io/v1 NetworkPolicy), converted exactly as Calico converts
// them (package k8s); one file may mix both. Calico documents are completed
// with Calico's defaults and validated as calicoctl apply would, a
// namespaced one without a namespace landing in "default". A resource
// defined twice is taken from its last definition, with a note, as
// applying the files in order would leave it.
//
// # Naming endpoints
//
// Commands name endpoints as people do: a workload endpoint is
// "<namespace>/<pod>" (or "<namespace>/<workload>" for one that is not a
// pod), falling back to "<namespace>/<endpoint name>" when a workload has
// several endpoints; a host endpoint is its name. A flow's peer may also be
// an IP address: an address an endpoint holds is that endpoint, any other is
// a peer outside the cluster, to which no policy applies.
//
// # Naming policies
//
// Select accepts a policy name as calicoctl takes it: the name alone, with
// the namespace given separately for namespaced kinds, optionally after a
// kind ("gnp/deny-blue", any calicoctl alias). Calico 3.29-3.31 required a
// tier prefix in the names of policies outside the default tier
// ("security.allow-dns") and wrote "default." before default-tier names,
// while 3.32 names policies without it; both spellings find the same
// policy, as does a Kubernetes policy's own name for its knp.default. form.
//
// # Invariants
//
//   - A Model never changes after New: every query only reads it, so
//     queries may run concurrently.
//   - Verdicts are the engine's: Trace and Matrix call engine.Evaluate and
//     add nothing to its decision.
//   - Decode is all or nothing: with any problem it returns every problem
//     found, naming file and document, and no objects.
package analysis
