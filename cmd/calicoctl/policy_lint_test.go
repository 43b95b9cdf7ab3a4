package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const lintFixtures = "../../analysis/testdata/lint/"

// lintLine is a finding without its message.
type lintLine struct {
	Severity, Check, Resource, Field string
}

func lintFindings(t *testing.T, stdout string) []lintLine {
	t.Helper()
	var rep struct {
		Findings []lintLine `json:"findings"`
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("lint output is not JSON: %v\n%s", err, stdout)
	}
	return rep.Findings
}

// allowAllFirst is the finding for a rule of a default-tier policy that
// allow-cluster-internal-ingress (order 10, every endpoint, ingress Allow
// with no condition) decides before it.
func allowAllFirst(check, resource string) lintLine {
	return lintLine{"warning", check, resource, "spec.ingress[0]"}
}

func TestPolicyLintOnExamples(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantCode int
		want     []lintLine
	}{
		{
			// The demo's only oddity is y's Kubernetes default deny: a
			// policy for ingress without ingress rules, as meant.
			name: "the demo has one warning, its default deny, and passes at the default severity",
			args: []string{"-f", demoDir},
			want: []lintLine{{"warning", "direction-without-rules", "NetworkPolicy y/knp.default.default-deny", "spec.types"}},
		},
		{
			name:     "the demo fails at --fail-on warning",
			args:     []string{"-f", demoDir, "--fail-on", "warning"},
			wantCode: lintFindingsExit,
			want:     []lintLine{{"warning", "direction-without-rules", "NetworkPolicy y/knp.default.default-deny", "spec.types"}},
		},
		{
			// The seeds gather Calico's documentation examples in one
			// default tier, so allow-cluster-internal-ingress (order 10,
			// all(), Allow everything in) comes before every other
			// ingress rule of the tier and decides first; the Kubernetes
			// style default-app-policy and the empty allow-tcp-port-6379
			// govern ingress with no ingress rule; the HTTP example needs
			// the proxy.
			name: "the seeds' findings are the shadows of the allow-all policy, two ruleless ingresses and an HTTP rule",
			args: []string{"-f", seedsDir, "--fail-on", "info"},
			want: []lintLine{
				allowAllFirst("shadowed-rule", "GlobalNetworkPolicy allow-tcp-80"),
				{"warning", "direction-without-rules", "GlobalNetworkPolicy allow-tcp-port-6379", "spec.types"},
				{"warning", "direction-without-rules", "GlobalNetworkPolicy default-app-policy", "spec.types"},
				allowAllFirst("allow-before-deny", "GlobalNetworkPolicy deny-blue"),
				allowAllFirst("allow-before-deny", "GlobalNetworkPolicy deny-circle-blue"),
				allowAllFirst("allow-before-deny", "GlobalNetworkPolicy deny-lexluthor-to-superman"),
				allowAllFirst("allow-before-deny", "GlobalNetworkPolicy deny-superman-to-lexluthor"),
				allowAllFirst("allow-before-deny", "GlobalNetworkPolicy drop-other-ingress"),
				allowAllFirst("shadowed-rule", "NetworkPolicy production/allow-http-example"),
				allowAllFirst("shadowed-rule", "NetworkPolicy production/allow-ports-example"),
				allowAllFirst("shadowed-rule", "NetworkPolicy production/allow-tcp-6379"),
				{"info", "http-rule-needs-proxy", "NetworkPolicy production/allow-http-example", "spec.ingress[0].http"},
			},
			wantCode: lintFindingsExit,
		},
		{
			name:     "a Log-only tier is an error and fails the default severity",
			args:     []string{"-f", lintFixtures + "endpoints.yaml", "-f", lintFixtures + "log-only-tier.yaml"},
			wantCode: lintFindingsExit,
			want:     []lintLine{{"error", "log-or-pass-only-tier", "Tier audit", "spec.defaultAction"}},
		},
		{
			name: "--fail-on none never fails",
			args: []string{"-f", lintFixtures + "endpoints.yaml", "-f", lintFixtures + "log-only-tier.yaml", "--fail-on", "none"},
			want: []lintLine{{"error", "log-or-pass-only-tier", "Tier audit", "spec.defaultAction"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runPolicyCLI("", append([]string{"policy", "lint", "-o", "json"}, tt.args...)...)
			if r.code != tt.wantCode {
				t.Fatalf("exit %d, want %d; stderr:\n%s", r.code, tt.wantCode, r.stderr)
			}
			if diff := cmp.Diff(tt.want, lintFindings(t, r.stdout)); diff != "" {
				t.Errorf("findings (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPolicyLintText(t *testing.T) {
	r := runPolicyCLI("", "policy", "lint", "-f", demoDir)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	for _, s := range []string{"warning NetworkPolicy y/knp.default.default-deny spec.types:", "[direction-without-rules]", "0 error(s), 1 warning(s), 0 info"} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("output lacks %q:\n%s", s, r.stdout)
		}
	}
}

func TestPolicyLintRefusesBadFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"an unknown severity is refused", []string{"--fail-on", "fatal"}, "unknown severity"},
		{"an unknown output format is refused", []string{"-o", "yaml"}, "unrecognized output format"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runPolicyCLI("", append([]string{"policy", "lint", "-f", demoDir}, tt.args...)...)
			if r.code != 1 || !strings.Contains(r.stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want 1 and %q", r.code, r.stderr, tt.want)
			}
		})
	}
}
