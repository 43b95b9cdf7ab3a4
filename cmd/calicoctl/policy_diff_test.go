package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/tabby-project/tabby/analysis"
)

// demoWith copies the demo's resource files into a new directory, leaving
// out the files named in drop and adding extra files.
func demoWith(t *testing.T, drop []string, extra map[string]string) string {
	t.Helper()
	return exampleWith(t, demoDir, drop, extra)
}

// exampleWith copies the resource files of an example directory into a
// new directory, leaving out the files named in drop and adding extra
// files.
func exampleWith(t *testing.T, example string, drop []string, extra map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	names, err := filepath.Glob(filepath.Join(example, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if slices.Contains(drop, filepath.Base(n)) {
			continue
		}
		data, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(n)), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for n, data := range extra {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func diffReport(t *testing.T, stdout string) analysis.DiffReport {
	t.Helper()
	var rep analysis.DiffReport
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("diff output is not JSON: %v\n%s", err, stdout)
	}
	return rep
}

// pairsOf counts the changes per "from -> to" and kind.
func pairsOf(changes []analysis.FlowChange) map[string]int {
	out := map[string]int{}
	for _, c := range changes {
		out[c.From+" -> "+c.To+" "+c.Change]++
	}
	return out
}

// stagedDenyXC is a staged policy that would deny all ingress to x/c.
const stagedDenyXC = `apiVersion: projectcalico.org/v3
kind: StagedNetworkPolicy
metadata:
  name: isolate-c
  namespace: x
spec:
  selector: pod == 'c'
  ingress:
  - action: Deny
`

func TestPolicyDiffOnTheDemo(t *testing.T) {
	// The demo's classes: its only port is the named port serve-80-tcp
	// (80 on every pod), so TCP, UDP and SCTP each split into 1-79, 80
	// and 81-65535, and ICMP is one class: 10 classes per pair.
	const classes = 10
	tests := []struct {
		name       string
		to         string
		want       map[string]int
		wantStaged map[string]int
	}{
		{
			name: "the demo against itself changes nothing",
			to:   demoDir,
		},
		{
			// Without y's default deny, y/b and y/c are open again (their
			// namespace profile allows all), except from z, whose egress
			// to other namespaces z.deny-egress denies; y/a stays under
			// access-a, which only admits y.
			name: "dropping y's default deny opens y/b and y/c to x and y, every class",
			to:   demoWith(t, []string{"20-y-default-deny.yaml"}, nil),
			want: map[string]int{
				"x/a -> y/b denied-to-allowed": classes, "x/b -> y/b denied-to-allowed": classes,
				"x/c -> y/b denied-to-allowed": classes, "y/a -> y/b denied-to-allowed": classes,
				"y/c -> y/b denied-to-allowed": classes,
				"x/a -> y/c denied-to-allowed": classes, "x/b -> y/c denied-to-allowed": classes,
				"x/c -> y/c denied-to-allowed": classes, "y/a -> y/c denied-to-allowed": classes,
				"y/b -> y/c denied-to-allowed": classes,
			},
		},
		{
			// x/c is open to everyone whose egress allows: x, y; z's
			// egress to x is denied already.
			name: "a staged isolation of x/c changes no enforced flow and lists what it would deny",
			to:   demoWith(t, nil, map[string]string{"40-staged.yaml": stagedDenyXC}),
			wantStaged: map[string]int{
				"x/a -> x/c allowed-to-denied": classes, "x/b -> x/c allowed-to-denied": classes,
				"y/a -> x/c allowed-to-denied": classes, "y/b -> x/c allowed-to-denied": classes,
				"y/c -> x/c allowed-to-denied": classes,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustRun(t, "policy", "diff", "--from", demoDir, "--to", tt.to, "-o", "json")
			rep := diffReport(t, r.stdout)
			if rep.Endpoints != 9 || len(rep.Classes) != classes || rep.Flows != 9*8*classes {
				t.Errorf("compared %d endpoints, %d classes, %d flows; want 9, %d, %d", rep.Endpoints, len(rep.Classes), rep.Flows, classes, 9*8*classes)
			}
			if diff := cmp.Diff(tt.want, pairsOf(rep.Changes), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("changes per pair (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantStaged, pairsOf(rep.Staged), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("staged changes per pair (-want +got):\n%s", diff)
			}
		})
	}
}

// frontendToRedis is the change tabby-lab's demo applies to the seeds: an
// egress Allow from production/frontend to the databases on TCP 6379,
// ordered before default-app-policy.
const frontendToRedis = `apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata:
  name: allow-frontend-to-redis
  namespace: production
spec:
  order: 100
  selector: role == 'frontend'
  types:
  - Egress
  egress:
  - action: Allow
    protocol: TCP
    destination:
      selector: role == 'database'
      ports:
      - 6379
`

func TestPolicyDiffOnTheSeeds(t *testing.T) {
	const allowAllIngress = "GlobalNetworkPolicy allow-cluster-internal-ingress rule 0 (Allow) in tier default"
	t.Run("the lab demo's change lets production/frontend reach redis on TCP 6379 and changes nothing else", func(t *testing.T) {
		// default-app-policy confines frontend's egress to DNS; the change
		// allows its TCP 6379 to role == 'database' in production, which
		// is redis alone; redis's ingress is open (allow-all ingress).
		to := exampleWith(t, seedsDir, nil, map[string]string{"seeds-change.yaml": frontendToRedis})
		rep := diffReport(t, mustRun(t, "policy", "diff", "--from", seedsDir, "--to", to, "-o", "json").stdout)
		want := []analysis.FlowChange{{
			From: "production/frontend", To: "production/redis",
			Class:  analysis.FlowClass{Protocol: "TCP", Ports: "6379", Port: 6379},
			Change: analysis.ChangeNowAllowed,
			Before: analysis.Decision{Verdict: "Deny",
				DecidedBy: "egress: end of tier default (GlobalNetworkPolicy default-app-policy applied, none allowed or passed)"},
			After: analysis.Decision{Verdict: "Allow",
				DecidedBy: "egress: NetworkPolicy production/allow-frontend-to-redis rule 0 (Allow) in tier default; ingress: " + allowAllIngress},
		}}
		if diff := cmp.Diff(want, rep.Changes); diff != "" {
			t.Errorf("changes (-want +got):\n%s", diff)
		}
	})

	t.Run("dropping deny-blue, which lint says never denies, changes no flow and no decider", func(t *testing.T) {
		to := exampleWith(t, seedsDir, []string{"001-deny-blue.yaml"}, nil)
		rep := diffReport(t, mustRun(t, "policy", "diff", "--all", "--from", seedsDir, "--to", to, "-o", "json").stdout)
		if len(rep.Changes) != 0 {
			t.Errorf("changes: %+v", rep.Changes)
		}
	})

	t.Run("dropping the allow-all ingress only denies flows it allowed", func(t *testing.T) {
		// It allowed every ingress, so no flow was denied at ingress and
		// egress is unchanged: every change is a flow it allowed.
		to := exampleWith(t, seedsDir, []string{"001-allow-cluster-internal-ingress.yaml"}, nil)
		rep := diffReport(t, mustRun(t, "policy", "diff", "--from", seedsDir, "--to", to, "-o", "json").stdout)
		if len(rep.Changes) == 0 {
			t.Fatal("no change; deny-blue alone should now deny TCP from blue to red endpoints")
		}
		for _, c := range rep.Changes {
			if c.Change != analysis.ChangeNowDenied || !strings.HasSuffix(c.Before.DecidedBy, "ingress: "+allowAllIngress) {
				t.Errorf("change %+v: want allowed-to-denied, allowed before by %s", c, allowAllIngress)
			}
		}
	})
}

func TestPolicyDiffText(t *testing.T) {
	to := demoWith(t, []string{"20-y-default-deny.yaml"}, nil)
	r := mustRun(t, "policy", "diff", "--from", demoDir, "--to", to, "--ports", "80", "--protocols", "TCP")
	for _, s := range []string{
		"Compared 72 flows: 9 endpoints, 1 flow classes (TCP 80).",
		"10 flow(s) change:",
		"x/a -> y/b TCP 80: Deny -> Allow",
		"from: ingress: end of tier default",
		"to:   egress: profile kns.x rule 0 (Allow); ingress: profile kns.y rule 0 (Allow)",
	} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("output lacks %q:\n%s", s, r.stdout)
		}
	}
}

func TestPolicyDiffRefusesBadInput(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"--to is required", []string{"--from", demoDir}, `"to" not set`},
		{"a bad port is refused", []string{"--from", demoDir, "--to", demoDir, "--ports", "0"}, "port 0"},
		{"a missing directory is reported", []string{"--from", demoDir, "--to", "no/such/dir"}, "no/such/dir"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runPolicyCLI("", append([]string{"policy", "diff"}, tt.args...)...)
			if r.code != 1 || !strings.Contains(r.stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want 1 and %q", r.code, r.stderr, tt.want)
			}
		})
	}
}

