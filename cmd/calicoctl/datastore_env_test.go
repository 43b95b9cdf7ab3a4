package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	v3 "github.com/tabby-project/tabby/api/v3"
	"github.com/tabby-project/tabby/datastore"
	"github.com/tabby-project/tabby/datastore/etcd"
	"github.com/tabby-project/tabby/datastore/etcd/embedded"
)

// dsEnv is an embedded etcd started for a test, with a calicoctl.cfg that
// points at it and a raw client for checking what calicoctl stored.
type dsEnv struct {
	srv     *embedded.Server
	cfgPath string
	raw     *clientv3.Client
	dir     string
}

// startDatastore starts an embedded etcd on a free loopback port, stopped
// when the test ends.
func startDatastore(t testing.TB) *dsEnv {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	srv, err := embedded.Start(ctx, embedded.Config{Dir: filepath.Join(dir, "etcd"), ClientURL: "http://127.0.0.1:0"})
	if err != nil {
		t.Fatalf("start etcd: %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	raw, err := clientv3.New(clientv3.Config{Endpoints: srv.Endpoints(), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatalf("etcd client: %v", err)
	}
	t.Cleanup(func() { raw.Close() })
	e := &dsEnv{srv: srv, raw: raw, dir: dir, cfgPath: filepath.Join(dir, "calicoctl.cfg")}
	e.writeConfig(t, e.cfgPath, "etcdEndpoints: "+strings.Join(srv.Endpoints(), ","))
	return e
}

// writeConfig writes a CalicoAPIConfig file whose spec holds the given
// YAML lines.
func (e *dsEnv) writeConfig(t testing.TB, path string, specLines ...string) {
	t.Helper()
	var b strings.Builder
	b.WriteString("apiVersion: projectcalico.org/v3\nkind: CalicoAPIConfig\nmetadata: {}\nspec:\n  datastoreType: etcdv3\n")
	for _, l := range specLines {
		b.WriteString("  " + l + "\n")
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
}

// reset removes every key, so that a test starts from an empty datastore.
func (e *dsEnv) reset(t testing.TB) {
	t.Helper()
	if _, err := e.raw.Delete(context.Background(), "/calico/", clientv3.WithPrefix()); err != nil {
		t.Fatalf("empty the datastore: %v", err)
	}
}

// store opens a datastore.Store on the server.
func (e *dsEnv) store(t testing.TB) datastore.Store {
	t.Helper()
	s, err := etcd.Open(context.Background(), etcd.Config{Endpoints: e.srv.Endpoints()})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// ctlResult is what one calicoctl run printed and returned.
type ctlResult struct {
	stdout, stderr string
	code           int
}

// ctl runs calicoctl in-process against the test's datastore (adding
// -c with its config file), with stdin as standard input.
func (e *dsEnv) ctl(t testing.TB, stdin string, args ...string) ctlResult {
	t.Helper()
	return runCtl(stdin, append(args, "-c", e.cfgPath)...)
}

// runCtl runs calicoctl in-process with exactly args.
func runCtl(stdin string, args ...string) ctlResult {
	var out, errb bytes.Buffer
	code := run(args, strings.NewReader(stdin), &out, &errb)
	return ctlResult{stdout: out.String(), stderr: errb.String(), code: code}
}

// mustCtl is ctl for a command that must succeed.
func (e *dsEnv) mustCtl(t testing.TB, stdin string, args ...string) string {
	t.Helper()
	r := e.ctl(t, stdin, args...)
	if r.code != 0 {
		t.Fatalf("calicoctl %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// keys returns every key under /calico/, sorted.
func (e *dsEnv) keys(t testing.TB) []string {
	t.Helper()
	resp, err := e.raw.Get(context.Background(), "/calico/", clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		t.Fatal(err)
	}
	keys := make([]string, len(resp.Kvs))
	for i, kv := range resp.Kvs {
		keys[i] = string(kv.Key)
	}
	return keys
}

// value returns the JSON value at key, parsed, and its mod revision; nil
// if the key does not exist.
func (e *dsEnv) value(t testing.TB, key string) (map[string]any, int64) {
	t.Helper()
	resp, err := e.raw.Get(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) == 0 {
		return nil, 0
	}
	var m map[string]any
	if err := json.Unmarshal(resp.Kvs[0].Value, &m); err != nil {
		t.Fatalf("value at %s is not JSON: %v", key, err)
	}
	return m, resp.Kvs[0].ModRevision
}

// put stores the JSON of value at key, as another Calico would, and
// returns the revision of the write.
func (e *dsEnv) put(t testing.TB, key string, value any) int64 {
	t.Helper()
	data, err := json.Marshal(value)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := e.raw.Put(context.Background(), key, string(data))
	if err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
	return resp.Header.Revision
}

// get reads one resource through a store, failing the test if it is
// missing.
func (e *dsEnv) get(t testing.TB, s datastore.Store, key v3.Key) v3.Object {
	t.Helper()
	o, err := s.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("Get %v: %v", key, err)
	}
	return o
}

// writeFile writes content to name in a fresh directory of the test and
// returns its path.
func writeFile(t testing.TB, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// closedPortURL returns a loopback URL nothing listens on.
func closedPortURL(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}
