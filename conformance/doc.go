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
// A layer under test loads the objects Resources returns for the model and a
// case (the model's pods and namespaces and the case's policies, all as the
// projectcalico.org/v3 objects Calico makes of them), implements Prober and
// calls Run. The package depends only on api/v3 and k8s, so that every layer
// can use it. Loopback traffic (a pod to itself) is not part of the table, as
// upstream, because its treatment is not defined by the Kubernetes API.
package conformance
