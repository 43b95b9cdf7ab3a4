package main

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tabby-project/tabby/agent"
	"github.com/tabby-project/tabby/analysis"
	"github.com/tabby-project/tabby/datastore/memory"
	"github.com/tabby-project/tabby/flows"
)

func TestUIAddr(t *testing.T) {
	tests := []struct {
		name, value, want string
	}{
		{"unset serves on the default loopback address", "", flows.DefaultAddr},
		{"an address is taken as given", "127.0.0.1:19092", "127.0.0.1:19092"},
		{"none turns the web view off", "None", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := uiAddr(func(k string) string {
				if k == uiAddrEnv {
					return tt.value
				}
				return ""
			})
			if got != tt.want {
				t.Errorf("uiAddr(%q) = %q, want %q", tt.value, got, tt.want)
			}
		})
	}
}

// demoStore is a memory datastore holding the demo cluster of
// examples/demo.
func demoStore(t *testing.T) *memory.Store {
	t.Helper()
	names, err := filepath.Glob("../../examples/demo/*.yaml")
	if err != nil || len(names) == 0 {
		t.Fatalf("demo files: %v (%d found)", err, len(names))
	}
	var files []analysis.File
	for _, n := range names {
		data, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, analysis.File{Name: n, Data: data})
	}
	objs, _, err := analysis.Decode(files)
	if err != nil {
		t.Fatal(err)
	}
	store := memory.New()
	for _, o := range objs {
		if _, err := store.Apply(t.Context(), o); err != nil {
			t.Fatalf("apply: %v", err)
		}
	}
	return store
}

func TestUI(t *testing.T) {
	store := demoStore(t)
	u, err := newUI(store)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := u.models.Get(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Run("without flow logs the agent gets no writer", func(t *testing.T) {
		if w := u.flowLog(nil); w != nil {
			t.Errorf("flowLog(nil) = %v, want nil", w)
		}
	})
	var file bytes.Buffer
	w := u.flowLog(&file)
	line, err := json.Marshal(agent.FlowLog{
		Time: time.Now().UTC(), Src: netip.MustParseAddr("10.100.3.1"), Dst: netip.MustParseAddr("10.100.1.1"),
		Proto: "TCP", SrcPort: 41000, DstPort: 80, Direction: "egress",
		Tier: "default", Policy: "z.deny-egress", Rule: 0, Match: "rule", Action: "Deny",
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(append(line, '\n')); err != nil {
		t.Fatal(err)
	}
	t.Run("a flow-log line still reaches the flow log file", func(t *testing.T) {
		if strings.TrimSpace(file.String()) != string(line) {
			t.Errorf("file holds %q, want %q", file.String(), line)
		}
	})
	srv := httptest.NewServer(u.handler)
	defer srv.Close()
	t.Run("the denied flow is on the flow page with its policy and endpoints", func(t *testing.T) {
		body := getBody(t, srv.URL+"/flows?denied=true")
		for _, want := range []string{`data-policy="z.deny-egress"`, "z/a (10.100.3.1)", "x/a (10.100.1.1)"} {
			if !strings.Contains(body, want) {
				t.Errorf("no %s on the flow page", want)
			}
		}
	})
	t.Run("the matrix page shows the datastore's endpoints", func(t *testing.T) {
		body := getBody(t, srv.URL+"/matrix")
		if n := strings.Count(body, "data-verdict="); n != 9*8 {
			t.Errorf("%d matrix cells, want 72 (9 endpoints)", n)
		}
	})
}

func TestUIServe(t *testing.T) {
	u, err := newUI(demoStore(t))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	u.serve(t.Context(), addr, slog.New(slog.DiscardHandler))
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/api/flows")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET /api/flows: %s", resp.Status)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the web view does not answer on %s: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func getBody(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s\n%s", url, resp.Status, b)
	}
	return string(b)
}
