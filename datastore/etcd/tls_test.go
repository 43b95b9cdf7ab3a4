package etcd_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/tabby-project/tabby/api/v3"
	"github.com/tabby-project/tabby/datastore"
	"github.com/tabby-project/tabby/datastore/etcd"
	"github.com/tabby-project/tabby/datastore/etcd/embedded"
)

// pki is a throwaway CA with a server and a client certificate, as PEM
// files in a directory.
type pki struct {
	caFile, serverCert, serverKey, clientCert, clientKey string
}

func newPKI(t *testing.T, name string) pki {
	t.Helper()
	dir := t.TempDir()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name + " CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	p := pki{caFile: filepath.Join(dir, "ca.pem")}
	writePEM(t, p.caFile, "CERTIFICATE", caDER)
	issue := func(serial int64, cn string, usage x509.ExtKeyUsage, ips []net.IP) (certFile, keyFile string) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      pkix.Name{CommonName: cn},
			NotBefore:    time.Now().Add(-time.Hour),
			NotAfter:     time.Now().Add(time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{usage},
			IPAddresses:  ips,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		keyDER, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		certFile, keyFile = filepath.Join(dir, cn+".pem"), filepath.Join(dir, cn+"-key.pem")
		writePEM(t, certFile, "CERTIFICATE", der)
		writePEM(t, keyFile, "EC PRIVATE KEY", keyDER)
		return certFile, keyFile
	}
	p.serverCert, p.serverKey = issue(2, "server", x509.ExtKeyUsageServerAuth, []net.IP{net.IPv4(127, 0, 0, 1)})
	p.clientCert, p.clientKey = issue(3, "client", x509.ExtKeyUsageClientAuth, nil)
	return p
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestTLSWithClientCertificates(t *testing.T) {
	ctx := context.Background()
	p, other := newPKI(t, "etcd"), newPKI(t, "other")
	srv, err := embedded.Start(ctx, embedded.Config{
		Dir: t.TempDir(), ClientURL: "https://127.0.0.1:0",
		CertFile: p.serverCert, KeyFile: p.serverKey, ClientCAFile: p.caFile,
	})
	if err != nil {
		t.Fatalf("start TLS etcd: %v", err)
	}
	defer srv.Close()
	eps := srv.Endpoints()

	tests := []struct {
		name   string
		cfg    etcd.Config
		wantOK bool
	}{
		{"CA, certificate and key files connect", etcd.Config{Endpoints: eps,
			CACertFile: p.caFile, CertFile: p.clientCert, KeyFile: p.clientKey}, true},
		{"the same given inline connect", etcd.Config{Endpoints: eps,
			CACert: readFile(t, p.caFile), Cert: readFile(t, p.clientCert), Key: readFile(t, p.clientKey)}, true},
		{"no client certificate is refused", etcd.Config{Endpoints: eps, CACertFile: p.caFile}, false},
		{"a client certificate from another CA is refused", etcd.Config{Endpoints: eps,
			CACertFile: p.caFile, CertFile: other.clientCert, KeyFile: other.clientKey}, false},
		{"a server certificate from an untrusted CA is refused", etcd.Config{Endpoints: eps,
			CACertFile: other.caFile, CertFile: p.clientCert, KeyFile: p.clientKey}, false},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.DialTimeout = time.Second
			s, err := etcd.Open(ctx, tt.cfg)
			if !tt.wantOK {
				if err == nil {
					s.Close()
					t.Fatal("Open succeeded")
				}
				if !errors.Is(err, datastore.ErrUnavailable) {
					t.Errorf("error %q does not match ErrUnavailable", err)
				}
				if !strings.Contains(err.Error(), "tls: ") {
					t.Errorf("error %q does not give the TLS failure", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer s.Close()
			name := "tls-" + string(rune('a'+i))
			if _, err := s.Create(ctx, &v3.Tier{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
				t.Fatalf("Create over TLS: %v", err)
			}
			if _, err := s.Get(ctx, v3.Key{Kind: v3.KindTier, Name: name}); err != nil {
				t.Fatalf("Get over TLS: %v", err)
			}
		})
	}
}
