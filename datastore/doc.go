// Package datastore is Tabby's contract with the store of
// projectcalico.org/v3 resources: one interface, Store, that calicoctl, the
// agents and the sync controllers use, whatever holds the data.
//
// # The revision model
//
// A store has one revision counter, as etcd has. Every successful write
// (one Create, Update, Apply or Delete, or one Txn however many operations
// it holds) advances it by one, and a resource's resourceVersion is the
// decimal revision of its last write (in etcd, the key's mod revision).
// This gives callers:
//
//   - optimistic concurrency: Update, and Delete with a resourceVersion,
//     succeed only if the resource is still at that version (else
//     ErrConflict), so a read-modify-write never overwrites someone else's
//     change unknowingly;
//   - consistent snapshots: List returns the revision it read at, and
//     Watch from that revision delivers every later change exactly once, in
//     order, so List+Watch keeps a cache exact;
//   - a clear resync signal: when the changes after a revision are gone
//     (compacted) or the stream breaks, the watch ends with one Error event
//     (ErrCompacted or ErrUnavailable) and the caller lists again.
//
// Create stamps uid and creationTimestamp as Calico does; updates keep
// them. The static profile projectcalico-default-allow (allow all, both
// ways) exists in every store without being stored and cannot be written.
//
// # Errors
//
// Errors about one resource are *ResourceError values that print exactly as
// Calico's libcalico-go errors do ("resource does not exist: Kind(ns/name)
// with error: <nil>", "update conflict: Kind(ns/name)", ...), so tools built
// on a Store print what calicoctl prints; callers branch with errors.Is on
// the sentinels ErrNotFound, ErrAlreadyExists, ErrConflict, ErrInvalid and
// ErrNotSupported. A store that does not answer gives ErrUnavailable, within
// the backend's timeout: no call blocks beyond its context and that timeout.
//
// # Backends
//
//   - datastore/etcd: etcd v3 in Calico's key layout, readable and writable
//     by Calico itself; datastore/etcd/embedded runs such an etcd in-process.
//   - datastore/memory: in-process, for tests and offline analysis.
//
// datastore/storetest is the conformance suite every backend passes.
//
// # Example
//
//	s, err := etcd.Open(ctx, etcd.Config{Endpoints: []string{"http://127.0.0.1:2379"}})
//	...
//	l, err := s.List(ctx, v3.KindNetworkPolicy, "")  // every namespace
//	events, err := s.Watch(ctx, v3.KindNetworkPolicy, l.Revision)
//	for ev := range events {
//		if ev.Type == datastore.Error {
//			// list again and watch from the new revision
//		}
//	}
package datastore
