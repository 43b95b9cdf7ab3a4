package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"

	v3 "github.com/tabby-project/tabby/api/v3"
)

// getSeed is the datastore every get case starts from.
const getSeed = `apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: web, namespace: prod}
spec: {order: 100, selector: app == 'web'}
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: db, namespace: prod}
spec: {selector: app == 'db'}
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: dns}
spec: {order: 5, selector: all()}
---
apiVersion: projectcalico.org/v3
kind: Tier
metadata: {name: security}
spec: {order: 50}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: quarantine}
spec: {tier: security, order: 1, selector: quarantine == 'true'}
---
apiVersion: projectcalico.org/v3
kind: HostEndpoint
metadata: {name: eth0.h1, labels: {role: gw}}
spec: {node: h1, interfaceName: eth0, expectedIPs: [10.0.0.1, 10.0.0.2], profiles: [projectcalico-default-allow]}
---
apiVersion: projectcalico.org/v3
kind: WorkloadEndpoint
metadata: {name: h1-k8s-pod1-eth0, namespace: prod}
spec: {node: h1, orchestrator: k8s, pod: pod1, endpoint: eth0, interfaceName: cali1, ipNetworks: [10.1.0.5/32],
  ipNATs: [{internalIP: 10.1.0.5, externalIP: 192.0.2.5}], profiles: [kns.prod]}
---
apiVersion: projectcalico.org/v3
kind: NetworkSet
metadata: {name: partners, namespace: prod}
spec: {nets: [198.51.100.0/24, 203.0.113.0/24]}
---
apiVersion: projectcalico.org/v3
kind: Profile
metadata: {name: kns.prod}
spec: {labelsToApply: {pcns.name: prod, pcns.env: production}}
`

