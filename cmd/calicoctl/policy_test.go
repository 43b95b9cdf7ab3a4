package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tabby-project/tabby/analysis"
	v3 "github.com/tabby-project/tabby/api/v3"
	"github.com/tabby-project/tabby/engine"
)

const (
	demoDir  = "../../examples/demo"
	seedsDir = "../../examples/seeds"
)

// policyRun is what one in-process calicoctl run printed and returned.
type policyRun struct {
	code           int
	stdout, stderr string
}

func runPolicyCLI(stdin string, args ...string) policyRun {
	var out, errb bytes.Buffer
	code := run(args, strings.NewReader(stdin), &out, &errb)
	return policyRun{code: code, stdout: out.String(), stderr: errb.String()}
}

// mustRun runs calicoctl and fails the test unless it exits 0.
func mustRun(t *testing.T, args ...string) policyRun {
	t.Helper()
	r := runPolicyCLI("", args...)
	if r.code != 0 {
		t.Fatalf("calicoctl %s: exit %d\n%s", strings.Join(args, " "), r.code, r.stderr)
	}
	return r
}

// exampleEngine loads the resource files of dir straight into an engine,
// bypassing the analysis model, and maps endpoint names to keys as the
// commands name them (namespace/pod, or the host endpoint's name).
func exampleEngine(t *testing.T, dir string) (*engine.Engine, map[string]v3.Key) {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(names) == 0 {
		t.Fatalf("no YAML files in %s: %v", dir, err)
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
	e := engine.New()
	eps := map[string]v3.Key{}
	for _, o := range objs {
		if err := e.Upsert(o); err != nil {
			t.Fatalf("upsert %s: %v", v3.KeyOf(o), err)
		}
		switch r := o.(type) {
		case *v3.WorkloadEndpoint:
			name := r.Spec.Pod
			if name == "" {
				name = r.Spec.Workload
			}
			eps[r.Namespace+"/"+name] = v3.KeyOf(o)
		case *v3.HostEndpoint:
			eps[r.Name] = v3.KeyOf(o)
		}
	}
	return e, eps
}

// engineVerdict is the engine's verdict for a flow between named endpoints.
func engineVerdict(t *testing.T, e *engine.Engine, eps map[string]v3.Key, from, to string, proto, port int) v3.Action {
	t.Helper()
	src, ok := eps[from]
	if !ok {
		t.Fatalf("no endpoint %s", from)
	}
	dst, ok := eps[to]
	if !ok {
		t.Fatalf("no endpoint %s", to)
	}
	res, err := e.Evaluate(engine.Flow{Src: engine.Peer{Endpoint: src}, Dst: engine.Peer{Endpoint: dst}, Protocol: proto, DstPort: port})
	if err != nil {
		t.Fatal(err)
	}
	return res.Verdict
}

var protocolNumbers = map[string]int{"TCP": 6, "UDP": 17, "SCTP": 132, "ICMP": 1}

func TestPolicyTrace(t *testing.T) {
	e, eps := exampleEngine(t, demoDir)
	// The flows examples/demo/*.yaml describe in their comments.
	tests := []struct {
		name     string
		from, to string
		port     string
		want     string
	}{
		{"the blue pod reaches the red one on the port it names", "x/b", "x/a", "80", "Allow"},
		{"a pod that is not blue does not reach the red one", "x/c", "x/a", "80", "Deny"},
		{"the blue pod does not reach the red one on another port", "x/b", "x/a", "81", "Deny"},
		{"y/a accepts its own namespace", "y/b", "y/a", "80", "Allow"},
		{"y/b accepts nothing", "y/a", "y/b", "80", "Deny"},
		{"y/a accepts nothing from another namespace", "x/a", "y/a", "81", "Deny"},
		{"z may not send outside z", "z/a", "x/b", "80", "Deny"},
		{"z may send inside z", "z/a", "z/b", "80", "Allow"},
		{"a pod no policy selects is open", "y/c", "x/b", "81", "Allow"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustRun(t, "policy", "trace", "--from", tt.from, "--to", tt.to, "--protocol", "TCP", "--port", tt.port, "-f", demoDir, "-o", "json")
			var got struct {
				Verdict string
				Trace   struct{ Egress, Ingress *struct{ Verdict string } }
			}
			if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
				t.Fatalf("output is not JSON: %v\n%s", err, r.stdout)
			}
			var port int
			fmt.Sscan(tt.port, &port)
			if want := string(engineVerdict(t, e, eps, tt.from, tt.to, 6, port)); got.Verdict != want {
				t.Errorf("verdict %q, the engine says %q", got.Verdict, want)
			}
			if got.Verdict != tt.want {
				t.Errorf("verdict %q, the demo says %q", got.Verdict, tt.want)
			}
			if got.Trace.Egress == nil || got.Trace.Ingress == nil {
				t.Errorf("the JSON trace lacks a direction:\n%s", r.stdout)
			}
		})
	}
	t.Run("the text shows the tree and the verdict with its reason", func(t *testing.T) {
		r := mustRun(t, "policy", "trace", "--from", "x/c", "--to", "10.100.1.1", "--port", "80", "-f", demoDir)
		for _, want := range []string{
			"TCP from x/c (10.100.1.3) to x/a (10.100.1.1) port 80\n",
			"    NetworkPolicy x/allow-blue-to-red (order none)\n      rule 0 Allow: no match: source.selector: ",
			"Verdict: Deny\n  ingress at x/a (10.100.1.1): denied at the end of tier \"default\"",
		} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("the output lacks %q:\n%s", want, r.stdout)
			}
		}
	})
	t.Run("an ICMP type and code make an ICMP flow", func(t *testing.T) {
		r := mustRun(t, "policy", "trace", "--from", "z/a", "--to", "x/a", "--protocol", "ICMP", "--icmp-type", "8", "--icmp-code", "0", "-f", demoDir, "-o", "json")
		var got struct {
			Protocol string
			ICMP     struct{ Type, Code int }
			Verdict  string
		}
		if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
			t.Fatal(err)
		}
		if got.Protocol != "ICMP" || got.ICMP.Type != 8 || got.Verdict != "Deny" {
			t.Errorf("got %+v, want an ICMP type 8 flow denied by z's egress policy", got)
		}
	})
}

