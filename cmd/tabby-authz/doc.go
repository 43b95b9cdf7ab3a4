// Command tabby-authz is Tabby's application-layer policy point: an Envoy
// ext_authz gRPC server (on a unix socket by default, or TCP) and an
// optional forward-auth HTTP endpoint for nginx auth_request and Traefik
// forwardAuth, both deciding requests to one workload with package authz,
// which keeps Tabby's policy engine current from the etcd datastore. It
// reads the datastore configuration from the environment as calicoctl
// does (ETCD_ENDPOINTS, ETCD_CA_CERT_FILE, ETCD_CERT_FILE, ETCD_KEY_FILE,
// ETCD_USERNAME, ETCD_PASSWORD), serves Prometheus metrics on loopback and
// writes a JSON line per denied request. Run "tabby-authz --help" for the
// flags and examples. main.go and root.go only parse flags and wire
// package authz to its listeners.
package main
