// Command tabby-openstack keeps the Calico resources of one OpenStack
// region in the datastore in step with Neutron: a WorkloadEndpoint per VM
// port and a NetworkPolicy per security group, in the region's namespace
// (see package openstack for the translation and its guarantees).
//
// It is configured as the openstack CLI is, by OS_* variables or the
// matching --os-* flags (OS_AUTH_URL, OS_USERNAME, OS_PASSWORD,
// OS_PROJECT_NAME, OS_USER_DOMAIN_NAME, OS_PROJECT_DOMAIN_NAME,
// OS_APPLICATION_CREDENTIAL_ID/_SECRET, OS_REGION_NAME, OS_INTERFACE,
// OS_CACERT), and reaches the datastore as calicoctl does (ETCD_ENDPOINTS
// and the ETCD_* TLS variables). Run one per region, each with its own
// --calico-region; they may share one etcd.
//
// The command only parses flags and wires the openstack package to the etcd
// datastore.
package main
