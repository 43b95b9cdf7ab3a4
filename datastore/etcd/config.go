package etcd

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"
)

// Default timeouts.
const (
	// DefaultDialTimeout bounds Open's first contact with the cluster.
	DefaultDialTimeout = 5 * time.Second
	// DefaultRequestTimeout bounds every request, as Calico's 10 s client
	// timeout does.
	DefaultRequestTimeout = 10 * time.Second
)

// Config says how to reach an etcd v3 cluster. It mirrors the etcd fields
// of calicoctl's CalicoAPIConfig.
type Config struct {
	// Endpoints are the client URLs of the cluster members
	// (http://host:port, https://host:port, or unix:///path for a member
	// serving on a unix socket, which reaches it from any network
	// namespace); requests go to any of them.
	Endpoints []string

	// CACertFile, CertFile and KeyFile are PEM files: the CA that signed
	// the servers' certificates, and the client certificate and key to
	// present. They cannot be combined with CACert, Cert and Key, which
	// hold the same PEM data inline (calicoctl.cfg's etcdCACert, etcdCert,
	// etcdKey).
	CACertFile, CertFile, KeyFile string
	CACert, Cert, Key             string

	// Username and Password authenticate with etcd's auth; both or neither.
	Username, Password string

	// DialTimeout bounds Open's first contact with the cluster
	// (DefaultDialTimeout if zero).
	DialTimeout time.Duration
	// RequestTimeout bounds each request after Open; a cluster that does
	// not answer in time gives ErrUnavailable (DefaultRequestTimeout if
	// zero).
	RequestTimeout time.Duration
}

func (c Config) withDefaults() Config {
	if c.DialTimeout <= 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	return c
}

// tlsConfig returns the client TLS configuration, or nil for plain
// connections.
func (c Config) tlsConfig() (*tls.Config, error) {
	haveFiles := c.CACertFile != "" || c.CertFile != "" || c.KeyFile != ""
	haveInline := c.CACert != "" || c.Cert != "" || c.Key != ""
	secure := false
	for _, ep := range c.Endpoints {
		if strings.HasPrefix(ep, "https://") {
			secure = true
		}
	}
	switch {
	case haveFiles && haveInline:
		return nil, errors.New("cannot mix inline certificate-key and certificate / key files")
	case !haveFiles && !haveInline && !secure:
		return nil, nil
	}
	caPEM, certPEM, keyPEM := []byte(c.CACert), []byte(c.Cert), []byte(c.Key)
	for _, f := range []struct {
		path string
		dst  *[]byte
	}{{c.CACertFile, &caPEM}, {c.CertFile, &certPEM}, {c.KeyFile, &keyPEM}} {
		if f.path == "" {
			continue
		}
		data, err := os.ReadFile(f.path)
		if err != nil {
			return nil, fmt.Errorf("read etcd TLS file: %w", err)
		}
		*f.dst = data
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if len(caPEM) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(caPEM) {
			return nil, errors.New("etcd CA certificate: no PEM certificate found")
		}
		cfg.RootCAs = pool
	}
	switch {
	case len(certPEM) > 0 && len(keyPEM) > 0:
		cert, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return nil, fmt.Errorf("etcd client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	case len(certPEM) > 0 || len(keyPEM) > 0:
		return nil, errors.New("etcd client certificate and key must be given together")
	}
	return cfg, nil
}

// checkEndpoints rejects endpoint lists the client would misread.
func (c Config) checkEndpoints() error {
	if len(c.Endpoints) == 0 {
		return errors.New("no etcd endpoints specified")
	}
	for _, ep := range c.Endpoints {
		if _, _, err := dialAddr(ep); err != nil {
			return err
		}
	}
	if (c.Username == "") != (c.Password == "") {
		return errors.New("etcd username and password must be given together")
	}
	return nil
}

// dialAddr returns the network and address a connection to the endpoint
// dials: TCP to host:port, or the socket file of a unix:///path endpoint.
func dialAddr(ep string) (network, addr string, err error) {
	u, err := url.Parse(ep)
	switch {
	case err != nil:
	case (u.Scheme == "http" || u.Scheme == "https") && u.Host != "":
		return "tcp", u.Host, nil
	case u.Scheme == "unix" && u.Host == "" && u.Path != "":
		return "unix", u.Path, nil
	}
	return "", "", fmt.Errorf("etcd endpoint %q: want http://host:port, https://host:port or unix:///path", ep)
}

// ErrDatastoreType is returned by ConfigFromEnv when DATASTORE_TYPE names
// a datastore other than etcdv3.
var ErrDatastoreType = errors.New("etcd: not an etcdv3 datastore")

// ConfigFromEnv reads the etcd settings Calico's components read from
// their environment through getenv, each variable as CALICO_<NAME> first,
// then <NAME>: DATASTORE_TYPE (empty or etcdv3), ETCD_ENDPOINTS
// (comma-separated), ETCD_CA_CERT_FILE, ETCD_CERT_FILE, ETCD_KEY_FILE,
// ETCD_USERNAME and ETCD_PASSWORD. Endpoints is empty when none is set;
// each caller decides what that means (the embedded etcd, or its default
// URL).
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	get := func(name string) string {
		if v := getenv("CALICO_" + name); v != "" {
			return v
		}
		return getenv(name)
	}
	if t := get("DATASTORE_TYPE"); t != "" && t != "etcdv3" {
		return Config{}, fmt.Errorf("DATASTORE_TYPE=%s is not supported: use etcdv3 (%w)", t, ErrDatastoreType)
	}
	cfg := Config{
		CACertFile: get("ETCD_CA_CERT_FILE"),
		CertFile:   get("ETCD_CERT_FILE"),
		KeyFile:    get("ETCD_KEY_FILE"),
		Username:   get("ETCD_USERNAME"),
		Password:   get("ETCD_PASSWORD"),
	}
	for _, ep := range strings.Split(get("ETCD_ENDPOINTS"), ",") {
		if ep = strings.TrimSpace(ep); ep != "" {
			cfg.Endpoints = append(cfg.Endpoints, ep)
		}
	}
	return cfg, nil
}