func TestPolicyMatrix(t *testing.T) {
	tests := []struct {
		name      string
		dir       string
		ports     string
		protocols string
		endpoints int
	}{
		{"the demo cluster's matrix is the engine's verdicts", demoDir, "80,81", "TCP,UDP", 9},
		{"the seed policies' matrix is the engine's verdicts", seedsDir, "53,6379", "TCP,UDP", 8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, eps := exampleEngine(t, tt.dir)
			r := mustRun(t, "policy", "matrix", "-f", tt.dir, "--ports", tt.ports, "--protocols", tt.protocols, "-o", "json")
			var cells []struct {
				From, To, Protocol string
				Port               int
				Verdict            string
			}
			if err := json.Unmarshal([]byte(r.stdout), &cells); err != nil {
				t.Fatalf("output is not a JSON list: %v\n%s", err, r.stdout)
			}
			if want := 4 * tt.endpoints * (tt.endpoints - 1); len(cells) != want {
				t.Fatalf("%d cells, want %d", len(cells), want)
			}
			allowed := 0
			for _, c := range cells {
				want := engineVerdict(t, e, eps, c.From, c.To, protocolNumbers[c.Protocol], c.Port)
				if c.Verdict != string(want) {
					t.Errorf("%s to %s %s/%d: %s, the engine says %s", c.From, c.To, c.Protocol, c.Port, c.Verdict, want)
				}
				if want == v3.Allow {
					allowed++
				}
			}
			if allowed == 0 || allowed == len(cells) {
				t.Errorf("%d of %d flows allowed: the example should allow some and deny others", allowed, len(cells))
			}
			if strings.Contains(r.stderr, "matrix:") {
				t.Errorf("progress was written to a stderr that is not a terminal:\n%s", r.stderr)
			}
		})
	}
	t.Run("the text is one grid per protocol and port, with the Kubernetes tests' marks and counts", func(t *testing.T) {
		var cells []struct {
			Port    int
			Verdict string
		}
		if err := json.Unmarshal([]byte(mustRun(t, "policy", "matrix", "-f", demoDir, "--ports", "81", "-o", "json").stdout), &cells); err != nil {
			t.Fatal(err)
		}
		allowed := 0
		for _, c := range cells {
			if c.Verdict == "Allow" {
				allowed++
			}
		}
		r := mustRun(t, "policy", "matrix", "-f", demoDir, "--ports", "80,81")
		for _, want := range []string{
			"TCP/80 x/a x/b x/c y/a y/b y/c z/a z/b z/c\nx/a    -   .   .   X",
			"TCP/81 x/a",
			fmt.Sprintf("TCP/81: %d of 72 flows allowed\n", allowed),
		} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("the output lacks %q:\n%s", want, r.stdout)
			}
		}
	})
	t.Run("a resource defined twice in the seeds is noted on stderr", func(t *testing.T) {
		r := mustRun(t, "policy", "matrix", "-f", seedsDir)
		if !strings.Contains(r.stderr, "Note: ") || !strings.Contains(r.stderr, "(NetworkPolicy production/allow-tcp-6379): replaces the definition in ") {
			t.Errorf("stderr lacks the note about allow-tcp-6379:\n%s", r.stderr)
		}
	})
}

