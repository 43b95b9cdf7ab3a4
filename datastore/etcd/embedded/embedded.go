// Package embedded runs an etcd server inside the process: the datastore of
// a single-machine Tabby (tabby-node with no ETCD_ENDPOINTS), and of tests.
//
// It is a separate package from datastore/etcd so that programs that only
// talk to etcd, such as calicoctl, do not link the etcd server (about 20 MB).
//
// Data lives in Config.Dir and survives restarts: starting again on the same
// directory finds every key and revision where they were. Logging is off
// unless Config.Logger is set. The server keeps one hour of history for
// watches (periodic compaction) so that a long-running datastore does not
// grow without bound.
package embedded

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// Defaults.
const (
	// DefaultClientURL is where clients connect unless Config.ClientURL
	// says otherwise: etcd's usual port, on loopback only.
	DefaultClientURL = "http://127.0.0.1:2379"
	// DefaultName is the member name unless Config.Name says otherwise.
	DefaultName = "default"
	// DefaultMaxTxnOps is the largest transaction the server accepts
	// unless Config.MaxTxnOps says otherwise. It is far above etcd's own
	// default of 128 so that Store.Txn can write a thousand policies at
	// once.
	DefaultMaxTxnOps = 10000
)

// Config configures an embedded server.
type Config struct {
	// Dir is the data directory (required). It is created if missing.
	Dir string
	// Name is the member name (DefaultName if empty).
	Name string
	// ClientURL is the URL to serve clients on (DefaultClientURL if
	// empty). Port 0 picks a free port; Endpoints reports it. An https URL
	// needs CertFile and KeyFile.
	ClientURL string
	// ClientURLs, if not empty, replaces ClientURL with several URLs to
	// serve clients on, such as loopback and a host address. They must
	// share one scheme.
	ClientURLs []string
	// PeerURL is the URL other members reach this one on. If empty, a
	// unix socket in Dir, which needs no port and suits a single member.
	PeerURL string
	// InitialCluster lists every member of a new cluster as
	// name=peerURL,... (empty: this member alone). It is ignored when Dir
	// already holds data.
	InitialCluster string
	// CertFile and KeyFile are the server certificate and key for an https
	// ClientURL. With ClientCAFile, clients must present a certificate
	// signed by that CA.
	CertFile, KeyFile, ClientCAFile string
	// MaxTxnOps is the most operations one transaction may hold
	// (DefaultMaxTxnOps if zero).
	MaxTxnOps uint
	// Logger receives the server's logs (none if nil).
	Logger *zap.Logger
}

// Server is a running embedded etcd member.
type Server struct {
	etcd      *embed.Etcd
	endpoints []string
	closeOnce sync.Once
}

// Start starts the member and waits until it serves clients, which for a
// member of a new multi-member cluster means until a quorum has started.
// If ctx ends first, the member is stopped and Start fails.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	ecfg, err := etcdConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("embedded etcd: %w", err)
	}
	e, err := embed.StartEtcd(ecfg)
	if err != nil {
		return nil, fmt.Errorf("embedded etcd in %s: %w", cfg.Dir, err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("embedded etcd in %s: %w", cfg.Dir, err)
	case <-e.Server.StopNotify():
		e.Close()
		return nil, fmt.Errorf("embedded etcd in %s: stopped while starting", cfg.Dir)
	case <-ctx.Done():
		e.Close()
		return nil, fmt.Errorf("embedded etcd in %s: %w", cfg.Dir, ctx.Err())
	}
	scheme := ecfg.ListenClientUrls[0].Scheme
	var eps []string
	for _, l := range e.Clients {
		eps = append(eps, scheme+"://"+l.Addr().String())
	}
	slices.Sort(eps)
	return &Server{etcd: e, endpoints: eps}, nil
}

func etcdConfig(cfg Config) (*embed.Config, error) {
	if cfg.Dir == "" {
		return nil, errors.New("no data directory")
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, err
	}
	if cfg.Name == "" {
		cfg.Name = DefaultName
	}
	clientURLs := cfg.ClientURLs
	if len(clientURLs) == 0 {
		clientURLs = []string{cfg.ClientURL}
	}
	if clientURLs[0] == "" {
		clientURLs = []string{DefaultClientURL}
	}
	if cfg.PeerURL == "" {
		cfg.PeerURL = "unix://" + filepath.Join(dir, "peer.sock")
	}
	if cfg.MaxTxnOps == 0 {
		cfg.MaxTxnOps = DefaultMaxTxnOps
	}
	var curls []url.URL
	for _, s := range clientURLs {
		u, err := parseURL("client", s)
		if err != nil {
			return nil, err
		}
		if len(curls) > 0 && u.Scheme != curls[0].Scheme {
			return nil, fmt.Errorf("client URLs %s and %s: all client URLs must have the same scheme", clientURLs[0], s)
		}
		curls = append(curls, *u)
	}
	curl := &curls[0]
	purl, err := parseURL("peer", cfg.PeerURL)
	if err != nil {
		return nil, err
	}
	ecfg := embed.NewConfig()
	ecfg.Dir = dir
	ecfg.Name = cfg.Name
	ecfg.ListenClientUrls, ecfg.AdvertiseClientUrls = curls, curls
	ecfg.ListenPeerUrls, ecfg.AdvertisePeerUrls = []url.URL{*purl}, []url.URL{*purl}
	ecfg.InitialCluster = cfg.InitialCluster
	if ecfg.InitialCluster == "" {
		ecfg.InitialCluster = ecfg.InitialClusterFromName(cfg.Name)
	}
	ecfg.MaxTxnOps = cfg.MaxTxnOps
	ecfg.AutoCompactionMode = embed.CompactorModePeriodic
	ecfg.AutoCompactionRetention = "1h"
	logger := cfg.Logger
	if logger == nil {
		logger = zap.NewNop()
	}
	ecfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(logger)
	if curl.Scheme == "https" {
		if cfg.CertFile == "" || cfg.KeyFile == "" {
			return nil, fmt.Errorf("client URL %s needs a certificate and key", curl.String())
		}
		ecfg.ClientTLSInfo.CertFile = cfg.CertFile
		ecfg.ClientTLSInfo.KeyFile = cfg.KeyFile
		if cfg.ClientCAFile != "" {
			ecfg.ClientTLSInfo.TrustedCAFile = cfg.ClientCAFile
			ecfg.ClientTLSInfo.ClientCertAuth = true
		}
	}
	return ecfg, nil
}

func parseURL(what, s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("%s URL: %w", what, err)
	}
	switch u.Scheme {
	case "http", "https", "unix", "unixs":
	default:
		return nil, fmt.Errorf("%s URL %q: scheme must be http, https, unix or unixs", what, s)
	}
	if strings.TrimSuffix(u.Path, "/") != "" && !strings.HasPrefix(u.Scheme, "unix") {
		return nil, fmt.Errorf("%s URL %q must not have a path", what, s)
	}
	return u, nil
}

// Endpoints returns the client URLs the server listens on, with the real
// port when ClientURL asked for port 0.
func (s *Server) Endpoints() []string { return append([]string(nil), s.endpoints...) }

// IsLeader reports whether the member currently leads its cluster (a
// single member always does once started).
func (s *Server) IsLeader() bool {
	return s.etcd.Server.Leader() == s.etcd.Server.MemberID()
}

// Err returns a channel that receives an error if the server fails after
// starting.
func (s *Server) Err() <-chan error { return s.etcd.Err() }

// Close stops the server and waits until it has released its data
// directory and ports. Closing a closed server does nothing.
func (s *Server) Close() error {
	s.closeOnce.Do(s.etcd.Close)
	return nil
}