// TestPolicyLintAndDiffReadTheDatastore checks that lint and diff read the
// datastore as the files that were applied to it.
func TestPolicyLintAndDiffReadTheDatastore(t *testing.T) {
	e := startDatastore(t)
	e.mustCtl(t, "", "apply", "-f", seedsDir)

	t.Run("lint finds in the datastore what it finds in the files", func(t *testing.T) {
		fromFiles := runCtl("", "policy", "lint", "-o", "json", "-f", seedsDir)
		fromStore := e.ctl(t, "", "policy", "lint", "-o", "json")
		if fromFiles.code != 0 || fromStore.code != 0 {
			t.Fatalf("exit %d with -f, %d from the datastore: %s", fromFiles.code, fromStore.code, fromStore.stderr)
		}
		if fromStore.stdout != fromFiles.stdout {
			t.Errorf("from the datastore:\n%s\nfrom the files:\n%s", fromStore.stdout, fromFiles.stdout)
		}
	})
	t.Run("the datastore against the files it was applied from changes nothing", func(t *testing.T) {
		r := e.ctl(t, "", "policy", "diff", "--from", "datastore", "--to", seedsDir, "--protocols", "TCP", "-o", "json")
		if r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		rep := diffReport(t, r.stdout)
		if rep.Flows == 0 || len(rep.Changes) != 0 || len(rep.OnlyFrom)+len(rep.OnlyTo) != 0 {
			t.Errorf("compared %d flows, %d changes, endpoints of one side %v %v; want flows and no change",
				rep.Flows, len(rep.Changes), rep.OnlyFrom, rep.OnlyTo)
		}
	})
}

func TestPolicyDiffTextGroupsTheClassesOfAPair(t *testing.T) {
	to := demoWith(t, []string{"20-y-default-deny.yaml"}, nil)
	r := mustRun(t, "policy", "diff", "--from", demoDir, "--to", to)
	want := "  x/a -> y/b TCP 1-79, TCP 80, TCP 81-65535, UDP 1-79, UDP 80, UDP 81-65535, SCTP 1-79, SCTP 80, SCTP 81-65535, ICMP: Deny -> Allow\n" +
		"    from: ingress: end of tier default (NetworkPolicy y/knp.default.default-deny applied, none allowed or passed)\n" +
		"    to:   egress: profile kns.x rule 0 (Allow); ingress: profile kns.y rule 0 (Allow)\n"
	if !strings.Contains(r.stdout, want) {
		t.Errorf("output lacks\n%s\nin:\n%s", want, r.stdout)
	}
	if n := strings.Count(r.stdout, ": Deny -> Allow\n"); n != 10 {
		t.Errorf("%d grouped lines, want one per pair (10):\n%s", n, r.stdout)
	}
}
