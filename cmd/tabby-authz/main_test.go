package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	v3 "github.com/tabby-project/tabby/api/v3"
	"github.com/tabby-project/tabby/datastore/etcd"
	"github.com/tabby-project/tabby/datastore/etcd/embedded"
)

// runCmd runs tabby-authz in-process and returns its exit status and
// output.
func runCmd(ctx context.Context, args []string, vars map[string]string, ready func(listenAddrs)) (int, string, string) {
	var stdout, stderr bytes.Buffer
	status := run(ctx, args, env{stdout: &stdout, stderr: &stderr,
		getenv: func(k string) string { return vars[k] }, ready: ready})
	return status, stdout.String(), stderr.String()
}

func TestHelpTeachesUsage(t *testing.T) {
	status, out, _ := runCmd(context.Background(), []string{"--help"}, nil, nil)
	if status != 0 {
		t.Fatalf("--help exit status %d", status)
	}
	for _, want := range []string{
		"envoy.service.auth.v3.Authorization/Check", "PERMISSION_DENIED", "x-tabby-reason",
		"auth_request", "forwardAuth", "X-Original-URI", "X-Forwarded-Uri", "spiffe://<trust-domain>/ns/<ns>/sa/<sa>",
		"ETCD_ENDPOINTS", "--workload", "--listen", "--forward-auth-listen", "--metrics-listen", "--flow-log", "Examples:",
	} {
		t.Run("help mentions "+want, func(t *testing.T) {
			if !strings.Contains(out, want) {
				t.Errorf("--help does not mention %q", want)
			}
		})
	}
}

func TestBadCommandLinesAreRefused(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		vars     map[string]string
		wantCode int
		wantErr  string
	}{
		{"no workload is a usage error", nil, nil, 2, "name the protected workload"},
		{"a workload without a namespace is a usage error", []string{"--workload", "web"}, nil, 2, `--workload "web": want <namespace>/<name>`},
		{"a workload with labels is a usage error", []string{"--workload", "prod/web", "--labels", "app=web"}, nil, 2, "cannot be combined"},
		{"an unknown flag is a usage error", []string{"--nope"}, nil, 2, "unknown flag: --nope"},
		{"a kubernetes datastore is refused", []string{"--workload", "prod/web"}, map[string]string{"DATASTORE_TYPE": "kubernetes"}, 1, "etcdv3 only"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, _, stderr := runCmd(context.Background(), tt.args, tt.vars, nil)
			if status != tt.wantCode || !strings.Contains(stderr, tt.wantErr) {
				t.Errorf("exit %d, stderr %q; want exit %d and %q", status, stderr, tt.wantCode, tt.wantErr)
			}
		})
	}
}

func TestServesDecisionsFromEtcd(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	srv, err := embedded.Start(ctx, embedded.Config{Dir: t.TempDir(), ClientURL: "http://127.0.0.1:0"})
	if err != nil {
		t.Fatalf("start etcd: %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	store, err := etcd.Open(ctx, etcd.Config{Endpoints: srv.Endpoints()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	data, err := os.ReadFile(filepath.Join("testdata", "cluster.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	objs, err := v3.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if _, err := store.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}

	sockDir, err := os.MkdirTemp("", "tabby-authz")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	sock := filepath.Join(sockDir, "authz.sock")
	flowLog := filepath.Join(t.TempDir(), "denied.log")
	addrs := make(chan listenAddrs, 1)
	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var exit int
	var stderr string
	wg.Go(func() {
		exit, _, stderr = runCmd(runCtx, []string{
			"--workload", "prod/node1-k8s-web-eth0", "--listen", "unix:" + sock,
			"--forward-auth-listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0",
			"--identity-header", "X-Spiffe-Id", "--flow-log", flowLog,
		}, map[string]string{"ETCD_ENDPOINTS": strings.Join(srv.Endpoints(), ",")}, func(a listenAddrs) { addrs <- a })
	})
	var a listenAddrs
	select {
	case a = <-addrs:
	case <-time.After(30 * time.Second):
		stop()
		wg.Wait()
		t.Fatalf("tabby-authz did not start: exit %d, %s", exit, stderr)
	}

	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := authv3.NewAuthorizationClient(conn)
	checkCode := func(method, path string) code.Code {
		resp, err := c.Check(ctx, &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
			Source: &authv3.AttributeContext_Peer{Principal: "spiffe://cluster.local/ns/prod/sa/frontend",
				Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
					Address: "10.0.2.7", PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: 40000}}}}},
			Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{Method: method, Path: path}},
		}})
		if err != nil {
			t.Fatalf("Check: %v", err)
		}
		return code.Code(resp.GetStatus().GetCode())
	}
	deadline := time.Now().Add(10 * time.Second)
	for checkCode("GET", "/api/x") != code.Code_OK {
		if time.Now().After(deadline) {
			t.Fatal("the allowed request was never allowed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := checkCode("DELETE", "/api/x"); got != code.Code_PERMISSION_DENIED {
		t.Errorf("DELETE over gRPC: %v, want PERMISSION_DENIED", got)
	}

	req, err := http.NewRequest("GET", "http://"+a.forwardAuth+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Original-Method", "POST")
	req.Header.Set("X-Original-URI", "/api/x")
	req.Header.Set("X-Spiffe-Id", "spiffe://cluster.local/ns/prod/sa/frontend")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || resp.Header.Get("X-Tabby-Reason") == "" {
		t.Errorf("forward auth POST: %d reason %q, want 403 with a reason", resp.StatusCode, resp.Header.Get("X-Tabby-Reason"))
	}

	resp, err = http.Get("http://" + a.metrics + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`tabby_authz_checks_total{frontend="grpc"}`, `tabby_authz_denied_total{cause="end-of-tier",frontend="http"} 1`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	stop()
	wg.Wait()
	if exit != 0 {
		t.Errorf("exit status %d after cancel; stderr:\n%s", exit, stderr)
	}
	logged, err := os.ReadFile(flowLog)
	if err != nil {
		t.Fatal(err)
	}
	// Checks before the first list are denied (and logged) as not-ready.
	if n := strings.Count(string(logged), `"cause":"end-of-tier"`); n != 2 {
		t.Errorf("flow log has %d policy denials, want 2:\n%s", n, logged)
	}
}
