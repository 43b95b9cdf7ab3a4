package authz

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	v3 "github.com/tabby-project/tabby/api/v3"
)

// nginxConf puts nginx on loopback in front of a backend, asking the
// forward-auth endpoint about every request with auth_request. Everything
// nginx writes stays in dir.
const nginxConf = `daemon off;
master_process off;
pid {{dir}}/nginx.pid;
error_log {{dir}}/error.log info;
events { worker_connections 64; }
http {
    access_log {{dir}}/access.log;
    client_body_temp_path {{dir}}/client_body;
    proxy_temp_path {{dir}}/proxy;
    fastcgi_temp_path {{dir}}/fastcgi;
    uwsgi_temp_path {{dir}}/uwsgi;
    scgi_temp_path {{dir}}/scgi;
    server {
        listen 127.0.0.1:{{port}};
        location / {
            auth_request /_tabby_authz;
            auth_request_set $tabby_reason $upstream_http_x_tabby_reason;
            add_header X-Tabby-Reason $tabby_reason always;
            proxy_pass {{backend}};
        }
        location = /_tabby_authz {
            internal;
            proxy_pass {{authz}};
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Original-Method $request_method;
            proxy_set_header X-Original-URI $request_uri;
            proxy_set_header X-Real-IP $remote_addr;
            # The port of the workload behind this proxy, which the
            # policy's destination ports name.
            proxy_set_header X-Forwarded-Port 8080;
        }
    }
}
`

// nginxBinary finds Debian's nginx (package nginx-light or nginx). Under
// CI=true its absence is a failure.
func nginxBinary(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"nginx", "/usr/sbin/nginx"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("nginx is not installed (apt-get install nginx-light); CI=true requires this test")
	}
	t.Skip("nginx is not installed (apt-get install nginx-light)")
	return ""
}

// freePort returns a loopback port nothing listens on at the moment.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startNginx runs nginx as a child process with conf and returns its URL
// once it accepts connections.
func startNginx(t *testing.T, bin, backend, authz string) string {
	t.Helper()
	dir := t.TempDir()
	port := freePort(t)
	conf := strings.NewReplacer("{{dir}}", dir, "{{port}}", fmt.Sprint(port),
		"{{backend}}", backend, "{{authz}}", authz).Replace(nginxConf)
	confPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-p", dir, "-c", confPath, "-e", filepath.Join(dir, "error.log"))
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		if t.Failed() {
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Logf("nginx output:\n%s\nerror.log:\n%s", out.String(), log)
		}
	})
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case err := <-exited:
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Fatalf("nginx exited: %v\n%s\n%s", err, out.String(), log)
		default:
		}
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return "http://" + addr
		}
		if time.Now().After(deadline) {
			t.Fatal("nginx did not start listening")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestNginxAuthRequestEnforcesPolicy(t *testing.T) {
	bin := nginxBinary(t)
	store := loadStore(t, "cluster.yaml")
	a := startAuthorizer(t, store, Config{Destination: Destination{Endpoint: webKey}})
	authSrv := httptest.NewServer(a.ForwardAuthHandler(ForwardAuthOptions{IdentityHeader: "X-Spiffe-Id"}))
	t.Cleanup(authSrv.Close)
	var backendHits atomic.Int64
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		backendHits.Add(1)
		fmt.Fprintf(w, "backend: %s %s", r.Method, r.URL.RequestURI())
	}))
	t.Cleanup(backend.Close)
	url := startNginx(t, bin, backend.URL, authSrv.URL+"/check")

	type answer struct {
		Status int
		Body   string
		Reason string
	}
	tests := []struct {
		name      string
		principal string
		method    string
		path      string
		want      answer
	}{
		{"a frontend's GET under the API prefix reaches the backend", frontend, "GET", "/api/items?page=2",
			answer{200, "backend: GET /api/items?page=2", ""}},
		{"CI's POST to deploy reaches the backend", builder, "POST", "/deploy/v2",
			answer{200, "backend: POST /deploy/v2", ""}},
		{"a frontend's DELETE is refused by nginx with the reason", frontend, "DELETE", "/api/items",
			answer{403, "", endOfDefaultTier}},
		{"a tester's POST to deploy is refused", tester, "POST", "/deploy/v2",
			answer{403, "", endOfDefaultTier}},
		{"a request without identity is refused", "", "GET", "/api/items",
			answer{403, "", "malformed request: no source principal"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := backendHits.Load()
			req, err := http.NewRequest(tt.method, url+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tt.principal != "" {
				req.Header.Set("X-Spiffe-Id", tt.principal)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			got := answer{Status: resp.StatusCode, Reason: resp.Header.Get(ReasonHeader)}
			if resp.StatusCode == 200 {
				got.Body = string(body)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("answer through nginx (-want +got):\n%s", diff)
			}
			if hit := backendHits.Load() > before; hit != (tt.want.Status == 200) {
				t.Errorf("backend reached = %v, want %v", hit, tt.want.Status == 200)
			}
		})
	}

	t.Run("a policy change reaches nginx's answers while it serves", func(t *testing.T) {
		ctx := context.Background()
		key := v3.Key{Kind: v3.KindNetworkPolicy, Namespace: "prod", Name: "web-api"}
		obj, err := store.Get(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		np := obj.(*v3.NetworkPolicy)
		np.Spec.Ingress[0].HTTP.Methods = append(np.Spec.Ingress[0].HTTP.Methods, "DELETE")
		if _, err := store.Update(ctx, np); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "nginx to let DELETE through", func() bool {
			req, err := http.NewRequest("DELETE", url+"/api/items/7", nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("X-Spiffe-Id", frontend)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp.StatusCode == 200
		})
	})
}