// TestGetCommand covers calicoctl get: every output format, namespaces,
// names, files, and its errors.
func TestGetCommand(t *testing.T) {
	e := startDatastore(t)
	e.mustCtl(t, getSeed, "apply", "-f", "-")
	dir := t.TempDir()
	tmplFile := writeFile(t, dir, "names.tmpl", `{{range .}}{{range .Items}}{{.ObjectMeta.Namespace}}/{{.ObjectMeta.Name}} {{end}}{{end}}`)
	getFile := writeFile(t, dir, "get.yaml", docs(npYAML("prod", "web", "x"), gnpYAML("quarantine", "", 1)))

	tables := []struct {
		name   string
		args   []string
		stdout string
	}{
		{"policies of the default namespace, default columns", []string{"get", "networkpolicy"},
			"NAME   TIER      \ndns    default   \n\n"},
		{"policies of a namespace with -n, NAMESPACE first", []string{"get", "policies", "-n", "prod"},
			"NAMESPACE   NAME   TIER      \nprod        db     default   \nprod        web    default   \n\n"},
		{"policies of every namespace, wide, order printed as Go prints it", []string{"get", "np", "-A", "-o", "wide"},
			"NAMESPACE   NAME   TIER      ORDER   SELECTOR       \n" +
				"default     dns    default   5       all()          \n" +
				"prod        db     default   <nil>   app == 'db'    \n" +
				"prod        web    default   100     app == 'web'   \n\n"},
		{"-a is the old spelling of -A", []string{"get", "pol", "-a"},
			"NAMESPACE   NAME   TIER      \ndefault     dns    default   \nprod        db     default   \nprod        web    default   \n\n"},
		{"named policies print one table each", []string{"get", "np", "web", "db", "-n", "prod"},
			"NAMESPACE   NAME   TIER      \nprod        web    default   \n\nNAMESPACE   NAME   TIER      \nprod        db     default   \n\n"},
		{"tiers are listed by order, Go float formatting", []string{"get", "tiers"},
			"NAME            ORDER   \nsecurity        50      \nkube-admin      1000    \ndefault         1e+06   \nkube-baseline   1e+07   \n\n"},
		{"global policies have no namespace column", []string{"get", "gnp", "-o", "wide"},
			"NAME         TIER       ORDER   SELECTOR               \nquarantine   security   1       quarantine == 'true'   \n\n"},
		{"host endpoints, wide", []string{"get", "heps", "-o", "wide"},
			"NAME      NODE   INTERFACE   IPS                 PROFILES                      \n" +
				"eth0.h1   h1     eth0        10.0.0.1,10.0.0.2   projectcalico-default-allow   \n\n"},
		{"workload endpoints, default columns", []string{"get", "wep", "-n", "prod"},
			"NAMESPACE   WORKLOAD   NODE   NETWORKS      INTERFACE   \nprod        pod1       h1     10.1.0.5/32   cali1       \n\n"},
		{"workload endpoints, wide, NATs as Calico prints them", []string{"get", "weps", "-A", "-o", "wide"},
			"NAMESPACE   NAME               WORKLOAD   NODE   NETWORKS      INTERFACE   PROFILES   NATS                   \nprod        h1-k8s-pod1-eth0   pod1       h1     10.1.0.5/32   cali1       kns.prod   {10.1.0.5 192.0.2.5}   \n\n"},
		{"network sets, wide", []string{"get", "netsets", "-n", "prod", "-o", "wide"},
			"NAMESPACE   NAME       NETS                             \nprod        partners   198.51.100.0/24,203.0.113.0/24   \n\n"},
		{"profiles include the static default-allow profile, labels sorted", []string{"get", "profiles", "-o", "wide"},
			"NAME                          LABELS                               \nkns.prod                      pcns.env=production,pcns.name=prod   \nprojectcalico-default-allow                                        \n\n"},
		{"custom columns, as named", []string{"get", "np", "-n", "prod", "-o", "custom-columns=SELECTOR,NAME"},
			"SELECTOR       NAME   \napp == 'db'    db     \napp == 'web'   web    \n\n"},
		{"a go template runs on the list of results", []string{"get", "np", "-A", "-o", `go-template={{range .}}{{len .Items}} {{.Kind}}{{end}}`},
			"3 NetworkPolicyList"},
		{"a go template file too", []string{"get", "np", "-A", "-o", "go-template-file=" + tmplFile},
			"default/dns prod/db prod/web "},
		{"the resources a file names", []string{"get", "-f", getFile},
			"NAME   TIER      \nweb    default   \n\nNAME         TIER       \nquarantine   security   \n\n"},
		{"an empty list is a table with only headings", []string{"get", "np", "-n", "empty"},
			"NAMESPACE   NAME   TIER   \n\n"},
	}
	for _, tt := range tables {
		t.Run(tt.name, func(t *testing.T) {
			wantResult(t, e.ctl(t, "", tt.args...), 0, tt.stdout, "")
		})
	}

	t.Run("yaml of one resource is the resource with its resourceVersion", func(t *testing.T) {
		out := e.mustCtl(t, "", "get", "np", "web", "-n", "prod", "-o", "yaml")
		var m map[string]any
		if err := yaml.Unmarshal([]byte(out), &m); err != nil {
			t.Fatal(err)
		}
		md := m["metadata"].(map[string]any)
		if m["kind"] != "NetworkPolicy" || md["name"] != "web" || md["resourceVersion"] == nil || md["uid"] == nil {
			t.Errorf("yaml = %v", m)
		}
		if !strings.HasPrefix(out, "apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata:\n") {
			t.Errorf("keys are not sorted as calicoctl prints them:\n%s", out)
		}
	})
	t.Run("json of a listing is a <Kind>List with the datastore revision", func(t *testing.T) {
		out := e.mustCtl(t, "", "get", "np", "-A", "-o", "json")
		var l struct {
			Kind, APIVersion string
			Metadata         struct{ ResourceVersion string }
			Items            []map[string]any
		}
		if err := json.Unmarshal([]byte(out), &l); err != nil {
			t.Fatalf("%v:\n%s", err, out)
		}
		if l.Kind != "NetworkPolicyList" || l.APIVersion != "projectcalico.org/v3" || l.Metadata.ResourceVersion == "" || len(l.Items) != 3 {
			t.Errorf("list = %+v", l)
		}
		if !strings.HasPrefix(out, "{\n  \"kind\": \"NetworkPolicyList\",\n  \"apiVersion\": \"projectcalico.org/v3\",\n") {
			t.Errorf("not indented or ordered as calicoctl prints it:\n%s", out[:80])
		}
	})
	t.Run("several named resources print as a list in yaml and json", func(t *testing.T) {
		var y []map[string]any
		if err := yaml.Unmarshal([]byte(e.mustCtl(t, "", "get", "np", "web", "db", "-n", "prod", "-o", "yml")), &y); err != nil || len(y) != 2 {
			t.Errorf("yaml: %d items, %v", len(y), err)
		}
		var j []map[string]any
		if err := json.Unmarshal([]byte(e.mustCtl(t, "", "get", "np", "web", "db", "-n", "prod", "-o", "json")), &j); err != nil || len(j) != 2 {
			t.Errorf("json: %d items, %v", len(j), err)
		}
	})
	t.Run("--export leaves out what ties a named resource to this datastore", func(t *testing.T) {
		out := e.mustCtl(t, "", "get", "np", "web", "-n", "prod", "-o", "yaml", "--export")
		for _, f := range []string{"namespace:", "uid:", "resourceVersion:", "creationTimestamp:"} {
			if strings.Contains(out, f) {
				t.Errorf("exported output has %s:\n%s", f, out)
			}
		}
		objs, err := v3.Decode([]byte(out))
		if err != nil || len(objs) != 1 {
			t.Fatalf("exported output does not decode: %v", err)
		}
	})
	t.Run("every kind answers to every calicoctl alias, in any case", func(t *testing.T) {
		for _, k := range v3.Kinds() {
			for _, alias := range append(k.Aliases, strings.ToUpper(k.Aliases[0]), k.Kind) {
				r := e.ctl(t, "", "get", alias, "-o", "go-template={{range .}}{{.Kind}}{{end}}")
				if r.code != 0 || r.stdout != k.Kind+"List" {
					t.Errorf("get %s: exit %d, stdout %q, stderr %q; want %sList", alias, r.code, r.stdout, r.stderr, k.Kind)
				}
			}
		}
	})

	errs := []struct {
		name           string
		args           []string
		code           int
		stdout, stderr string
	}{
		{"an unknown kind", []string{"get", "widgets"}, 1, "", "failed to get resources: resource type 'widgets' is not supported\n"},
		{"a Calico kind Tabby does not manage", []string{"get", "ippools"}, 1, "",
			"failed to get resources: resource type 'ippools' is not supported: IPPool is a Calico kind that Tabby does not manage\n"},
		{"no kind", []string{"get"}, 1, "",
			"failed to get resources: no resource type given: name a KIND (such as networkpolicy) or give -f FILENAME\n"},
		{"an unknown output format", []string{"get", "np", "-o", "xml"}, 1, "", "unrecognized output format 'xml'\n"},
		{"an unknown custom column", []string{"get", "tiers", "-o", "custom-columns=NAME,COLOR"}, 1, "",
			"Unknown heading COLOR, valid values are: NAME, ORDER\n"},
		{"a missing resource", []string{"get", "np", "nope"}, 1, "",
			"resource does not exist: NetworkPolicy(default/nope) with error: <nil>\n"},
		{"a missing resource among found ones prints the found ones, then the error", []string{"get", "np", "web", "nope", "-n", "prod"}, 1,
			"NAMESPACE   NAME   TIER      \nprod        web    default   \n\n",
			"resource does not exist: NetworkPolicy(prod/nope) with error: <nil>\n"},
		{"a name with -A", []string{"get", "np", "web", "-A"}, 1, "", "cannot use --all-namespace flag for getting a single resource\n"},
		{"-n with -A", []string{"get", "np", "-A", "-n", "prod"}, 1, "", "cannot use both --namespace and --all-namespaces flags at the same time\n"},
		{"-n for a global kind", []string{"get", "gnp", "-n", "prod"}, 1, "", "GlobalNetworkPolicy is not namespaced\n"},
		{"a file and a kind", []string{"get", "np", "-f", getFile}, 1, "",
			"failed to get resources: give either KIND [NAME...] or -f FILENAME, not both\n"},
	}
	for _, tt := range errs {
		t.Run("an error: "+tt.name, func(t *testing.T) {
			wantResult(t, e.ctl(t, "", tt.args...), tt.code, tt.stdout, tt.stderr)
		})
	}
}

