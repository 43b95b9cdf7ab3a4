package analysis

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	v3 "github.com/tabby-project/tabby/api/v3"
	"github.com/tabby-project/tabby/conformance"
	"github.com/tabby-project/tabby/engine"
)

// matrixProber answers conformance probes from a matrix.
type matrixProber struct{ x *Matrix }

func (p matrixProber) Probe(c conformance.Conn) (bool, error) {
	v, ok := p.x.Verdict(c.From.String(), c.To.String(), Service{Protocol: c.Protocol, Port: c.Port})
	if !ok {
		return false, fmt.Errorf("the matrix has no cell for %s", c)
	}
	return v == v3.Allow, nil
}

// TestMatrixConformance computes the matrix of every conformance case,
// loaded from its Kubernetes and Calico YAML as calicoctl loads files, and
// compares every cell with the case's hand-written truth table.
func TestMatrixConformance(t *testing.T) {
	model := conformance.NewModel()
	cases := append(conformance.KubernetesCases(), conformance.CalicoCases()...)
	conformance.Run(t, model, cases, func(t *testing.T, c conformance.Case) conformance.Prober {
		m := mustLoad(t,
			File{Name: "model.yaml", Data: []byte(model.KubernetesYAML())},
			File{Name: "case.yaml", Data: []byte(c.YAML)},
		)
		x, err := m.Matrix(context.Background(), model.Ports, model.Protocols, nil)
		if err != nil {
			t.Fatal(err)
		}
		return matrixProber{x}
	})
}

