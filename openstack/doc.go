// Package openstack keeps Calico resources in step with an OpenStack
// region, as Calico's networking-calico driver does, but from outside
// Neutron: it reads the Neutron and Keystone REST APIs and writes to the
// datastore.
//
// Each region is one Calico namespace, openstack-region-<region> (or
// openstack when no region is configured), and every region's sync writes
// only there, so several regions share one etcd and GlobalNetworkPolicies
// span them (Calico docs, "Multi-region deployments").
//
// # What is written
//
//   - Every bound VM port (device_owner compute:* or kuryr:container*,
//     binding:host_id set) becomes a WorkloadEndpoint named as Calico names
//     it (<host>-openstack-<device id>-<port id>, dashes doubled), with node
//     = binding host, interfaceName "tap" + the first 11 characters of the
//     port ID, the MAC, the fixed IPs as /32 or /128 (single-address
//     allowed address pairs too; wider pairs become
//     allowSpoofedSourcePrefixes), the subnets' gateways, floating IPs as
//     ipNATs, the annotation openstack.projectcalico.org/network-id, and
//     Calico's predefined labels: projectcalico.org/openstack-project-id,
//     -project-name, -project-parent-id (from Keystone), -network-name, one
//     sg.projectcalico.org/openstack-<sg id> = <sg name> and one
//     sg-name.projectcalico.org/openstack-<sg name> = <sg id> per security
//     group, projectcalico.org/namespace and projectcalico.org/orchestrator
//     = openstack. Names in labels are sanitised as Calico does (characters
//     other than letters, digits, '-', '_', '.' become '_'; trimmed to
//     alphanumerics at both ends; truncated).
//   - Every security group becomes the NetworkPolicy ossg.default.<sg id>
//     in the region's namespace, selecting has(sg.projectcalico.org/
//     openstack-<sg id>), with one Allow rule per Neutron rule: direction
//     picks ingress or egress, ethertype the ipVersion, the protocol (name,
//     number, "any"/null/0 for any; icmp in an IPv6 rule is ICMPv6) the
//     protocol, port_range_min/max the destination ports (or, for ICMP, the
//     type and code), remote_ip_prefix the peer's nets and remote_group_id
//     the selector has(sg.projectcalico.org/openstack-<remote sg id>),
//     which the namespace scopes to the same region as Neutron scopes it.
//     The port range applies whether or not the rule has a remote (where
//     networking-calico drops it when there is none, which would widen
//     "TCP 22 from anywhere" to all TCP). A rule that cannot be expressed
//     (an address-group remote, ports on a protocol other than TCP, UDP or
//     SCTP, an ICMP type above 254) is left out, so its traffic stays
//     denied, and reported.
//
// # Ordering and default deny
//
// As in Calico, security-group policies are in the default tier with no
// order, which sorts after every policy that has one: an operator's
// Calico policy with an order (the seed's deny-lexluthor-to-superman has
// order 10) is evaluated first, and its Deny cannot be overridden by a
// tenant's group. Policies without an order tie with the groups' and sort by
// name, so operators should give theirs an order. VM endpoints have no
// profile: traffic that no rule allows is denied, by the end of the tier
// when a group governs the direction and by the absence of an allowing
// profile otherwise. Enforcement is stateful (connection tracking lets
// replies through), also for Neutron's stateless groups.
//
// # Ownership and safety
//
// Every resource written carries the annotation
// openstack.tabby-project.github.io/managed-by: tabby-openstack. A sync
// updates and deletes only resources of its namespace that carry it, so
// resources an operator (or Calico) wrote there are never touched, even
// when their name clashes. A sync reads the whole region first (ports,
// security groups, networks, subnets, floating IPs, then Keystone
// projects) and writes nothing unless every read succeeded, so an outage,
// a 5xx, a timeout or a malformed answer never deletes anything; a list
// answer without its collection key counts as malformed, never as
// empty. A resource that cannot be translated into a valid Calico
// resource keeps its stored version. Project names come from Keystone and
// deny rules may depend on them, so a sync that cannot list projects
// fails rather than drop the labels: the sync user needs admin (as
// Calico's Neutron user does).
//
// Each sync compares the full desired state with the namespace, so it
// heals any drift (missed changes while down, edits by hand to marked
// resources) and changes reach the datastore within one interval plus the
// sync's duration. Writes are grouped in datastore transactions of at most
// 100 operations: group policies before the endpoints that use them,
// endpoint deletions before group deletions.
//
// # Client
//
// Client is a small Keystone v3 and Neutron v2.0 client on net/http and
// encoding/json (gophercloud is not a dependency of this module): password
// or application-credential authentication, the Neutron endpoint from the
// token's catalog for the region and interface, a CA file for TLS, retries
// with exponential backoff and jitter on network errors, timeouts, 429 and
// 5xx, one re-authentication on 401, and errors that say what failed
// (ErrAuth names the user, ErrNoEndpoint lists the catalog's regions,
// ErrConfig points at OS_AUTH_URL).
//
//	c, err := openstack.NewClient(openstack.Config{AuthURL: "https://keystone:5000/v3",
//		Username: "tabby", Password: pw, ProjectName: "service", RegionName: "RegionOne"})
//	s, err := openstack.NewSyncer(openstack.SyncConfig{Source: c, Store: store, Region: "one"})
//	err = s.Run(ctx) // every 30 s until ctx is done
package openstack