// TestConfiguration covers how calicoctl finds its datastore: -c files in
// YAML and JSON, the environment, and the errors of each.
func TestConfiguration(t *testing.T) {
	e := startDatastore(t)
	e.mustCtl(t, gnpYAML("g", "", 1), "apply", "-f", "-")
	dir := t.TempDir()
	ep := strings.Join(e.srv.Endpoints(), ",")
	jsonCfg := writeFile(t, dir, "cfg.json", `{"apiVersion":"projectcalico.org/v3","kind":"CalicoAPIConfig","spec":{"etcdEndpoints":"`+ep+`"}}`)
	several := filepath.Join(dir, "several.cfg")
	e.writeConfig(t, several, "etcdEndpoints: "+closedPortURL(t)+","+ep)
	missing := filepath.Join(dir, "missing.cfg")
	wrongKind := writeFile(t, dir, "wrong.cfg", "apiVersion: projectcalico.org/v3\nkind: Tier\nspec: {}\n")
	typo := writeFile(t, dir, "typo.cfg", "apiVersion: projectcalico.org/v3\nkind: CalicoAPIConfig\nspec:\n  etcdEndpoint: x\n")
	kube := writeFile(t, dir, "kube.cfg", "apiVersion: projectcalico.org/v3\nkind: CalicoAPIConfig\nspec:\n  datastoreType: kubernetes\n  kubeconfig: /k\n")
	srv := writeFile(t, dir, "srv.cfg", "apiVersion: projectcalico.org/v3\nkind: CalicoAPIConfig\nspec:\n  etcdDiscoverySrv: example.com\n")

	gnpName := "go-template={{range .}}{{range .Items}}{{.ObjectMeta.Name}}{{end}}{{end}}"
	tests := []struct {
		name           string
		args           []string
		env            map[string]string
		code           int
		stdout, stderr string
	}{
		{"a JSON config file", []string{"get", "gnp", "-o", gnpName, "-c", jsonCfg}, nil, 0, "g", ""},
		{"a config file listing a dead endpoint before a live one", []string{"get", "gnp", "-o", gnpName, "--config", several}, nil, 0, "g", ""},
		{"ETCD_ENDPOINTS from the environment when the default file does not exist", []string{"get", "gnp", "-o", gnpName},
			map[string]string{"ETCD_ENDPOINTS": ep, "DATASTORE_TYPE": "etcdv3"}, 0, "g", ""},
		{"CALICO_ETCD_ENDPOINTS wins over ETCD_ENDPOINTS", []string{"get", "gnp", "-o", gnpName},
			map[string]string{"CALICO_ETCD_ENDPOINTS": ep, "ETCD_ENDPOINTS": closedPortURL(t)}, 0, "g", ""},
		{"a -c file that does not exist", []string{"get", "gnp", "-c", missing}, nil, 1, "", "Error reading config file: " + missing + "\n"},
		{"a file of another kind", []string{"get", "gnp", "-c", wrongKind}, nil, 1, "",
			"Failed to create Calico API client: syntax error in " + wrongKind + ": invalid config file: expected kind 'CalicoAPIConfig', got 'Tier'\n"},
		{"a misspelt field", []string{"get", "gnp", "-c", typo}, nil, 1, "",
			"Failed to create Calico API client: syntax error in " + typo + `: failed to parse config as YAML/JSON: error unmarshaling JSON: while decoding JSON: json: unknown field "etcdEndpoint"` + "\n"},
		{"the kubernetes datastore", []string{"get", "gnp", "-c", kube}, nil, 1, "",
			`Failed to create Calico API client: datastore type "kubernetes" is not supported by Tabby's calicoctl: ` +
				"set DATASTORE_TYPE=etcdv3 and ETCD_ENDPOINTS (or datastoreType and etcdEndpoints in the config file)\n"},
		{"etcd DNS discovery", []string{"get", "gnp", "-c", srv}, nil, 1, "",
			"Failed to create Calico API client: etcd DNS discovery (etcdDiscoverySrv, ETCD_DISCOVERY_SRV) is not supported by Tabby: " +
				"list the members in etcdEndpoints (ETCD_ENDPOINTS)\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, v := range []string{"CALICO_ETCD_ENDPOINTS", "ETCD_ENDPOINTS", "DATASTORE_TYPE", "CALICO_DATASTORE_TYPE", "KUBECONFIG", "K8S_API_ENDPOINT"} {
				t.Setenv(v, tt.env[v])
			}
			if !slicesContainsFlag(tt.args, "-c", "--config") {
				requireNoDefaultConfig(t)
			}
			wantResult(t, runCtl("", tt.args...), tt.code, tt.stdout, tt.stderr)
		})
	}
}

