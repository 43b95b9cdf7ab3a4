// Package conformance is the network-policy conformance suite shared by every
// layer of Tabby that gives verdicts: the engine (fast, offline) and the lab
// (real packets in network namespaces).
//
// It follows the upstream Kubernetes network-policy e2e model: namespaces x, y
// and z labelled ns=<name>, pods a, b and c labelled pod=<name> in each,
// serving ports 80 and 81 over TCP, UDP and SCTP with named container ports
// "serve-<port>-<proto>". Each Case carries the policies to apply (Kubernetes
// NetworkPolicy or projectcalico.org/v3 YAML) and its full expected truth
// table, written by hand from the Kubernetes or Calico semantics as a short
// list of Expectations applied in order over a default.
//
// The package imports nothing of Tabby: a layer under test implements Prober
// and calls Run. Loopback traffic (a pod to itself) is not part of the table,
// as upstream, because its treatment is not defined by the Kubernetes API.
package conformance
