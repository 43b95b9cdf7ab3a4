package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"
	"google.golang.org/grpc"

	v3 "github.com/tabby-project/tabby/api/v3"
	"github.com/tabby-project/tabby/authz"
	"github.com/tabby-project/tabby/datastore/etcd"
)

// Defaults of the listen flags.
const (
	defaultListen        = "unix:/var/run/tabby/authz.sock"
	defaultMetricsListen = "127.0.0.1:9095"
	defaultEtcdEndpoint  = "http://127.0.0.1:2379"
)

type options struct {
	listen, forwardListen, metricsListen string
	workload, namespace, serviceAccount  string
	labels                               map[string]string
	trustDomain, identityHeader, flowLog string
}

func newRootCommand(e env) *cobra.Command {
	var o options
	cmd := &cobra.Command{
		Use:   "tabby-authz --workload <namespace>/<name> | --namespace <ns> [--labels k=v,...]",
		Short: "Application-layer Calico policy for Envoy ext_authz and nginx/Traefik forward auth",
		Long: `tabby-authz decides HTTP requests to one workload with Tabby's policy
engine, the same Calico policy tabby-node enforces on packets, kept current
from the datastore. It answers:

  - Envoy's ext_authz gRPC API (envoy.service.auth.v3.Authorization/Check)
    on --listen, a unix socket by default: OK, or PERMISSION_DENIED with
    an x-tabby-reason header naming the tier, policy and rule that denied.
  - A forward-auth HTTP endpoint on --forward-auth-listen, for nginx's
    auth_request and Traefik's forwardAuth: 200 or 403 (with
    x-tabby-reason), from X-Original-Method/X-Original-URI (nginx) or
    X-Forwarded-Method/X-Forwarded-Uri (Traefik), the source address from
    X-Real-IP or X-Forwarded-For and the port from X-Forwarded-Port.

The protected workload is a WorkloadEndpoint of the datastore
(--workload namespace/name) or a pod described by --namespace, --labels
and --service-account. A request is an ingress flow to it over TCP: the
source is the SPIFFE id of the client, spiffe://<trust-domain>/ns/<ns>/sa/<sa>
(Envoy's source principal; for forward auth the --identity-header), which
policy sees as a pod of that namespace running under that service
account, so serviceAccounts, namespaceSelector and selectors match it;
the source address is checked against nets. Rules' http methods and paths
(exact and prefix, the query ignored) are matched, and so are protocol,
ports and nets. Requests without an identity, with a path not starting
with /, or otherwise unreadable are denied with the reason.

The datastore is etcd, configured as calicoctl's: ETCD_ENDPOINTS (default
http://127.0.0.1:2379, where tabby-node's embedded etcd serves),
ETCD_CA_CERT_FILE, ETCD_CERT_FILE, ETCD_KEY_FILE, ETCD_USERNAME and
ETCD_PASSWORD; DATASTORE_TYPE must be etcdv3 or unset. Until the first full
read of the datastore every request is denied.

Metrics (checks, allows, denies by cause, decision latency) are served on
--metrics-listen at /metrics; a JSON line per denied request goes to
--flow-log.`,
		Example: `  # Protect the web pod of namespace prod for an Envoy sidecar
  ETCD_ENDPOINTS=https://etcd:2379 ETCD_CA_CERT_FILE=/etc/tabby/ca.pem \
    tabby-authz --workload prod/node1-k8s-web-eth0 --trust-domain cluster.local

  # Envoy's http filter then points at the socket:
  #   http_filters:
  #   - name: envoy.filters.http.ext_authz
  #     typed_config:
  #       "@type": type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz
  #       transport_api_version: V3
  #       grpc_service: {envoy_grpc: {cluster_name: tabby_authz}}
  #   (cluster tabby_authz: pipe /var/run/tabby/authz.sock, http2)

  # Forward auth for nginx, the identity set by the TLS-terminating edge
  tabby-authz --namespace prod --labels app=web --service-account web \
    --listen 127.0.0.1:9901 --forward-auth-listen 127.0.0.1:9902 \
    --identity-header X-Spiffe-Id

  #   location / { auth_request /_authz; proxy_pass http://web; }
  #   location = /_authz {
  #     internal; proxy_pass http://127.0.0.1:9902/;
  #     proxy_pass_request_body off; proxy_set_header Content-Length "";
  #     proxy_set_header X-Original-Method $request_method;
  #     proxy_set_header X-Original-URI $request_uri;
  #     proxy_set_header X-Real-IP $remote_addr;
  #     proxy_set_header X-Forwarded-Port 8080;  # the workload's port, for rules on ports
  #   }`,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return serve(cmd.Context(), e, o)
		},
	}
	cmd.SetOut(e.stdout)
	cmd.SetErr(e.stderr)
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err.Error()} })
	cmd.CompletionOptions.DisableDefaultCmd = true
	f := cmd.Flags()
	f.StringVar(&o.listen, "listen", defaultListen,
		`gRPC (ext_authz) address: "unix:<path>" or a path for a unix socket, or host:port for TCP`)
	f.StringVar(&o.forwardListen, "forward-auth-listen", "",
		"host:port of the forward-auth HTTP endpoint (off if empty)")
	f.StringVar(&o.metricsListen, "metrics-listen", defaultMetricsListen, "host:port serving /metrics (off if empty)")
	f.StringVar(&o.workload, "workload", "", "the protected WorkloadEndpoint, as <namespace>/<name>")
	f.StringVar(&o.namespace, "namespace", "", "namespace of the protected pod, when it is described by labels")
	f.StringToStringVar(&o.labels, "labels", nil, "labels of the protected pod (k=v,k=v), with --namespace")
	f.StringVar(&o.serviceAccount, "service-account", "", "service account of the protected pod, with --namespace")
	f.StringVar(&o.trustDomain, "trust-domain", "", "accept only SPIFFE ids of this trust domain (any if empty)")
	f.StringVar(&o.identityHeader, "identity-header", authz.DefaultIdentityHeader,
		"forward-auth header holding the client's SPIFFE id, or an x-forwarded-client-cert value whose URI= is")
	f.StringVar(&o.flowLog, "flow-log", "-", `where denied requests are logged as JSON lines: a file, "-" for standard output, "none"`)
	return cmd
}

