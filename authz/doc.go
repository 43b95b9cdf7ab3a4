// Package authz is Tabby's application-layer policy point: an Envoy
// ext_authz server (envoy.service.auth.v3.Authorization/Check) and an
// HTTP forward-auth endpoint (nginx auth_request, Traefik forwardAuth)
// that decide each HTTP request to one workload with the same engine
// tabby-node enforces packets with, kept equal to the datastore.
//
//	datastore ──List(rev)──► fresh engine ─swap─► Authorizer ◄── Check (gRPC, Envoy)
//	    └──Watch(rev)──events──────────────────►     │      ◄── GET /check (forward auth)
//	                                                 ▼
//	                    OK / PERMISSION_DENIED + x-tabby-reason, metrics, flow log
//
//	a, err := authz.New(authz.Config{
//		Destination: authz.Destination{Endpoint: v3.Key{Kind: v3.KindWorkloadEndpoint, Namespace: "prod", Name: "node1-k8s-web-eth0"}},
//		Registerer:  reg,
//		FlowLog:     os.Stdout,
//	})
//	go a.Run(ctx, store)
//	srv := grpc.NewServer()
//	a.RegisterGRPC(srv)
//	lis, _ := authz.Listen("unix:/var/run/tabby/authz.sock")
//	go srv.Serve(lis)
//	http.ListenAndServe("127.0.0.1:9902", a.ForwardAuthHandler(authz.ForwardAuthOptions{}))
//
// # What a request is
//
// A request is an ingress flow to the configured destination workload:
// TCP, from the source address and port to the destination address and
// port when the front end knows them, carrying the HTTP method and path.
// Only the destination's ingress policy decides it, as Calico's
// application-layer policy supports ingress only; the source's egress
// policy is enforced on packets by tabby-node, not here.
//
// The source is the principal of the connection, a SPIFFE id of the form
// spiffe://<trust-domain>/ns/<namespace>/sa/<serviceaccount> (Envoy's
// attributes.source.principal; for forward auth a configured header). It
// becomes an address-less endpoint in the authorizer's engine, in that
// namespace, with that service account, orchestrator k8s and the profiles
// kns.<namespace> and ksa.<namespace>.<serviceaccount>, exactly as a pod
// running under that account: serviceAccounts.names, serviceAccounts
// selectors, namespaceSelector and selectors on
// projectcalico.org/namespace or /serviceaccount match it as they match
// such a pod. The source address is the flow's source IP as well, so a
// rule's nets and notNets see it and its selectors also match the
// endpoints and network sets holding that address, as Felix's IP sets
// would on the packet. Config.TrustDomain, when set, restricts the
// accepted trust domain; policy never sees trust domains.
//
// The destination is a WorkloadEndpoint (or HostEndpoint) of the
// datastore named by key, or a pod-like endpoint described by namespace,
// labels and service account in the configuration, which the authorizer
// adds to its engine itself.
//
// The HTTP match follows Calico: methods are compared case-sensitively;
// an exact path equals the request path, a prefix path begins it; the
// query string and fragment are ignored. A rule with an http clause
// matches only flows that carry an HTTP request, which every request
// here does.
//
// # Answers
//
// OK, or PERMISSION_DENIED (gRPC status code 7 in CheckResponse.status,
// HTTP 403 to the client) with ReasonHeader naming what decided: the tier,
// policy and rule index of a Deny rule, the end of a tier no policy of
// which matched, a profile's rule, or the default deny. Forward auth
// answers 200 or 403 with the same header. Requests that cannot be read
// (no principal, a principal not in SPIFFE form, no HTTP attributes, no
// method, a path not starting with /) are denied with the reason, never
// an RPC error, so Envoy's failure_mode_allow cannot open them. Until the
// first datastore list has been applied every request is denied
// ("not synchronised").
//
// # Consistency
//
// Run lists every resource at one revision into a new engine and swaps it
// in, then applies watched events in the order the datastore sent them,
// each burst under one write lock. A watch that ends (compaction, a broken
// stream, an unavailable datastore) starts a new list into a new engine,
// with exponential backoff between failures; requests keep being decided
// on the last consistent state meanwhile. Check holds the read lock only,
// so checks run in parallel with each other.
//
// # Metrics and flow logs
//
// Config.Registerer receives the families listed in metrics.go (checks,
// allows, denies by cause, decision latency, datastore connection,
// resyncs). Config.FlowLog receives one JSON FlowLog line per denied
// request.
package authz
