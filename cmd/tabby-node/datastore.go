package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tabby-project/tabby/datastore/etcd/embedded"
)

// defaultDataDir is where the embedded datastore keeps its data unless
// --data-dir says otherwise.
const defaultDataDir = "/var/lib/tabby/etcd"

// datastoreOptions are the flags of tabby-node datastore.
type datastoreOptions struct {
	dataDir                          string
	listenClientURLs                 string
	certFile, keyFile, trustedCAFile string
}

func newDatastoreCommand(e env) *cobra.Command {
	var o datastoreOptions
	cmd := &cobra.Command{
		Use:   "datastore [--data-dir DIR] [--listen-client-urls URLS]",
		Short: "Run only the embedded etcd datastore",
		Long: `Run the etcd datastore that a single-machine Tabby embeds, and nothing else,
until SIGINT or SIGTERM.

The datastore is a one-member etcd cluster. It serves etcd's v3 API on
--listen-client-urls (default http://127.0.0.1:2379, loopback only: give
another address, such as http://10.0.0.5:2379, to serve other hosts, with
TLS) and keeps its data in --data-dir, so resources and their revisions
survive restarts. calicoctl and tabby-node agents reach it with
ETCD_ENDPOINTS (calicoctl's default is this URL). Calico's key layout is
used: /calico/resources/v3/projectcalico.org/<plural>/[<namespace>/]<name>.
History older than an hour is compacted.

With --cert-file and --key-file the datastore serves https; with
--trusted-ca-file too, clients must present a certificate signed by that CA
(give calicoctl ETCD_CA_CERT_FILE, ETCD_CERT_FILE and ETCD_KEY_FILE).

When ETCD_ENDPOINTS is set, the hosts use that external etcd cluster and
this command refuses to start, so that no one writes to a datastore that
nothing reads.

It prints one line when it serves, then runs in the foreground; stop it
with SIGINT (Ctrl-C) or SIGTERM, which shut it down cleanly.`,
		Example: `  # The default: loopback only, data in /var/lib/tabby/etcd
  tabby-node datastore

  # Keep the data elsewhere and use another port
  tabby-node datastore --data-dir /srv/tabby --listen-client-urls http://127.0.0.1:12379

  # Serve other hosts over TLS with client certificates
  tabby-node datastore --listen-client-urls https://10.0.0.5:2379 \
    --cert-file server.pem --key-file server-key.pem --trusted-ca-file ca.pem`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDatastore(cmd, e, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.dataDir, "data-dir", defaultDataDir, "directory that holds the datastore's data (created if missing)")
	f.StringVar(&o.listenClientURLs, "listen-client-urls", embedded.DefaultClientURL,
		"comma-separated URLs to serve clients on (port 0 picks a free port)")
	f.StringVar(&o.certFile, "cert-file", "", "server certificate (PEM) for https client URLs")
	f.StringVar(&o.keyFile, "key-file", "", "server key (PEM) for https client URLs")
	f.StringVar(&o.trustedCAFile, "trusted-ca-file", "", "CA (PEM) that must have signed client certificates")
	return cmd
}

func runDatastore(cmd *cobra.Command, e env, o datastoreOptions) error {
	for _, v := range []string{"CALICO_ETCD_ENDPOINTS", "ETCD_ENDPOINTS"} {
		if eps := e.getenv(v); eps != "" {
			fmt.Fprintf(e.stderr, "tabby-node datastore: %s is set (%s): the hosts use that etcd, so the embedded datastore "+
				"must not run; unset %s to run it\n", v, eps, v)
			return &exitError{code: 1}
		}
	}
	var urls []string
	for _, u := range strings.Split(o.listenClientURLs, ",") {
		if u = strings.TrimSpace(u); u != "" {
			urls = append(urls, u)
		}
	}
	ctx := cmd.Context()
	srv, err := embedded.Start(ctx, embedded.Config{
		Dir:          o.dataDir,
		ClientURLs:   urls,
		CertFile:     o.certFile,
		KeyFile:      o.keyFile,
		ClientCAFile: o.trustedCAFile,
	})
	if err != nil {
		fmt.Fprintf(e.stderr, "tabby-node datastore: %v\n", err)
		return &exitError{code: 1}
	}
	defer srv.Close()
	fmt.Fprintf(e.stdout, "tabby-node datastore: serving etcd on %s with data in %s\n",
		strings.Join(srv.Endpoints(), ","), o.dataDir)
	select {
	case <-ctx.Done():
		fmt.Fprintln(e.stdout, "tabby-node datastore: stopping")
		return nil
	case err := <-srv.Err():
		fmt.Fprintf(e.stderr, "tabby-node datastore: etcd failed: %v\n", err)
		return &exitError{code: 1}
	}
}
