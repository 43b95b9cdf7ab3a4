//go:build linux

package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	v3 "github.com/tabby-project/tabby/api/v3"
	"github.com/tabby-project/tabby/conformance"
	"github.com/tabby-project/tabby/internal/testbed"
	"github.com/tabby-project/tabby/lab"
)

// TestConformanceOnRealPackets runs every Kubernetes and Calico conformance
// case on one lab of the model (pods spread over node-1 and node-2, an
// agent per node, one embedded etcd): each case's resources are written to
// the datastore, every agent has programmed them before the probes start,
// the hosts' conntrack tables are emptied so that every probe is a new
// connection judged by the case's rules, and every connection of the model must do on real packets what the
// case's truth table says, as must the engine's prediction from the same
// datastore content. On a kernel without SCTP the SCTP connections are
// compared on the engine's side only, and the test says so.
func TestConformanceOnRealPackets(t *testing.T) {
	m := conformance.NewModel()
	base, err := conformance.Resources(m, conformance.Case{})
	if err != nil {
		t.Fatal(err)
	}
	l := up(t, modelTopology(m), testbed.Options{Initial: base, Workers: 64, ProbeTimeout: 250 * time.Millisecond})
	if err := l.Fabric().SCTP(); err != nil {
		t.Logf("SCTP connections are compared on the engine's side only: %v", err)
	}
	conns := m.Conns()
	specs := make([]lab.ProbeSpec, len(conns))
	for i, c := range conns {
		specs[i] = lab.ProbeSpec{
			From:     lab.WorkloadRef{Namespace: c.From.Namespace, Name: c.From.Name},
			To:       netip.MustParseAddr(m.IP(c.To)),
			Protocol: lab.Protocol(c.Protocol),
			Port:     uint16(c.Port),
		}
	}
	start := time.Now()
	for _, suite := range []struct {
		name  string
		cases []conformance.Case
	}{
		{"kubernetes", conformance.KubernetesCases()},
		{"calico", conformance.CalicoCases()},
	} {
		t.Run(suite.name, func(t *testing.T) {
			for _, c := range suite.cases {
				t.Run(c.Name, func(t *testing.T) {
					runCase(t, l, m, base, c, conns, specs)
				})
			}
		})
	}
	t.Logf("%d cases on real packets in %v", len(conformance.KubernetesCases())+len(conformance.CalicoCases()),
		time.Since(start).Round(time.Millisecond))
}

// runCase writes the case, probes, compares, and puts the model back as it
// was.
func runCase(t *testing.T, l *testbed.Lab, m conformance.Model, base []v3.Object, c conformance.Case, conns []conformance.Conn, specs []lab.ProbeSpec) {
	objs, err := conformance.Resources(m, c)
	if err != nil {
		t.Fatal(err)
	}
	added := objs[len(base):]
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	t.Cleanup(func() { restore(t, l, base, added) })
	if _, err := l.Apply(ctx, added...); err != nil {
		t.Fatal(err)
	}
	if err := l.FlushConntrack(); err != nil {
		t.Fatal(err)
	}
	mat, err := l.Matrix(ctx, specs, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := m.Expected(c)
	observed, predicted := m.NewTable(), m.NewTable()
	var wrongPackets []string
	var wrong []conformance.Conn
	for i, conn := range conns {
		cell := mat.Cells[i]
		predicted.Set(conn, cell.Predicted.Allowed)
		if cell.Skipped != "" {
			continue
		}
		observed.Set(conn, cell.Connected)
		if cell.Connected != want.Get(conn) {
			wrong = append(wrong, conn)
			wrongPackets = append(wrongPackets, fmt.Sprintf("  %s: want allowed=%v, packets connected=%v (%s); engine: %s",
				conn, want.Get(conn), cell.Connected, cell.Error, cell.Predicted.Reason))
		}
	}
	if len(wrong) > 0 {
		t.Errorf("%d connections on real packets disagree with the expected table:\n%s\n%s",
			len(wrong), strings.Join(wrongPackets, "\n"), grids(want, observed, wrong))
	}
	if diff := want.Diff(predicted); len(diff) > 0 {
		t.Errorf("%d connections predicted by the engine from the datastore disagree with the expected table:\n%s",
			len(diff), grids(want, predicted, diff))
	}
}

// grids prints, for each protocol and port with a disagreement, the
// expected grid and the one observed with disagreements marked "!".
func grids(want, got *conformance.Table, diff []conformance.Conn) string {
	var b strings.Builder
	var seen []string
	for _, c := range diff {
		key := fmt.Sprintf("%s/%d", c.Protocol, c.Port)
		if slices.Contains(seen, key) {
			continue
		}
		seen = append(seen, key)
		fmt.Fprintf(&b, "expected:\n%sgot (! = disagreement):\n%s", want.Grid(c.Protocol, c.Port, nil), got.Grid(c.Protocol, c.Port, want))
	}
	return b.String()
}

// restore undoes a case: resources it replaced get the model's version
// back, the others are deleted, last written first.
func restore(t *testing.T, l *testbed.Lab, base, added []v3.Object) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	orig := map[v3.Key]v3.Object{}
	for _, o := range base {
		orig[v3.KeyOf(o)] = o
	}
	for i := len(added) - 1; i >= 0; i-- {
		k := v3.KeyOf(added[i])
		var err error
		if o, ok := orig[k]; ok {
			_, err = l.Apply(ctx, o)
		} else {
			err = l.Delete(ctx, k)
		}
		if err != nil {
			t.Errorf("restore the model: %v", err)
		}
	}
}
