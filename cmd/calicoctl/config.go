package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	v3 "github.com/tabby-project/tabby/api/v3"
	"github.com/tabby-project/tabby/datastore"
	"github.com/tabby-project/tabby/datastore/etcd"
)

// Connection defaults.
const (
	// defaultConfigPath is where calicoctl looks for its configuration
	// when -c is not given; if the file does not exist, the environment
	// configures it instead.
	defaultConfigPath = "/etc/calico/calicoctl.cfg"
	// defaultEtcdEndpoint is the datastore used when nothing names one:
	// the embedded etcd that tabby-node runs on a single machine.
	defaultEtcdEndpoint = "http://127.0.0.1:2379"
	// kindCalicoAPIConfig is the kind of a calicoctl configuration file.
	kindCalicoAPIConfig = "CalicoAPIConfig"
)

// Datastore types.
const (
	datastoreEtcdV3     = "etcdv3"
	datastoreKubernetes = "kubernetes"
)

// configReadErrorIntro starts calicoctl's message for a configuration file
// it cannot read, which it prints without the "Failed to create Calico API
// client" prefix of other configuration errors.
const configReadErrorIntro = "Error reading config file: "

// apiConfig is the spec of a CalicoAPIConfig: how calicoctl reaches the
// datastore. Its JSON names are Calico's, so every calicoctl.cfg written for
// Calico parses (strictly: a misspelt field is an error). The Kubernetes
// fields are accepted so that such files load, but Tabby's calicoctl only
// talks to etcd.
type apiConfig struct {
	DatastoreType    string `json:"datastoreType"`
	EtcdEndpoints    string `json:"etcdEndpoints"`
	EtcdDiscoverySrv string `json:"etcdDiscoverySrv"`
	EtcdUsername     string `json:"etcdUsername"`
	EtcdPassword     string `json:"etcdPassword"`
	EtcdKeyFile      string `json:"etcdKeyFile"`
	EtcdCertFile     string `json:"etcdCertFile"`
	EtcdCACertFile   string `json:"etcdCACertFile"`
	// EtcdKey, EtcdCert and EtcdCACert hold PEM data inline; like Calico,
	// they can only be set in the file.
	EtcdKey    string `json:"etcdKey"`
	EtcdCert   string `json:"etcdCert"`
	EtcdCACert string `json:"etcdCACert"`

	Kubeconfig               string  `json:"kubeconfig"`
	K8sAPIEndpoint           string  `json:"k8sAPIEndpoint"`
	K8sKeyFile               string  `json:"k8sKeyFile"`
	K8sCertFile              string  `json:"k8sCertFile"`
	K8sCAFile                string  `json:"k8sCAFile"`
	K8sAPIToken              string  `json:"k8sAPIToken"`
	K8sInsecureSkipTLSVerify bool    `json:"k8sInsecureSkipTLSVerify"`
	K8sDisableNodePoll       bool    `json:"k8sDisableNodePoll"`
	K8sUsePodCIDR            bool    `json:"usePodCIDR"`
	KubeconfigInline         string  `json:"kubeconfigInline"`
	K8sClientQPS             float32 `json:"k8sClientQPS"`
	K8sCurrentContext        string  `json:"k8sCurrentContext"`
	CalicoAPIGroup           string  `json:"calicoAPIGroup"`

	// dialTimeout and requestTimeout bound the first contact with etcd and
	// each request (the datastore/etcd defaults if zero). They are not
	// part of Calico's file format.
	dialTimeout, requestTimeout time.Duration
}

// calicoAPIConfig is the document of a calicoctl configuration file.
type calicoAPIConfig struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              apiConfig `json:"spec,omitempty"`
}

// envVars maps each setting that the environment may give to the
// variable that gives it. Calico reads CALICO_<NAME> first, then <NAME>.
func (c *apiConfig) envVars() []struct {
	name string
	dst  *string
} {
	return []struct {
		name string
		dst  *string
	}{
		{"DATASTORE_TYPE", &c.DatastoreType},
		{"ETCD_ENDPOINTS", &c.EtcdEndpoints},
		{"ETCD_DISCOVERY_SRV", &c.EtcdDiscoverySrv},
		{"ETCD_USERNAME", &c.EtcdUsername},
		{"ETCD_PASSWORD", &c.EtcdPassword},
		{"ETCD_KEY_FILE", &c.EtcdKeyFile},
		{"ETCD_CERT_FILE", &c.EtcdCertFile},
		{"ETCD_CA_CERT_FILE", &c.EtcdCACertFile},
		{"KUBECONFIG", &c.Kubeconfig},
		{"K8S_API_ENDPOINT", &c.K8sAPIEndpoint},
	}
}

// addConfigFlag adds calicoctl's -c/--config flag, which every command that
// reaches the datastore takes.
func addConfigFlag(f *pflag.FlagSet, path *string) {
	f.StringVarP(path, "config", "c", defaultConfigPath,
		"path to the file containing connection configuration in YAML or JSON format")
}