func TestMatrix(t *testing.T) {
	m := testModel(t)
	x, err := m.Matrix(context.Background(), []int{80, 81}, []string{"TCP", "icmp", "udp"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	n := len(m.Endpoints())
	t.Run("a protocol without ports is one service whatever the ports, in the order given", func(t *testing.T) {
		want := []Service{{"TCP", 80}, {"TCP", 81}, {"ICMP", 0}, {"UDP", 80}, {"UDP", 81}}
		if diff := cmp.Diff(want, x.Services); diff != "" {
			t.Errorf("services (-want +got):\n%s", diff)
		}
	})
	t.Run("every ordered pair of different endpoints has one cell per service, none from an endpoint to itself", func(t *testing.T) {
		if got, want := len(x.Cells), len(x.Services)*n*(n-1); got != want {
			t.Fatalf("%d cells, want %d", got, want)
		}
		seen := map[Cell]bool{}
		for _, c := range x.Cells {
			if c.From == c.To {
				t.Errorf("cell from %s to itself", c.From)
			}
			c.Verdict = ""
			if seen[c] {
				t.Errorf("cell %+v twice", c)
			}
			seen[c] = true
		}
	})
	t.Run("every cell is the engine's verdict for its flow", func(t *testing.T) {
		allowed, denied := 0, 0
		for _, c := range x.Cells {
			src, err := m.Endpoint(c.From, "")
			if err != nil {
				t.Fatal(err)
			}
			dst, err := m.Endpoint(c.To, "")
			if err != nil {
				t.Fatal(err)
			}
			proto, _, err := parseProtocol(c.Protocol)
			if err != nil {
				t.Fatal(err)
			}
			res, err := m.Engine().Evaluate(engine.Flow{Src: engine.Peer{Endpoint: src.Key}, Dst: engine.Peer{Endpoint: dst.Key}, Protocol: proto, DstPort: c.Port})
			if err != nil {
				t.Fatal(err)
			}
			if res.Verdict != c.Verdict {
				t.Errorf("%+v: the engine says %s", c, res.Verdict)
			}
			if c.Verdict == v3.Allow {
				allowed++
			} else {
				denied++
			}
		}
		if allowed == 0 || denied == 0 {
			t.Errorf("%d allowed and %d denied: the fixture should give both", allowed, denied)
		}
	})
	t.Run("Verdict finds each cell and nothing else", func(t *testing.T) {
		for _, c := range x.Cells {
			if v, ok := x.Verdict(c.From, c.To, Service{c.Protocol, c.Port}); !ok || v != c.Verdict {
				t.Fatalf("Verdict(%s, %s, %s/%d) = %s, %v; want %s", c.From, c.To, c.Protocol, c.Port, v, ok, c.Verdict)
			}
		}
		if _, ok := x.Verdict("x/a", "x/a", Service{"TCP", 80}); ok {
			t.Error("Verdict found a flow from x/a to itself")
		}
		if _, ok := x.Verdict("x/a", "x/b", Service{"TCP", 443}); ok {
			t.Error("Verdict found a service the matrix does not have")
		}
	})
}

func TestMatrixProgress(t *testing.T) {
	m := testModel(t)
	var calls [][2]int
	x, err := m.Matrix(context.Background(), []int{80}, []string{"TCP", "UDP"}, func(done, total int) {
		calls = append(calls, [2]int{done, total})
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Run("progress counts the flows decided up to the total, once per source endpoint", func(t *testing.T) {
		if len(calls) != len(x.Services)*len(x.Endpoints) {
			t.Fatalf("%d progress calls, want one per row (%d)", len(calls), len(x.Services)*len(x.Endpoints))
		}
		prev := 0
		for _, c := range calls {
			if c[1] != len(x.Cells) || c[0] <= prev {
				t.Fatalf("progress calls %v: want increasing counts out of %d", calls, len(x.Cells))
			}
			prev = c[0]
		}
		if prev != len(x.Cells) {
			t.Errorf("last progress %d, want %d", prev, len(x.Cells))
		}
	})
}

func TestMatrixErrors(t *testing.T) {
	m := testModel(t)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name      string
		ctx       context.Context
		ports     []int
		protocols []string
		wantIs    error
	}{
		{"no protocol is an invalid flow", context.Background(), []int{80}, nil, ErrInvalidFlow},
		{"an unknown protocol is an invalid flow", context.Background(), []int{80}, []string{"GRE"}, ErrInvalidFlow},
		{"a port out of range is an invalid flow", context.Background(), []int{0}, []string{"TCP"}, ErrInvalidFlow},
		{"TCP without ports is an invalid flow", context.Background(), nil, []string{"TCP"}, ErrInvalidFlow},
		{"a cancelled context stops the work with its error", cancelled, []int{80}, []string{"TCP"}, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x, err := m.Matrix(tt.ctx, tt.ports, tt.protocols, nil)
			if !errors.Is(err, tt.wantIs) || x != nil {
				t.Errorf("Matrix = %v, %v; want no matrix and an error wrapping %v", x, err, tt.wantIs)
			}
		})
	}
}

func TestMatrixFormat(t *testing.T) {
	model := conformance.NewModel()
	small := mustLoad(t,
		File{Name: "model.yaml", Data: []byte(model.KubernetesYAML())},
		File{Name: "deny.yaml", Data: []byte("kind: NetworkPolicy\napiVersion: networking.k8s.io/v1\nmetadata: {name: deny, namespace: x}\nspec:\n  podSelector: {matchLabels: {pod: a}}\n")},
	)
	tests := []struct {
		name     string
		m        *Model
		numbered bool
	}{
		{"short names head the columns, as the Kubernetes tests print them", small, false},
		{"long names number the columns and rows", testModel(t), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x, err := tt.m.Matrix(context.Background(), []int{80}, []string{"TCP"}, nil)
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			x.Format(&b)
			lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
			n := len(x.Endpoints)
			// Legend, blank line, [title,] heading, n rows, summary.
			grid := lines[2:]
			if tt.numbered {
				if grid[0] != "TCP/80" {
					t.Fatalf("title %q, want TCP/80:\n%s", grid[0], b.String())
				}
				grid = grid[1:]
			}
			if len(grid) != n+2 {
				t.Fatalf("%d grid lines, want %d:\n%s", len(grid), n+2, b.String())
			}
			heading := strings.Fields(grid[0])
			if !tt.numbered {
				heading = heading[1:]
			}
			allowed := 0
			for i, name := range x.Endpoints {
				want := name
				if tt.numbered {
					want = fmt.Sprint(i)
				}
				if heading[i] != want {
					t.Fatalf("column %d headed %q, want %q:\n%s", i, heading[i], want, b.String())
				}
				fields := strings.Fields(grid[1+i])
				if tt.numbered {
					if fields[0] != fmt.Sprint(i) {
						t.Fatalf("row %d numbered %q", i, fields[0])
					}
					fields = fields[1:]
				}
				if fields[0] != name {
					t.Fatalf("row %d is %q, want %q", i, fields[0], name)
				}
				for j, mark := range fields[1:] {
					want := "-"
					if i != j {
						v, _ := x.Verdict(name, x.Endpoints[j], Service{"TCP", 80})
						want = map[v3.Action]string{v3.Allow: ".", v3.Deny: "X"}[v]
						if v == v3.Allow {
							allowed++
						}
					}
					if mark != want {
						t.Errorf("%s to %s shows %q, want %q", name, x.Endpoints[j], mark, want)
					}
				}
			}
			if want := fmt.Sprintf("TCP/80: %d of %d flows allowed", allowed, n*(n-1)); grid[n+1] != want {
				t.Errorf("summary %q, want %q", grid[n+1], want)
			}
			if allowed == 0 || allowed == n*(n-1) {
				t.Errorf("%d of %d allowed: the fixture should deny some flows and allow others", allowed, n*(n-1))
			}
		})
	}
}

// benchmarkCluster is Kubernetes YAML for pods endpoints spread over
// namespaces of 50 pods, each namespace with a default-deny policy, a
// policy letting pods of the same app talk, and a policy opening the
// frontends to every namespace; plus a global policy denying a port.
func benchmarkCluster(pods int) string {
	const perNamespace, apps = 50, 10
	var b strings.Builder
	for ns := range (pods + perNamespace - 1) / perNamespace {
		fmt.Fprintf(&b, "---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: ns-%d\n  labels: {team: t-%d}\n", ns, ns%4)
		fmt.Fprintf(&b, "---\nkind: NetworkPolicy\napiVersion: networking.k8s.io/v1\nmetadata: {name: default-deny, namespace: ns-%d}\nspec:\n  podSelector: {}\n  policyTypes: [Ingress, Egress]\n", ns)
		fmt.Fprintf(&b, "---\nkind: NetworkPolicy\napiVersion: networking.k8s.io/v1\nmetadata: {name: same-app, namespace: ns-%d}\nspec:\n  podSelector: {}\n  ingress:\n  - from:\n    - podSelector: {matchExpressions: [{key: app, operator: Exists}]}\n  egress:\n  - {}\n", ns)
		fmt.Fprintf(&b, "---\nkind: NetworkPolicy\napiVersion: networking.k8s.io/v1\nmetadata: {name: frontends, namespace: ns-%d}\nspec:\n  podSelector: {matchLabels: {app: app-0}}\n  ingress:\n  - from:\n    - namespaceSelector: {}\n    ports:\n    - {port: http}\n", ns)
	}
	b.WriteString("---\napiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {name: no-telnet}\nspec:\n  order: 10\n  selector: all()\n  ingress:\n  - {action: Deny, protocol: TCP, destination: {ports: [23]}}\n  - {action: Pass}\n")
	for i := range pods {
		fmt.Fprintf(&b, "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: pod-%d\n  namespace: ns-%d\n  labels: {app: app-%d}\nspec:\n  nodeName: node-%d\n  containers:\n  - name: c\n    image: i\n    ports: [{name: http, containerPort: 80}]\nstatus:\n  podIP: 10.%d.%d.%d\n",
			i, i/perNamespace, i%apps, i%20, 1+i/65536, (i/256)%256, i%256)
	}
	return b.String()
}

// BenchmarkMatrix1000Endpoints computes the TCP/80 matrix of 1,000 pods in
// 20 namespaces: 999,000 flows, each through a security-style global
// policy and the namespace's Kubernetes policies.
func BenchmarkMatrix1000Endpoints(b *testing.B) {
	m := mustLoad(b, File{Name: "cluster.yaml", Data: []byte(benchmarkCluster(1000))})
	if n := len(m.Endpoints()); n != 1000 {
		b.Fatalf("%d endpoints, want 1000", n)
	}
	var flows int
	b.ReportAllocs()
	for b.Loop() {
		x, err := m.Matrix(context.Background(), []int{80}, []string{"TCP"}, nil)
		if err != nil {
			b.Fatal(err)
		}
		flows = len(x.Cells)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(flows), "ns/flow")
	b.ReportMetric(float64(b.Elapsed().Seconds())/float64(b.N), "s/matrix")
}
