// Package etcd is the datastore.Store of an etcd v3 cluster, in the layout
// Calico uses, so that Tabby and Calico read and write the same data.
//
// # Layout
//
// A resource lives at
//
//	/calico/resources/v3/projectcalico.org/<plural>/<name>              (global kinds)
//	/calico/resources/v3/projectcalico.org/<plural>/<namespace>/<name>  (namespaced kinds)
//
// with <plural> Calico's lower-case plural (networkpolicies, tiers,
// hostendpoints, ...). The value is the JSON of the whole object (apiVersion,
// kind, metadata, spec) without resourceVersion, which is the key's mod
// revision instead. Keys of kinds Tabby does not model (IP pools, nodes,
// ...) are left alone.
//
// Policy names follow Calico 3.32 and later: the key uses the name as given
// and the projectcalico.org/metadata annotation records it. Data written by
// Calico 3.29 to 3.31, which stored a default-tier policy "foo" at
// ".../default.foo", reads back as "foo"; an update or delete of such a
// policy acts on that key in that format, and a create of "foo" refuses to
// duplicate it.
//
// # Writes
//
// Every write is one etcd transaction with Calico's conditions: Create
// puts if Version(key) == 0; Update, and Delete with a resourceVersion, if
// ModRevision(key) == resourceVersion. So Tabby and any other client of the
// same keys never overwrite each other unknowingly. Txn puts the
// conditions and writes of several resources in one transaction: all of
// them happen at one revision, or none does. A transaction refused because
// the data changed is re-planned from what the Else branch read, a bounded
// number of times.
//
// # Connections
//
// Config lists the members' client URLs (several for a cluster: requests
// fail over to the members that answer) and the TLS files or inline PEM of
// calicoctl's configuration. Open fails at once if no member accepts a
// connection, and within DialTimeout if none answers; each request is
// bounded by RequestTimeout. Both give errors matching
// datastore.ErrUnavailable that name the endpoints and the cause (a refused
// connection, a TLS failure). Watches require a leader, so a member cut off
// from its cluster ends them with an Error event rather than going silent.
package etcd
