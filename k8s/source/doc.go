// Package source watches a Kubernetes API server and serves what Calico
// would make of its objects as a read-only datastore.Store.
//
// A Source runs client-go shared informers for Namespaces, ServiceAccounts,
// Pods and networking.k8s.io/v1 NetworkPolicies and converts every object
// it is told about with package k8s, exactly as kube-controllers and the
// CNI plugin do: kns.<ns> and ksa.<ns>.<sa> profiles, knp.default.<name>
// policies and a workload endpoint per pod that has a node and an IP. The
// converted objects are kept in an in-memory store with etcd's revision
// model, so the agent and the analysis code consume a cluster through the
// same List and Watch they use on etcd.
//
// # Invariants
//
//   - Nothing is handed out before every informer has delivered its initial
//     list: Get, List and Watch block until then (or until their context is
//     done), so a List never shows a half-loaded cluster.
//   - The revision only moves forward and only moves when a converted
//     object changes: a Kubernetes update that converts to the same Calico
//     object (a pod's status conditions, say) makes no event.
//   - A Kubernetes object whose Calico name changes (a pod on a new node)
//     is deleted under its old name and added under its new one in one
//     revision.
//   - No object is dropped silently: an object that cannot be converted, or
//     converts with a warning, has its k8s.Report in Reports for as long as
//     it is in that state, is passed to the report callback and is logged
//     whenever its reports change. An object that becomes unconvertible
//     (a pod losing its IP) is deleted from the store.
//   - Relisting and rewatching after a broken watch is client-go's; a
//     relist reaches the store as the updates and deletions it implies.
//   - Writes fail with datastore.ErrNotSupported: the Kubernetes API, not
//     this store, is the source of truth.
package source
