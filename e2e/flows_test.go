//go:build linux

package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os/exec"
	"testing"
	"time"

	"github.com/tabby-project/tabby/conformance"
	"github.com/tabby-project/tabby/flows"
	"github.com/tabby-project/tabby/internal/testbed"
	"github.com/tabby-project/tabby/lab"
)

// logAndDenyXA logs, then denies, y/a's ingress from x/a, and allows the
// rest: every x/a probe leaves one flow-log record of rule 0.
const logAndDenyXA = `apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata:
  name: log-x-a
  namespace: "y"
spec:
  selector: pod == 'a'
  ingress:
  - action: Log
    source:
      namespaceSelector: ns == 'x'
      selector: pod == 'a'
  - action: Deny
    source:
      namespaceSelector: ns == 'x'
      selector: pod == 'a'
  - action: Allow
`

// TestFlowsOfRealTrafficReachTheAPIAndCalicoctl sends real probes through
// a Log rule and checks the flows the agents' nflog records aggregate to,
// read through the flow API and through calicoctl flows: one flow per
// probe, each attributed to the policy and rule that logged it, and none
// for traffic no Log rule saw.
func TestFlowsOfRealTrafficReachTheAPIAndCalicoctl(t *testing.T) {
	calicoctl := buildCommand(t, "calicoctl")
	m := conformance.NewModel()
	base, err := conformance.Resources(m, conformance.Case{})
	if err != nil {
		t.Fatal(err)
	}
	agg := flows.New(flows.Config{})
	l := up(t, modelTopology(m), testbed.Options{Initial: base, FlowLog: agg})
	ya := netip.MustParseAddr(m.IP(conformance.Peer{Namespace: "y", Name: "a"}))
	xaIP := netip.MustParseAddr(m.IP(conformance.Peer{Namespace: "x", Name: "a"}))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := l.Apply(ctx, decode(t, logAndDenyXA)); err != nil {
		t.Fatal(err)
	}
	if _, err := l.WaitProgrammed(ctx); err != nil {
		t.Fatal(err)
	}

	const probes = 5
	for i := range probes {
		if r := l.Fabric().Probe(ctx, xa, ya, lab.TCP, 80, 200*time.Millisecond); r.Connected {
			t.Fatalf("probe %d of the denied pair connected: %v", i, r)
		}
		if r := l.Fabric().Probe(ctx, xb, ya, lab.TCP, 80, 0); !r.Connected {
			t.Fatalf("probe %d of the allowed pair failed: %v", i, r)
		}
	}
	srv := httptest.NewServer(flows.Handler(agg))
	defer srv.Close()

	// The records travel through nflog asynchronously: poll the API until
	// every probe's flow is there.
	var got []flows.Flow
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(srv.URL + "/api/flows")
		if err != nil {
			t.Fatal(err)
		}
		got = nil
		err = json.NewDecoder(resp.Body).Decode(&got)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if len(got) >= probes || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	check := func(t *testing.T, fs []flows.Flow) {
		t.Helper()
		if len(fs) != probes {
			t.Fatalf("%d flows, want %d (one per probe of x/a): %+v", len(fs), probes, fs)
		}
		ports := map[uint16]bool{}
		for _, f := range fs {
			if f.Src != xaIP || f.Dst != ya || f.Proto != "TCP" || f.DstPort != 80 {
				t.Errorf("flow %+v: want x/a (%v) to y/a (%v) TCP/80", f, xaIP, ya)
			}
			if f.Policy != "y/log-x-a" || f.Rule != 0 || f.Action != "Log" || f.Direction != "ingress" || f.Tier != "default" {
				t.Errorf("flow %+v: want ingress Log by default tier, policy y/log-x-a, rule 0", f)
			}
			// Each logged packet is a TCP SYN: at least 40 bytes over IPv4.
			if f.Packets < 1 || f.Bytes < 40*f.Packets {
				t.Errorf("flow %+v: want at least one packet of at least 40 bytes each", f)
			}
			ports[f.SrcPort] = true
		}
		if len(ports) != probes {
			t.Errorf("%d distinct source ports, want one per probe", len(ports))
		}
	}
	t.Run("the flow API has one flow per probe, attributed to the Log rule", func(t *testing.T) { check(t, got) })

	t.Run("calicoctl flows prints the same flows", func(t *testing.T) {
		out, err := exec.CommandContext(ctx, calicoctl, "flows", "--server", srv.URL, "-n", "y", "-o", "json").Output()
		if err != nil {
			t.Fatalf("calicoctl flows: %v", err)
		}
		var fs []flows.Flow
		if err := json.Unmarshal(out, &fs); err != nil {
			t.Fatalf("calicoctl flows -o json: %v\n%s", err, out)
		}
		check(t, fs)
	})
}