// destination reads the workload flags.
func (o options) destination() (authz.Destination, error) {
	if o.workload != "" {
		if o.namespace != "" || len(o.labels) > 0 || o.serviceAccount != "" {
			return authz.Destination{}, &usageError{"--workload cannot be combined with --namespace, --labels or --service-account"}
		}
		ns, name, ok := strings.Cut(o.workload, "/")
		if !ok || ns == "" || name == "" || strings.Contains(name, "/") {
			return authz.Destination{}, &usageError{fmt.Sprintf("--workload %q: want <namespace>/<name>", o.workload)}
		}
		return authz.Destination{Endpoint: v3.Key{Kind: v3.KindWorkloadEndpoint, Namespace: ns, Name: name}}, nil
	}
	if o.namespace == "" {
		return authz.Destination{}, &usageError{"name the protected workload with --workload <namespace>/<name> or --namespace (and --labels)"}
	}
	return authz.Destination{Namespace: o.namespace, Labels: o.labels, ServiceAccount: o.serviceAccount}, nil
}

// etcdConfig reads the datastore configuration from the environment, as
// calicoctl does, defaulting to the embedded etcd's URL.
func etcdConfig(getenv func(string) string) (etcd.Config, error) {
	cfg, err := etcd.ConfigFromEnv(getenv)
	if err != nil {
		return etcd.Config{}, fmt.Errorf("%w (%s)", err, "tabby-authz reads etcdv3 only")
	}
	if len(cfg.Endpoints) == 0 {
		cfg.Endpoints = []string{defaultEtcdEndpoint}
	}
	return cfg, nil
}

func serve(ctx context.Context, e env, o options) error {
	dest, err := o.destination()
	if err != nil {
		return err
	}
	ecfg, err := etcdConfig(e.getenv)
	if err != nil {
		return err
	}
	var flow io.Writer
	switch o.flowLog {
	case "none", "":
	case "-":
		flow = e.stdout
	default:
		f, err := os.OpenFile(o.flowLog, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
		if err != nil {
			return fmt.Errorf("open flow log: %w", err)
		}
		defer f.Close()
		flow = f
	}
	log := slog.New(slog.NewTextHandler(e.stderr, nil))
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	a, err := authz.New(authz.Config{Destination: dest, TrustDomain: o.trustDomain, Registerer: reg, FlowLog: flow, Logger: log})
	if err != nil {
		return err
	}
	store, err := etcd.Open(ctx, ecfg)
	if err != nil {
		return fmt.Errorf("open datastore %s: %w", strings.Join(ecfg.Endpoints, ","), err)
	}
	defer store.Close()

	// Shutdown: stop the loop and the servers, then wait for them all.
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var closers []func()
	defer func() {
		cancel()
		for _, c := range closers {
			c()
		}
		wg.Wait()
	}()

	var addrs listenAddrs
	grpcLis, err := authz.Listen(o.listen)
	if err != nil {
		return err
	}
	addrs.grpc = grpcLis.Addr().String()
	srv := grpc.NewServer()
	a.RegisterGRPC(srv)
	closers = append(closers, srv.Stop, func() { grpcLis.Close() })

	type server struct {
		name string
		lis  net.Listener
		h    http.Handler
	}
	var https []server
	if o.forwardListen != "" {
		l, err := net.Listen("tcp", o.forwardListen)
		if err != nil {
			return fmt.Errorf("forward-auth listen on %s: %w", o.forwardListen, err)
		}
		closers = append(closers, func() { l.Close() })
		addrs.forwardAuth = l.Addr().String()
		https = append(https, server{"forward auth", l, a.ForwardAuthHandler(authz.ForwardAuthOptions{IdentityHeader: o.identityHeader})})
	}
	if o.metricsListen != "" {
		l, err := net.Listen("tcp", o.metricsListen)
		if err != nil {
			return fmt.Errorf("metrics listen on %s: %w", o.metricsListen, err)
		}
		closers = append(closers, func() { l.Close() })
		addrs.metrics = l.Addr().String()
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		https = append(https, server{"metrics", l, mux})
	}

	errs := make(chan error, 2+len(https))
	wg.Go(func() { errs <- a.Run(ctx, store) })
	wg.Go(func() {
		if err := srv.Serve(grpcLis); err != nil {
			errs <- fmt.Errorf("gRPC server: %w", err)
		}
	})
	for _, s := range https {
		hs := &http.Server{Handler: s.h, ReadHeaderTimeout: 10 * time.Second}
		closers = append(closers, func() { hs.Close() })
		wg.Go(func() {
			if err := hs.Serve(s.lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errs <- fmt.Errorf("%s server: %w", s.name, err)
			}
		})
	}
	log.Info("tabby-authz serving", "destination", dest.String(), "grpc", addrs.grpc,
		"forward-auth", addrs.forwardAuth, "metrics", addrs.metrics)
	if e.ready != nil {
		e.ready(addrs)
	}
	select {
	case <-ctx.Done():
		return nil
	case err := <-errs:
		if err == nil {
			return nil
		}
		return err
	}
}
