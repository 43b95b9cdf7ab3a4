package conformance

import (
	"fmt"
	"strings"
	"testing"
)

// Case is one conformance scenario.
type Case struct {
	// Name reads as a sentence: what the policy should do.
	Name string
	// YAML holds the policies (and any extra resources) of the case, as
	// Kubernetes networking.k8s.io/v1 or projectcalico.org/v3 documents.
	YAML string
	// DefaultAllow is the verdict of every connection no Expectation names.
	DefaultAllow bool
	// Expect is the truth table, applied in order over DefaultAllow.
	Expect []Expectation
}

// Prober answers whether a connection is allowed under the case it was made
// for. The engine answers from its verdicts; the lab from real packets.
type Prober interface {
	Probe(c Conn) (allowed bool, err error)
}

// Run runs each case as a subtest: setup prepares a Prober for the model with
// the case's YAML applied, and every connection of the model is compared with
// the case's truth table. Disagreements are reported with the grids of the
// protocol/ports that disagree, marked "!".
func Run(t *testing.T, m Model, cases []Case, setup func(t *testing.T, c Case) Prober) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			p := setup(t, c)
			want := m.Expected(c)
			got := m.NewTable()
			for _, conn := range m.Conns() {
				ok, err := p.Probe(conn)
				if err != nil {
					t.Fatalf("probe %s: %v", conn, err)
				}
				got.Set(conn, ok)
			}
			if diff := want.Diff(got); len(diff) > 0 {
				t.Errorf("%d of %d connections disagree with the expected table:\n%s", len(diff), len(m.Conns()), report(m, want, got, diff))
			}
		})
	}
}

func report(m Model, want, got *Table, diff []Conn) string {
	var b strings.Builder
	seen := map[string]bool{}
	for i, c := range diff {
		if i < 10 {
			fmt.Fprintf(&b, "  %s: want allowed=%v, got %v\n", c, want.Get(c), got.Get(c))
		}
		key := fmt.Sprintf("%s/%d", c.Protocol, c.Port)
		if seen[key] {
			continue
		}
		seen[key] = true
		fmt.Fprintf(&b, "expected:\n%sobserved (! = disagreement):\n%s", want.Grid(c.Protocol, c.Port, nil), got.Grid(c.Protocol, c.Port, want))
	}
	return b.String()
}
