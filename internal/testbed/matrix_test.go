//go:build linux

package testbed

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/tabby-project/tabby/lab"
)

func TestSquares(t *testing.T) {
	allowed := Cell{Connected: true, Predicted: Prediction{Allowed: true}}
	denied := Cell{Predicted: Prediction{}}
	wrong := Cell{Connected: true}
	skipped := Cell{Skipped: "no SCTP", Predicted: Prediction{Allowed: true}}
	tests := []struct {
		name     string
		cells    []Cell
		ok, self bool
		obs, pre string
	}{
		{"a workload's own square is a dash", nil, false, true, "-", "-"},
		{"a destination that does not serve the port is blank", nil, false, false, "", ""},
		{"allowed everywhere is a dot on both sides", []Cell{allowed, allowed}, true, false, ".", "."},
		{"denied everywhere is an X on both sides", []Cell{denied}, true, false, "X", "X"},
		{"some addresses only is a tilde", []Cell{allowed, denied}, true, false, "~", "~"},
		{"a disagreement marks the observed side", []Cell{wrong, denied}, true, false, "!", "X"},
		{"probes not sent are a question mark beside the prediction", []Cell{skipped}, true, false, "?", "."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obs, pre := squares(tt.cells, tt.ok, tt.self)
			if obs != tt.obs || pre != tt.pre {
				t.Errorf("squares = %q, %q; want %q, %q", obs, pre, tt.obs, tt.pre)
			}
		})
	}
}

func TestPrintShowsBothSidesAndEveryDisagreement(t *testing.T) {
	a := lab.WorkloadRef{Namespace: "x", Name: "a"}
	b := lab.WorkloadRef{Namespace: "x", Name: "b"}
	ipA, ipB := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	m := &Matrix{
		Revision: 7, EndRevision: 7, Elapsed: 1500 * time.Millisecond,
		Workloads: []Workload{{Ref: a, Host: "n1", IPs: []netip.Addr{ipA}}, {Ref: b, Host: "n2", IPs: []netip.Addr{ipB}}},
		SCTP:      "no SCTP here",
		Cells: []Cell{
			{Probe: lab.ProbeSpec{From: a, To: ipB, Protocol: lab.TCP, Port: 80}, Connected: true, Predicted: Prediction{Allowed: true, Reason: "allowed"}},
			{Probe: lab.ProbeSpec{From: b, To: ipA, Protocol: lab.TCP, Port: 80}, Connected: true, Predicted: Prediction{Reason: "ingress denied by the end of tier default"}},
			{Probe: lab.ProbeSpec{From: a, To: ipB, Protocol: lab.SCTP, Port: 80}, Skipped: "SCTP unsupported", Predicted: Prediction{Allowed: true}},
		},
	}
	var b1 strings.Builder
	m.Print(&b1)
	got := b1.String()
	for _, want := range []string{
		"TCP/80 x/a x/b │ x/a x/b",
		"x/a    -   .   │ -   .",
		"x/b    !   -   │ X   -",
		"SCTP/80 x/b │ x/b",
		"x/a     ?   │ .",
		"1 disagreement(s) between the packets and the engine:\n  x/b -> 10.0.0.1 TCP/80: connected; engine: ingress denied by the end of tier default",
		"2 probes at datastore revision 7 in 1.5s: 1 disagreement(s); 1 SCTP probes not sent: no SCTP here",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("the output lacks %q:\n%s", want, got)
		}
	}
	if diff := cmp.Diff([]Cell{m.Cells[1]}, m.Disagreements(), cmpopts.EquateComparable(netip.Addr{})); diff != "" {
		t.Errorf("Disagreements (-want +got):\n%s", diff)
	}
}

func TestPercentile(t *testing.T) {
	var xs []time.Duration
	for i := 1; i <= 20; i++ {
		xs = append(xs, time.Duration(i)*time.Millisecond)
	}
	tests := []struct {
		name string
		p    int
		want time.Duration
	}{
		{"the median of 20 is the 10th", 50, 10 * time.Millisecond},
		{"the 99th percentile of 20 is the largest", 99, 20 * time.Millisecond},
		{"the 5th percentile of 20 is the smallest", 5, time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := percentile(xs, tt.p); got != tt.want {
				t.Errorf("percentile(%d) = %v, want %v", tt.p, got, tt.want)
			}
		})
	}
}
