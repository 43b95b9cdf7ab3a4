package engine_test

import (
	"fmt"
	"testing"

	v3 "github.com/tabby-project/tabby/api/v3"
	"github.com/tabby-project/tabby/conformance"
	"github.com/tabby-project/tabby/engine"
)

// TestConformance runs the Kubernetes and Calico conformance cases against
// the engine: every connection of the model must get the verdict of the
// case's hand-written truth table.
func TestConformance(t *testing.T) {
	m := conformance.NewModel()
	suites := []struct {
		name  string
		cases []conformance.Case
	}{
		{"kubernetes", conformance.KubernetesCases()},
		{"calico", conformance.CalicoCases()},
	}
	for _, s := range suites {
		t.Run(s.name, func(t *testing.T) {
			conformance.Run(t, m, s.cases, func(t *testing.T, c conformance.Case) conformance.Prober {
				return newProber(t, m, c)
			})
		})
	}
}

// prober answers conformance probes from engine verdicts.
type prober struct {
	e   *engine.Engine
	eps map[conformance.Peer]v3.Key
}

// newProber loads the model and the case into a fresh engine.
func newProber(t *testing.T, m conformance.Model, c conformance.Case) *prober {
	t.Helper()
	objs, err := conformance.Resources(m, c)
	if err != nil {
		t.Fatal(err)
	}
	p := &prober{e: engine.New(), eps: map[conformance.Peer]v3.Key{}}
	for _, o := range objs {
		if err := p.e.Upsert(o); err != nil {
			t.Fatalf("upsert %s: %v", v3.KeyOf(o), err)
		}
		if wep, ok := o.(*v3.WorkloadEndpoint); ok {
			p.eps[conformance.Peer{Namespace: wep.Namespace, Name: wep.Spec.Pod}] = v3.KeyOf(o)
		}
	}
	if want := len(m.Peers()); len(p.eps) != want {
		t.Fatalf("the model gave %d workload endpoints, want one per pod (%d)", len(p.eps), want)
	}
	return p
}

func (p *prober) Probe(c conformance.Conn) (bool, error) {
	src, ok := p.eps[c.From]
	if !ok {
		return false, fmt.Errorf("no endpoint for %s", c.From)
	}
	dst, ok := p.eps[c.To]
	if !ok {
		return false, fmt.Errorf("no endpoint for %s", c.To)
	}
	proto, ok := v3.ProtocolFromString(c.Protocol).Number()
	if !ok {
		return false, fmt.Errorf("protocol %q has no number", c.Protocol)
	}
	res, err := p.e.Evaluate(engine.Flow{
		Src:      engine.Peer{Endpoint: src},
		Dst:      engine.Peer{Endpoint: dst},
		Protocol: proto,
		SrcPort:  40000,
		DstPort:  c.Port,
	})
	if err != nil {
		return false, err
	}
	return res.Verdict == v3.Allow, nil
}