// loadAPIConfig reads calicoctl's connection configuration as Calico does:
// from the CalicoAPIConfig file at path if it exists; from the environment
// (getenv) if path is the default file and it does not exist. A path given
// with -c that does not exist is an error. The datastore type defaults to
// etcdv3 when etcd endpoints are set; when nothing names a datastore, Tabby
// uses the embedded etcd at http://127.0.0.1:2379 (Calico would try
// Kubernetes).
func loadAPIConfig(path string, getenv func(string) string) (apiConfig, error) {
	var cfg apiConfig
	_, err := os.Stat(path)
	switch {
	case err == nil:
		data, err := os.ReadFile(path)
		if err != nil {
			return cfg, errors.New(configReadErrorIntro + path)
		}
		if cfg, err = parseAPIConfig(data); err != nil {
			return cfg, fmt.Errorf("syntax error in %s: %w", path, err)
		}
	case path != defaultConfigPath || !errors.Is(err, fs.ErrNotExist):
		return cfg, errors.New(configReadErrorIntro + path)
	default:
		for _, v := range cfg.envVars() {
			if val := getenv("CALICO_" + v.name); val != "" {
				*v.dst = val
			} else if val := getenv(v.name); val != "" {
				*v.dst = val
			}
		}
	}
	if cfg.DatastoreType == "" {
		cfg.DatastoreType = datastoreEtcdV3
		if cfg.EtcdEndpoints == "" && (cfg.Kubeconfig != "" || cfg.K8sAPIEndpoint != "") {
			cfg.DatastoreType = datastoreKubernetes
		}
	}
	return cfg, nil
}

// parseAPIConfig parses a CalicoAPIConfig document, YAML or JSON.
func parseAPIConfig(data []byte) (apiConfig, error) {
	var doc calicoAPIConfig
	if err := yaml.UnmarshalStrict(data, &doc); err != nil {
		return apiConfig{}, fmt.Errorf("failed to parse config as YAML/JSON: %w", err)
	}
	if doc.APIVersion != v3.APIVersion {
		return apiConfig{}, fmt.Errorf("invalid config file: unknown APIVersion '%s'", doc.APIVersion)
	}
	if doc.Kind != kindCalicoAPIConfig {
		return apiConfig{}, fmt.Errorf("invalid config file: expected kind '%s', got '%s'", kindCalicoAPIConfig, doc.Kind)
	}
	return doc.Spec, nil
}

// etcdConfig turns the configuration into the etcd client's, checking what
// Tabby cannot honour.
func (c apiConfig) etcdConfig() (etcd.Config, error) {
	switch c.DatastoreType {
	case datastoreEtcdV3:
	case datastoreKubernetes:
		return etcd.Config{}, errors.New(`datastore type "kubernetes" is not supported by Tabby's calicoctl: ` +
			`set DATASTORE_TYPE=etcdv3 and ETCD_ENDPOINTS (or datastoreType and etcdEndpoints in the config file)`)
	default:
		return etcd.Config{}, fmt.Errorf("unknown datastore type %q: want %q", c.DatastoreType, datastoreEtcdV3)
	}
	if c.EtcdDiscoverySrv != "" {
		if c.EtcdEndpoints != "" {
			return etcd.Config{}, errors.New(`multiple discovery or bootstrap options specified, use either "etcdEndpoints" or "etcdDiscoverySrv"`)
		}
		return etcd.Config{}, errors.New("etcd DNS discovery (etcdDiscoverySrv, ETCD_DISCOVERY_SRV) is not supported by Tabby: list the members in etcdEndpoints (ETCD_ENDPOINTS)")
	}
	endpoints := c.EtcdEndpoints
	if endpoints == "" {
		endpoints = defaultEtcdEndpoint
	}
	var eps []string
	for _, ep := range strings.Split(endpoints, ",") {
		if ep = strings.TrimSpace(ep); ep != "" {
			eps = append(eps, ep)
		}
	}
	return etcd.Config{
		Endpoints:      eps,
		CACertFile:     c.EtcdCACertFile,
		CertFile:       c.EtcdCertFile,
		KeyFile:        c.EtcdKeyFile,
		CACert:         c.EtcdCACert,
		Cert:           c.EtcdCert,
		Key:            c.EtcdKey,
		Username:       c.EtcdUsername,
		Password:       c.EtcdPassword,
		DialTimeout:    c.dialTimeout,
		RequestTimeout: c.requestTimeout,
	}, nil
}

// openStore connects to the datastore cfg names. It fails, within the dial
// timeout, if the datastore does not answer; the error then matches
// datastore.ErrUnavailable. The caller closes the store.
func openStore(ctx context.Context, cfg apiConfig) (datastore.Store, error) {
	ecfg, err := cfg.etcdConfig()
	if err != nil {
		return nil, err
	}
	s, err := etcd.Open(ctx, ecfg)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// connect loads the configuration at configPath and opens the datastore.
// Problems are reported as calicoctl reports them ("Error reading config
// file: ...", "Failed to create Calico API client: ...") on s.err, and
// the returned error is then an exitError.
func connect(ctx context.Context, s streams, configPath string) (datastore.Store, error) {
	cfg, err := loadAPIConfig(configPath, os.Getenv)
	if err == nil {
		var store datastore.Store
		if store, err = openStore(ctx, cfg); err == nil {
			return store, nil
		}
	}
	if msg := err.Error(); strings.HasPrefix(msg, configReadErrorIntro) {
		fmt.Fprintln(s.err, msg)
	} else {
		fmt.Fprintf(s.err, "Failed to create Calico API client: %s\n", msg)
	}
	return nil, &exitError{code: 1}
}
