// Package v3 holds Tabby's copy of the projectcalico.org/v3 API: the resource
// kinds Calico users write in YAML (NetworkPolicy, GlobalNetworkPolicy, their
// Staged variants, Tier, NetworkSet, GlobalNetworkSet, Profile,
// WorkloadEndpoint, HostEndpoint, FelixConfiguration), with Calico's defaulting
// and validation rules, and a codec for multi-document YAML and JSON.
//
// The types are wire-compatible with Calico's own: the same JSON field names,
// the same int-or-string encodings for ports and protocols, and Kubernetes
// TypeMeta/ObjectMeta for apiVersion, kind and metadata. Tests decode Tabby's
// output strictly into Calico's published Go types to keep it that way.
//
// Invariants:
//   - Nothing here does I/O; the package is safe to use from any goroutine as
//     long as a value is not mutated concurrently.
//   - Decode never silently drops data: unknown fields are an error naming
//     their path (strict decoding).
//   - Validate reports every problem of a resource at once, each naming the
//     resource, the field path and the bad value; a resource that passes
//     Validate is safe to store and to evaluate.
//   - Default is idempotent and is applied before Validate, as Calico's client
//     does.
package v3