func TestPolicySelectAndFor(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{
			name: "select shows the endpoints a policy applies to and what its rule matches",
			args: []string{"policy", "select", "allow-blue-to-red", "-n", "x", "-f", demoDir},
			want: []string{
				"NetworkPolicy x/allow-blue-to-red\n",
				"  applies to 1 endpoint(s):\n    x/a\n",
				"  ingress rule 0: Allow TCP\n    from: selector (projectcalico.org/namespace == \"x\" && color == \"blue\") (matches: x/b)\n    to:   anywhere; ports serve-80-tcp\n",
			},
		},
		{
			name: "select finds a Kubernetes policy by its Kubernetes name",
			args: []string{"policy", "select", "default-deny", "-n", "y", "-f", demoDir},
			want: []string{"NetworkPolicy y/knp.default.default-deny\n", "  applies to 3 endpoint(s):\n    y/a\n    y/b\n    y/c\n"},
		},
		{
			name: "select of a seed global policy",
			args: []string{"policy", "select", "deny-blue", "-f", seedsDir},
			want: []string{"GlobalNetworkPolicy deny-blue\n", "    production/redis\n", "(matches: production/frontend)"},
		},
		{
			name: "for lists the tiers and policies of an endpoint in order, then its profiles",
			args: []string{"policy", "for", "y/a", "-f", demoDir},
			want: []string{
				"y/a (WorkloadEndpoint y/node--2-k8s-a-eth0, 10.100.2.1)\n",
				"ingress:\n  tier default (default action Deny)\n    1. NetworkPolicy y/knp.default.access-a (order 1000)\n    2. NetworkPolicy y/knp.default.default-deny (order 1000)\n",
				"egress:\n  no policy applies\n  if no tier decides: profiles kns.y in order, then deny\n",
			},
		},
		{
			name: "for takes a bare name in the namespace of -n",
			args: []string{"policy", "for", "a", "-n", "z", "-f", demoDir},
			want: []string{"egress:\n  tier default (default action Deny)\n    1. GlobalNetworkPolicy z.deny-egress (order 500)\n"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustRun(t, tt.args...)
			for _, want := range tt.want {
				if !strings.Contains(r.stdout, want) {
					t.Errorf("the output lacks %q:\n%s", want, r.stdout)
				}
			}
		})
	}
	t.Run("select and for print JSON", func(t *testing.T) {
		var sel struct{ Endpoints []string }
		r := mustRun(t, "policy", "select", "z.deny-egress", "-f", demoDir, "-o", "json")
		if err := json.Unmarshal([]byte(r.stdout), &sel); err != nil || strings.Join(sel.Endpoints, ",") != "z/a,z/b,z/c" {
			t.Errorf("select JSON %s (%v): want endpoints z/a, z/b, z/c", r.stdout, err)
		}
		var ep struct {
			Endpoint struct{ Name string }
			Policy   struct{ Profiles []string }
		}
		r = mustRun(t, "policy", "for", "10.100.3.2", "-f", demoDir, "-o", "json")
		if err := json.Unmarshal([]byte(r.stdout), &ep); err != nil || ep.Endpoint.Name != "z/b" || strings.Join(ep.Policy.Profiles, ",") != "kns.z" {
			t.Errorf("for JSON %s (%v): want z/b with profile kns.z", r.stdout, err)
		}
	})
}

