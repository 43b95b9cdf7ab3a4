package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tabby-project/tabby/flows"
)

// flowRecord is a TCP packet from 10.0.0.<src> to 10.0.0.9:80 logged by
// rule 0 of policy with action, now.
func flowRecord(src byte, action, policy string) flows.Record {
	return flows.Record{
		Time: time.Now().UTC(), Src: netip.AddrFrom4([4]byte{10, 0, 0, src}), Dst: netip.MustParseAddr("10.0.0.9"),
		Proto: "TCP", SrcPort: 40000, DstPort: 80, Direction: "ingress",
		Tier: "default", Policy: policy, Rule: 0, Match: "rule", Action: action,
	}
}

// flowAPI serves an aggregator holding a denied flow of namespace x and a
// logged one of namespace y.
func flowAPI(t *testing.T) (*httptest.Server, *flows.Aggregator) {
	t.Helper()
	names := map[netip.Addr]string{netip.MustParseAddr("10.0.0.1"): "x/a", netip.MustParseAddr("10.0.0.9"): "x/z"}
	agg := flows.New(flows.Config{Name: func(a netip.Addr) string { return names[a] }})
	agg.Add(flowRecord(1, "Deny", "x/deny-a"))
	agg.Add(flowRecord(2, "Log", "y/log-all"))
	srv := httptest.NewServer(flows.Handler(agg))
	t.Cleanup(srv.Close)
	return srv, agg
}

// syncBuffer is a bytes.Buffer safe for a command writing while the test
// reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func runFlowsCommand(ctx context.Context, out, errOut *syncBuffer, args ...string) error {
	cmd := newFlowsCommand(streams{in: strings.NewReader(""), out: out, err: errOut})
	cmd.SetArgs(args)
	cmd.SetOut(out)
	cmd.SetErr(errOut)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	return cmd.ExecuteContext(ctx)
}

func TestFlowsCommand(t *testing.T) {
	srv, _ := flowAPI(t)
	tests := []struct {
		name     string
		args     []string
		env      string
		want     []string
		dontWant []string
	}{
		{
			name: "flows lists every flow with its endpoints, action and deciding rule",
			args: []string{"--server", srv.URL},
			want: []string{"LAST SEEN", "x/a (10.0.0.1:40000)", "x/z (10.0.0.9)", "Deny", "default/x/deny-a rule 0", "default/y/log-all rule 0"},
		},
		{
			name:     "--denied lists the denied flow only",
			args:     []string{"--server", srv.URL, "--denied"},
			want:     []string{"default/x/deny-a rule 0"},
			dontWant: []string{"y/log-all"},
		},
		{
			name:     "-n lists the flows of a namespace",
			args:     []string{"--server", srv.URL, "-n", "y"},
			want:     []string{"y/log-all"},
			dontWant: []string{"x/deny-a"},
		},
		{
			name: "TABBY_FLOWS_URL names the server when --server does not",
			env:  srv.URL,
			want: []string{"x/deny-a", "y/log-all"},
		},
		{
			name: "no matching flow says so",
			args: []string{"--server", srv.URL, "-n", "nowhere"},
			want: []string{"No flows."},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(flowsServerEnv, tt.env)
			var out, errOut syncBuffer
			if err := runFlowsCommand(t.Context(), &out, &errOut, tt.args...); err != nil {
				t.Fatalf("flows %v: %v\n%s", tt.args, err, errOut.String())
			}
			for _, w := range tt.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
			for _, w := range tt.dontWant {
				if strings.Contains(out.String(), w) {
					t.Errorf("output has %q:\n%s", w, out.String())
				}
			}
		})
	}
	t.Run("-o json prints the flows as the API gives them", func(t *testing.T) {
		var out, errOut syncBuffer
		if err := runFlowsCommand(t.Context(), &out, &errOut, "--server", srv.URL, "--denied", "-o", "json"); err != nil {
			t.Fatal(err)
		}
		var got []flows.Flow
		if err := json.Unmarshal([]byte(out.String()), &got); err != nil {
			t.Fatalf("%v:\n%s", err, out.String())
		}
		if len(got) != 1 || got[0].Policy != "x/deny-a" || !got[0].Denied() || got[0].Packets != 1 {
			t.Errorf("flows %+v, want the denied flow of x/deny-a", got)
		}
	})
}

func TestFlowsCommandErrors(t *testing.T) {
	srv, _ := flowAPI(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()
	tests := []struct {
		name, wantErr string
		args          []string
	}{
		{name: "an unreachable server names the URL and the way to change it", args: []string{"--server", closed}, wantErr: "Failed to reach the flow API at " + closed},
		{name: "a filter the API refuses shows its answer", args: []string{"--server", srv.URL, "--since", "yesterday"}, wantErr: "400 Bad Request"},
		{name: "a URL that is not http is refused", args: []string{"--server", "ftp://x"}, wantErr: "invalid flow API URL"},
		{name: "an unknown output format is refused", args: []string{"--server", srv.URL, "-o", "yaml"}, wantErr: "unrecognized output format"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut syncBuffer
			err := runFlowsCommand(t.Context(), &out, &errOut, tt.args...)
			if err == nil {
				t.Fatal("no error")
			}
			if got := err.Error() + errOut.String(); !strings.Contains(got, tt.wantErr) {
				t.Errorf("error %q, want it to contain %q", got, tt.wantErr)
			}
		})
	}
}

func TestFlowsFollow(t *testing.T) {
	for _, output := range []string{"text", "json"} {
		t.Run("--follow -o "+output+" prints the flows, then each new denied flow as it comes", func(t *testing.T) {
			srv, agg := flowAPI(t)
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			var out, errOut syncBuffer
			done := make(chan error, 1)
			go func() {
				done <- runFlowsCommand(ctx, &out, &errOut, "--server", srv.URL, "--follow", "--denied", "-o", output)
			}()
			waitFor := func(what string) {
				t.Helper()
				deadline := time.Now().Add(10 * time.Second)
				for !strings.Contains(out.String(), what) {
					if time.Now().After(deadline) {
						t.Fatalf("no %q within 10s:\n%s%s", what, out.String(), errOut.String())
					}
					time.Sleep(10 * time.Millisecond)
				}
			}
			waitFor("x/deny-a")
			agg.Add(flowRecord(3, "Log", "y/log-all"))
			agg.Add(flowRecord(4, "Deny", "x/deny-later"))
			waitFor("x/deny-later")
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("follow ended with %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("follow did not end 10s after its context")
			}
			if strings.Contains(out.String(), "y/log-all") {
				t.Errorf("a logged flow passed --denied:\n%s", out.String())
			}
			if output == "json" {
				for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
					var f flows.Flow
					if err := json.Unmarshal([]byte(l), &f); err != nil || !f.Denied() {
						t.Errorf("line %q is not a denied flow (%v)", l, err)
					}
				}
			}
		})
	}
}
