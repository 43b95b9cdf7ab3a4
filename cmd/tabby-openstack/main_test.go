package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v3 "github.com/tabby-project/tabby/api/v3"
	"github.com/tabby-project/tabby/datastore/etcd"
	"github.com/tabby-project/tabby/datastore/etcd/embedded"
)

// fixtures are the openstack package's API-shaped answers.
var fixtures = filepath.Join("..", "..", "openstack", "testdata")

// cloud serves Keystone and Neutron for region RegionOne from the fixtures.
func cloud(t *testing.T) *httptest.Server {
	t.Helper()
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		file := ""
		switch p := r.URL.Path; {
		case p == "/v3/auth/tokens" && r.Method == http.MethodPost:
			w.Header().Set("X-Subject-Token", "tok")
			w.WriteHeader(http.StatusCreated)
			file = "token.json"
		case r.Header.Get("X-Auth-Token") != "tok":
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		case p == "/v3/projects":
			file = "projects.json"
		case strings.HasPrefix(p, "/network/v2.0/"):
			file = filepath.Join("region-one", strings.TrimPrefix(p, "/network/v2.0/")+".json")
		default:
			http.NotFound(w, r)
			return
		}
		data, err := os.ReadFile(filepath.Join(fixtures, file))
		if err != nil {
			t.Error(err)
			return
		}
		exp := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
		w.Write([]byte(strings.NewReplacer("{{BASE}}/identity", srv.URL, "{{BASE}}", srv.URL, "{{REGION}}", "RegionOne",
			"{{EXPIRES}}", exp, "{{ISSUED}}", exp).Replace(string(data))))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func runCmd(t *testing.T, vars map[string]string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, env{stdout: &out, stderr: &errb, getenv: func(k string) string { return vars[k] }})
	return out.String(), errb.String(), code
}

func TestOnceSyncsARegionIntoEtcd(t *testing.T) {
	ctx := context.Background()
	srv, err := embedded.Start(ctx, embedded.Config{Dir: filepath.Join(t.TempDir(), "etcd"), ClientURL: "http://127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	keystone := cloud(t)
	vars := map[string]string{
		"OS_AUTH_URL": keystone.URL + "/v3", "OS_USERNAME": "tabby", "OS_PASSWORD": "secret", "OS_PROJECT_NAME": "service",
		"OS_USER_DOMAIN_NAME": "Default", "OS_PROJECT_DOMAIN_NAME": "Default", "OS_REGION_NAME": "RegionOne",
		"ETCD_ENDPOINTS": strings.Join(srv.Endpoints(), ","),
	}
	stdout, stderr, code := runCmd(t, vars, "--calico-region", "one", "--once")
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if !strings.HasPrefix(stdout, "openstack-region-one: 5 created, 0 updated, 0 deleted, 0 unchanged, 1 skipped") {
		t.Errorf("stdout = %q", stdout)
	}
	store, err := etcd.Open(ctx, etcd.Config{Endpoints: srv.Endpoints()})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	for kind, want := range map[string]int{v3.KindWorkloadEndpoint: 3, v3.KindNetworkPolicy: 2} {
		l, err := store.List(ctx, kind, "openstack-region-one")
		if err != nil {
			t.Fatal(err)
		}
		if len(l.Items) != want {
			t.Errorf("%d %s, want %d", len(l.Items), kind, want)
		}
	}
	t.Run("a second run finds nothing to change", func(t *testing.T) {
		stdout, _, code := runCmd(t, vars, "--calico-region", "one", "--once")
		if code != 0 || !strings.HasPrefix(stdout, "openstack-region-one: 0 created, 0 updated, 0 deleted, 5 unchanged") {
			t.Errorf("exit %d, stdout %q", code, stdout)
		}
	})
}

func TestErrorsNameWhatIsMissing(t *testing.T) {
	tests := []struct {
		name string
		vars map[string]string
		args []string
		want string
	}{
		{"no auth URL", map[string]string{}, []string{"--once"}, "OS_AUTH_URL"},
		{"no password", map[string]string{"OS_AUTH_URL": "http://127.0.0.1:1/v3", "OS_USERNAME": "u"}, []string{"--once"}, "OS_PASSWORD"},
		{"a region that makes no namespace", map[string]string{"OS_AUTH_URL": "http://127.0.0.1:1/v3", "OS_USERNAME": "u", "OS_PASSWORD": "p",
			"ETCD_ENDPOINTS": "http://127.0.0.1:1"}, []string{"--once", "--calico-region", "Region_One"}, "openstack-region-Region_One"},
		{"another datastore type", map[string]string{"OS_AUTH_URL": "http://127.0.0.1:1/v3", "OS_USERNAME": "u", "OS_PASSWORD": "p",
			"DATASTORE_TYPE": "kubernetes"}, []string{"--once"}, "DATASTORE_TYPE=kubernetes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, stderr, code := runCmd(t, tt.vars, tt.args...)
			if code != 1 || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, stderr %q: want 1 and a mention of %s", code, stderr, tt.want)
			}
		})
	}
}

func TestHelpTeachesTheConfiguration(t *testing.T) {
	stdout, _, code := runCmd(t, map[string]string{"OS_PASSWORD": "hunter2", "OS_USERNAME": "admin"}, "--help")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, s := range []string{"OS_AUTH_URL", "OS_APPLICATION_CREDENTIAL_SECRET", "ETCD_ENDPOINTS", "openstack-region-",
		"ossg.default.", "sg.projectcalico.org/openstack-", "--calico-region", "$OS_USERNAME: admin", "$OS_PASSWORD: (set)"} {
		if !strings.Contains(stdout, s) {
			t.Errorf("help does not mention %q", s)
		}
	}
	if strings.Contains(stdout, "hunter2") {
		t.Error("help shows the password")
	}
}
