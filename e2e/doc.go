// Package e2e holds Tabby's end-to-end tests: real packets between
// workloads in network namespaces, policy from an etcd datastore enforced
// by one agent per simulated host with nftables in the host's namespace
// (see internal/testbed and cmd/tabby-lab). It has no API; its tests need
// Linux and root, are skipped without root and fail instead under CI=true,
// and remove every namespace they made, also when they fail.
package e2e
