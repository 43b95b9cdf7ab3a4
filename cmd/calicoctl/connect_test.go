package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tabby-project/tabby/datastore/etcd/embedded"
)

// testPKI is a throwaway CA with server and client certificates as PEM
// files.
type testPKI struct {
	ca, serverCert, serverKey, clientCert, clientKey string
}

func newTestPKI(t *testing.T) testPKI {
	t.Helper()
	dir := t.TempDir()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	p := testPKI{ca: write("ca.pem", "CERTIFICATE", caDER)}
	issue := func(serial int64, cn string, usage x509.ExtKeyUsage) (string, string) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{SerialNumber: big.NewInt(serial),
			Subject: pkix.Name{CommonName: cn}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
			IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		keyDER, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		return write(cn+".pem", "CERTIFICATE", der), write(cn+"-key.pem", "EC PRIVATE KEY", keyDER)
	}
	p.serverCert, p.serverKey = issue(2, "server", x509.ExtKeyUsageServerAuth)
	p.clientCert, p.clientKey = issue(3, "client", x509.ExtKeyUsageClientAuth)
	return p
}

// TestTLSDatastore runs calicoctl against an etcd that requires client
// certificates, configured by file and by environment.
func TestTLSDatastore(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p := newTestPKI(t)
	srv, err := embedded.Start(ctx, embedded.Config{Dir: t.TempDir(), ClientURL: "https://127.0.0.1:0",
		CertFile: p.serverCert, KeyFile: p.serverKey, ClientCAFile: p.ca})
	if err != nil {
		t.Fatalf("start TLS etcd: %v", err)
	}
	defer srv.Close()
	ep := srv.Endpoints()[0]
	e := &dsEnv{}
	dir := t.TempDir()
	fileCfg := filepath.Join(dir, "tls.cfg")
	e.writeConfig(t, fileCfg, "etcdEndpoints: "+ep, "etcdCACertFile: "+p.ca, "etcdCertFile: "+p.clientCert, "etcdKeyFile: "+p.clientKey)
	inline := func(path string) string {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return strings.ReplaceAll(strings.TrimSpace(string(b)), "\n", "\\n")
	}
	inlineCfg := filepath.Join(dir, "inline.cfg")
	e.writeConfig(t, inlineCfg, "etcdEndpoints: "+ep, `etcdCACert: "`+inline(p.ca)+`"`,
		`etcdCert: "`+inline(p.clientCert)+`"`, `etcdKey: "`+inline(p.clientKey)+`"`)
	noCert := filepath.Join(dir, "nocert.cfg")
	e.writeConfig(t, noCert, "etcdEndpoints: "+ep, "etcdCACertFile: "+p.ca)

	wantResult(t, runCtl(tierYAML("over-tls", 7), "apply", "-f", "-", "-c", fileCfg), 0, "Successfully applied 1 'Tier' resource(s)\n", "")
	wantResult(t, runCtl("", "get", "tier", "over-tls", "-o", "go-template={{range .}}{{.Spec.Order}}{{end}}", "-c", inlineCfg), 0, "7", "")
	t.Run("the TLS variables of the environment", func(t *testing.T) {
		requireNoDefaultConfig(t)
		t.Setenv("KUBECONFIG", "")
		t.Setenv("ETCD_ENDPOINTS", ep)
		t.Setenv("ETCD_CA_CERT_FILE", p.ca)
		t.Setenv("ETCD_CERT_FILE", p.clientCert)
		t.Setenv("ETCD_KEY_FILE", p.clientKey)
		wantResult(t, runCtl("", "get", "tier", "over-tls", "-o", "go-template={{range .}}{{.Spec.Order}}{{end}}"), 0, "7", "")
	})
	t.Run("without a client certificate the TLS failure is reported", func(t *testing.T) {
		r := runCtl("", "get", "tiers", "-c", noCert)
		if r.code != 1 || !strings.HasPrefix(r.stderr, "Failed to create Calico API client: ") || !strings.Contains(r.stderr, "tls") {
			t.Errorf("exit %d, stderr %q", r.code, r.stderr)
		}
	})
}

// TestUnreachableDatastore checks that every verb fails with a clear error,
// promptly, when nothing answers at the configured endpoints.
func TestUnreachableDatastore(t *testing.T) {
	e := &dsEnv{}
	cfg := filepath.Join(t.TempDir(), "dead.cfg")
	e.writeConfig(t, cfg, "etcdEndpoints: "+closedPortURL(t))
	verbs := [][]string{
		{"get", "np"},
		{"apply", "-f", "-"},
		{"create", "-f", "-"},
		{"replace", "-f", "-"},
		{"delete", "np", "a"},
		{"patch", "np", "a", "-p", `{"spec":{"order":1}}`},
		{"label", "np", "a", "k=v"},
	}
	for _, args := range verbs {
		t.Run(args[0], func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			r := runCtl(npYAML("", "a", "all()"), append(args, "-c", cfg)...)
			elapsed := time.Since(start)
			if r.code != 1 {
				t.Errorf("exit %d, want 1", r.code)
			}
			for _, want := range []string{"Failed to create Calico API client: ", "unavailable", "connection refused"} {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("stderr %q does not say %q", r.stderr, want)
				}
			}
			if elapsed > 15*time.Second {
				t.Errorf("took %v", elapsed)
			}
		})
	}
}
