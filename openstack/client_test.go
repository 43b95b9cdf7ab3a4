package openstack

import (
	"context"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestClientErrorsSayWhatFailed(t *testing.T) {
	cloud := newFakeCloud(t, "region-one", "RegionOne")
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	tests := []struct {
		name     string
		edit     func(*Config)
		wantErr  error
		wantText []string
	}{
		{"a wrong password names the user and Keystone", func(c *Config) { c.Password = "wrong" },
			ErrAuth, []string{`user "tabby" (domain Default)`, "/identity/v3/auth/tokens"}},
		{"a wrong application credential names it", func(c *Config) {
			c.Password, c.Username, c.ApplicationCredentialID, c.ApplicationCredentialSecret = "", "", "appcred-1", "wrong"
		}, ErrAuth, []string{"application credential appcred-1"}},
		{"an auth URL that is not Keystone points at OS_AUTH_URL", func(c *Config) { c.AuthURL = cloud.srv.URL + "/nothing" },
			ErrConfig, []string{"OS_AUTH_URL", "/nothing/v3/auth/tokens"}},
		{"an endpoint nobody listens on is unavailable and named", func(c *Config) { c.AuthURL = closed.URL + "/v3" },
			ErrUnavailable, []string{closed.URL + "/v3/auth/tokens"}},
		{"a region without Neutron lists the catalog's regions", func(c *Config) { c.RegionName = "Atlantis" },
			ErrNoEndpoint, []string{`region "Atlantis"`, "RegionOne/public", "Elsewhere/public"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := cloud.config()
			tt.edit(&cfg)
			c, err := NewClient(cfg)
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Snapshot(context.Background())
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			for _, s := range tt.wantText {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
			if strings.Contains(err.Error(), "wrong") {
				t.Errorf("error %q shows the secret", err)
			}
		})
	}
}

func TestNewClientRejectsIncompleteConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no auth URL", Config{Username: "u", Password: "p"}},
		{"an auth URL without scheme", Config{AuthURL: "keystone:5000/v3", Username: "u", Password: "p"}},
		{"no credentials at all", Config{AuthURL: "http://keystone:5000/v3"}},
		{"a password without a user", Config{AuthURL: "http://keystone:5000/v3", Password: "p"}},
		{"an application credential secret without its ID", Config{AuthURL: "http://keystone:5000/v3", ApplicationCredentialSecret: "s"}},
		{"an unknown interface", Config{AuthURL: "http://keystone:5000/v3", Username: "u", Password: "p", Interface: "private"}},
		{"a CA file that does not exist", Config{AuthURL: "https://keystone:5000/v3", Username: "u", Password: "p", CACertFile: "/nonexistent/ca.pem"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewClient(tt.cfg); !errors.Is(err, ErrConfig) {
				t.Errorf("err = %v, want ErrConfig", err)
			}
		})
	}
}

func TestClientReadsEveryPage(t *testing.T) {
	cloud := newFakeCloud(t, "region-one", "RegionOne")
	cfg := cloud.config()
	cfg.PageSize = 2
	c, err := NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := c.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Ports) != 5 || len(snap.SecurityGroups) != 2 || len(snap.Projects) != 3 || len(snap.Subnets) != 2 {
		t.Errorf("read %d ports, %d groups, %d projects, %d subnets; want 5, 2, 3, 2",
			len(snap.Ports), len(snap.SecurityGroups), len(snap.Projects), len(snap.Subnets))
	}
}

func TestClientAuthenticatesWithAnApplicationCredential(t *testing.T) {
	cloud := newFakeCloud(t, "region-one", "RegionOne")
	cfg := cloud.config()
	cfg.Username, cfg.Password, cfg.ProjectName = "", "", ""
	cfg.ApplicationCredentialID, cfg.ApplicationCredentialSecret = "appcred-1", "secret"
	c, err := NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Snapshot(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestClientTrustsTheCAFile(t *testing.T) {
	cloud := newFakeCloud(t, "region-one", "RegionOne")
	tlsSrv := httptest.NewTLSServer(cloud.srv.Config.Handler)
	defer tlsSrv.Close()
	// The catalog advertises the TLS server's own URL.
	cloud.srv.URL, tlsSrv.URL = tlsSrv.URL, cloud.srv.URL
	defer func() { cloud.srv.URL, tlsSrv.URL = tlsSrv.URL, cloud.srv.URL }()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	pemData := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tlsSrv.Certificate().Raw})
	if err := os.WriteFile(ca, pemData, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Run("with OS_CACERT the snapshot is read over https", func(t *testing.T) {
		cfg := cloud.config()
		cfg.CACertFile = ca
		c, err := NewClient(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Snapshot(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("without it the server's certificate is refused", func(t *testing.T) {
		cfg := cloud.config()
		cfg.MaxRetries = -1
		c, err := NewClient(cfg)
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Snapshot(context.Background())
		if err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Errorf("err = %v, want a certificate error", err)
		}
	})
}

func TestClientRenewsATokenAboutToExpire(t *testing.T) {
	cloud := newFakeCloud(t, "region-one", "RegionOne")
	c := cloud.client(t)
	if _, err := c.Snapshot(context.Background()); err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	c.expires = time.Now().Add(30 * time.Second)
	c.mu.Unlock()
	if _, err := c.Snapshot(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := cloud.authCount(); n != 2 {
		t.Errorf("%d authentications, want 2", n)
	}
}