func slicesContainsFlag(args []string, names ...string) bool {
	for _, a := range args {
		for _, n := range names {
			if a == n {
				return true
			}
		}
	}
	return false
}

// requireNoDefaultConfig skips a test of the environment configuration on
// a machine whose /etc/calico/calicoctl.cfg would take precedence.
func requireNoDefaultConfig(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(defaultConfigPath); err == nil {
		t.Skipf("%s exists on this machine and would be used instead of the environment", defaultConfigPath)
	}
}

// TestLoadAPIConfig checks the configuration read from the environment
// without running a command.
func TestLoadAPIConfig(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want apiConfig
	}{
		{"nothing set means the embedded etcd at its default address", nil, apiConfig{DatastoreType: "etcdv3"}},
		{"every etcd variable", map[string]string{
			"DATASTORE_TYPE": "etcdv3", "ETCD_ENDPOINTS": "https://a:2379,https://b:2379",
			"ETCD_CA_CERT_FILE": "/ca", "ETCD_CERT_FILE": "/cert", "ETCD_KEY_FILE": "/key",
			"ETCD_USERNAME": "u", "ETCD_PASSWORD": "p",
		}, apiConfig{DatastoreType: "etcdv3", EtcdEndpoints: "https://a:2379,https://b:2379",
			EtcdCACertFile: "/ca", EtcdCertFile: "/cert", EtcdKeyFile: "/key", EtcdUsername: "u", EtcdPassword: "p"}},
		{"the CALICO_ prefix wins", map[string]string{"CALICO_ETCD_ENDPOINTS": "http://x:1", "ETCD_ENDPOINTS": "http://y:1"},
			apiConfig{DatastoreType: "etcdv3", EtcdEndpoints: "http://x:1"}},
		{"a kubeconfig alone means the kubernetes datastore, as in Calico", map[string]string{"KUBECONFIG": "/k"},
			apiConfig{DatastoreType: "kubernetes", Kubeconfig: "/k"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			requireNoDefaultConfig(t)
			got, err := loadAPIConfig(defaultConfigPath, func(k string) string { return tt.env[k] })
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(apiConfig{})); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("endpoints are split on commas and default to 127.0.0.1:2379", func(t *testing.T) {
		for in, want := range map[string][]string{
			"":                            {"http://127.0.0.1:2379"},
			"http://a:1, http://b:2,":     {"http://a:1", "http://b:2"},
			"https://etcd.example.com:23": {"https://etcd.example.com:23"},
		} {
			ec, err := apiConfig{DatastoreType: "etcdv3", EtcdEndpoints: in}.etcdConfig()
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, ec.Endpoints); diff != "" {
				t.Errorf("endpoints of %q (-want +got):\n%s", in, diff)
			}
		}
	})
}