func TestPolicyErrors(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {name: t}\n---\napiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {name: p}\nspec: {bogus: 1}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		args       []string
		wantStderr []string
	}{
		{"a problem of the input names its file and document", []string{"policy", "for", "x", "-f", bad},
			[]string{bad + ": document 2 (GlobalNetworkPolicy p): spec.bogus: unknown field\n", "Loading failed: 1 problem(s) in 1 file(s)\n"}},
		{"an unknown endpoint is named", []string{"policy", "trace", "--from", "x/nobody", "--to", "x/a", "--port", "80", "-f", demoDir},
			[]string{`Error: from: analysis: no such endpoint: "x/nobody"`}},
		{"an unknown policy lists the policies there are", []string{"policy", "select", "nope", "-n", "x", "-f", demoDir},
			[]string{"there are GlobalNetworkPolicy z.deny-egress, NetworkPolicy x/allow-blue-to-red"}},
		{"a TCP trace needs a port", []string{"policy", "trace", "--from", "x/a", "--to", "x/b", "-f", demoDir},
			[]string{"TCP needs a destination port"}},
		{"an ICMP code needs a type", []string{"policy", "trace", "--from", "x/a", "--to", "x/b", "--protocol", "ICMP", "--icmp-code", "0", "-f", demoDir},
			[]string{"--icmp-code needs --icmp-type"}},
		{"an unknown output format is refused", []string{"policy", "matrix", "-f", demoDir, "-o", "yaml"},
			[]string{"unrecognized output format 'yaml': want text or json"}},
		{"trace needs both peers", []string{"policy", "trace", "--from", "x/a", "-f", demoDir},
			[]string{`required flag(s) "to" not set`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runPolicyCLI("", tt.args...)
			if r.code != 1 || r.stdout != "" {
				t.Errorf("exit %d with stdout %q, want 1 and nothing", r.code, r.stdout)
			}
			for _, want := range tt.wantStderr {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
				}
			}
		})
	}
}

func TestPolicyHelp(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"calicoctl lists the policy and convert commands", []string{"--help"}, []string{"  policy ", "  convert "}},
		{"policy lists its commands", []string{"policy", "--help"}, []string{"  trace ", "  matrix ", "  select ", "  for "}},
		{"trace explains the walk and gives examples", []string{"policy", "trace", "--help"},
			[]string{"end of tier", "Examples:", "calicoctl policy trace --from x/a --to y/b", "--http-method"}},
		{"matrix explains its marks and gives examples", []string{"policy", "matrix", "--help"},
			[]string{`"." where the flow is allowed`, "Examples:", "--protocols"}},
		{"select explains policy names", []string{"policy", "select", "--help"}, []string{"knp.default.NAME", "gnp/NAME"}},
		{"for explains endpoint names", []string{"policy", "for", "--help"}, []string{`"namespace/pod"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustRun(t, tt.args...)
			for _, want := range tt.want {
				if !strings.Contains(r.stdout, want) {
					t.Errorf("help lacks %q:\n%s", want, r.stdout)
				}
			}
		})
	}
}
