package analysis

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	v3 "github.com/tabby-project/tabby/api/v3"
	"github.com/tabby-project/tabby/engine"
)

// lintModel loads testdata/lint/<name>.yaml, with the shared endpoints
// unless bare.
func lintModel(t *testing.T, name string, bare bool) *Model {
	t.Helper()
	var files []File
	names := []string{name + ".yaml"}
	if !bare {
		names = append([]string{"endpoints.yaml"}, names...)
	}
	for _, n := range names {
		p := filepath.Join("testdata", "lint", n)
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, File{Name: p, Data: data})
	}
	return mustLoad(t, files...)
}

func TestLint(t *testing.T) {
	tests := []struct {
		name    string
		fixture string
		bare    bool
		want    []Finding
	}{
		{
			name:    "a policy that selects no endpoint is a warning and a rule selector that matches nothing is info",
			fixture: "no-endpoint",
			want: []Finding{
				{Severity: Warning, Check: CheckNoEndpoint, Resource: "GlobalNetworkPolicy ghost", Field: "spec.selector"},
				{Severity: Info, Check: CheckNoEndpoint, Resource: "NetworkPolicy shop/db-from-nobody", Field: "spec.ingress[0].source.selector"},
			},
		},
		{
			name:    "without endpoints the selector checks are skipped",
			fixture: "no-endpoint",
			bare:    true,
			want:    nil,
		},
		{
			name:    "a rule inside an earlier rule of the same policy is shadowed, one of another protocol is not",
			fixture: "shadowed-in-policy",
			want: []Finding{
				{Severity: Warning, Check: CheckShadowedRule, Resource: "NetworkPolicy shop/db", Field: "spec.ingress[1]"},
			},
		},
		{
			name:    "a rule inside a rule of an earlier policy of the tier that selects every endpoint it selects is shadowed",
			fixture: "shadowed-by-policy",
			want: []Finding{
				{Severity: Warning, Check: CheckShadowedRule, Resource: "NetworkPolicy shop/db-deny", Field: "spec.ingress[0]"},
			},
		},
		{
			name:    "a Deny inside an earlier Allow or overlapping a broader one is reported, a Deny containing the Allow or disjoint from it is not",
			fixture: "allow-before-deny",
			want: []Finding{
				{Severity: Warning, Check: CheckAllowBeforeDeny, Resource: "NetworkPolicy shop/db", Field: "spec.ingress[1]"},
				{Severity: Warning, Check: CheckAllowBeforeDeny, Resource: "NetworkPolicy shop/web", Field: "spec.ingress[1]"},
			},
		},
		{
			name:    "a tier whose policies only Log ends in the implicit deny, an error",
			fixture: "log-only-tier",
			want: []Finding{
				{Severity: Error, Check: CheckPassOnlyTier, Resource: "Tier audit", Field: "spec.defaultAction"},
			},
		},
		{
			name:    "a tier whose policies Pass only some traffic is a warning, unless it passes all or defaults to Pass",
			fixture: "pass-only-tier",
			want: []Finding{
				{Severity: Warning, Check: CheckPassOnlyTier, Resource: "Tier gate", Field: "spec.defaultAction"},
			},
		},
		{
			name:    "a named port no endpoint declares is a warning",
			fixture: "named-port",
			want: []Finding{
				{Severity: Warning, Check: CheckUnknownNamedPort, Resource: "NetworkPolicy shop/web", Field: "spec.ingress[0].destination.ports"},
			},
		},
		{
			name:    "a governed direction without rules and rules for an ungoverned direction are warnings",
			fixture: "directions",
			want: []Finding{
				{Severity: Warning, Check: CheckDirectionWithoutRules, Resource: "NetworkPolicy shop/deny-egress", Field: "spec.types"},
				{Severity: Warning, Check: CheckRulesWithoutDirection, Resource: "NetworkPolicy shop/stray-egress", Field: "spec.egress"},
			},
		},
		{
			name:    "an HTTP rule needs the proxy, which is info",
			fixture: "http",
			want: []Finding{
				{Severity: Info, Check: CheckHTTPRule, Resource: "NetworkPolicy shop/web-get", Field: "spec.ingress[0].http"},
			},
		},
		{
			name:    "staged policies neither shadow enforced rules nor make a tier deny",
			fixture: "staged",
			want:    nil,
		},
		{
			name:    "policies without mistakes give no finding",
			fixture: "clean",
			want:    nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := lintModel(t, tt.fixture, tt.bare).Lint()
			for _, f := range got.Findings {
				if f.Message == "" {
					t.Errorf("finding %s %s %s has no message", f.Check, f.Resource, f.Field)
				}
			}
			if diff := cmp.Diff(tt.want, got.Findings, cmpopts.IgnoreFields(Finding{}, "Message"), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("findings (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLintReportCount(t *testing.T) {
	rep := &LintReport{Findings: []Finding{{Severity: Error}, {Severity: Warning}, {Severity: Warning}, {Severity: Info}}}
	tests := []struct {
		name string
		at   Severity
		want int
	}{
		{"counting from info counts every finding", Info, 4},
		{"counting from warning leaves out info", Warning, 3},
		{"counting from error counts errors only", Error, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := rep.Count(tt.at); got != tt.want {
				t.Errorf("Count(%s) = %d, want %d", tt.at, got, tt.want)
			}
		})
	}
}

func TestParseSeverity(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Severity
		wantErr bool
	}{
		{"info is the lowest severity", "info", Info, false},
		{"case does not matter", "Warning", Warning, false},
		{"error is the highest severity", "ERROR", Error, false},
		{"an unknown word is refused", "fatal", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseSeverity(tt.in)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("ParseSeverity(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestSameOrWider(t *testing.T) {
	pfx := func(s string) []netip.Prefix { return []netip.Prefix{netip.MustParsePrefix(s)} }
	ports := func(lo, hi int) []engine.PortRange { return []engine.PortRange{{Min: lo, Max: hi}} }
	tests := []struct {
		name string
		a, b engine.Rule
		want bool
	}{
		{"a rule with no condition contains any rule", engine.Rule{}, engine.Rule{Protocol: 6, Destination: engine.Entity{Ports: ports(80, 80)}}, true},
		{"a rule of one protocol does not contain one of another", engine.Rule{Protocol: 6}, engine.Rule{Protocol: 17}, false},
		{"a rule of one protocol does not contain one of any protocol", engine.Rule{Protocol: 6}, engine.Rule{}, false},
		{"a port range contains a port inside it", engine.Rule{Destination: engine.Entity{Ports: ports(1, 1024)}}, engine.Rule{Destination: engine.Entity{Ports: ports(80, 80)}}, true},
		{"a port range does not contain a range crossing its end", engine.Rule{Destination: engine.Entity{Ports: ports(1, 1024)}}, engine.Rule{Destination: engine.Entity{Ports: ports(1000, 2000)}}, false},
		{"a rule with ports does not contain one without", engine.Rule{Destination: engine.Entity{Ports: ports(1, 65535)}}, engine.Rule{}, false},
		{"a net contains a smaller net inside it", engine.Rule{Source: engine.Entity{Nets: pfx("10.0.0.0/8")}}, engine.Rule{Source: engine.Entity{Nets: pfx("10.1.0.0/16")}}, true},
		{"a net does not contain a larger one", engine.Rule{Source: engine.Entity{Nets: pfx("10.1.0.0/16")}}, engine.Rule{Source: engine.Entity{Nets: pfx("10.0.0.0/8")}}, false},
		{"excluding a net contains a rule excluding a larger one", engine.Rule{Source: engine.Entity{NotNets: pfx("10.1.0.0/16")}}, engine.Rule{Source: engine.Entity{NotNets: pfx("10.0.0.0/8")}}, true},
		{"excluding a net does not contain a rule excluding nothing", engine.Rule{Source: engine.Entity{NotNets: pfx("10.0.0.0/8")}}, engine.Rule{}, false},
		{"a selector contains only the same selector", engine.Rule{Source: engine.Entity{Selector: "app == \"a\""}}, engine.Rule{Source: engine.Entity{Selector: "app == \"b\""}}, false},
		{"an ICMP type contains each of its codes", engine.Rule{Protocol: 1, ICMP: &engine.ICMPMatch{Type: 8, Code: -1}}, engine.Rule{Protocol: 1, ICMP: &engine.ICMPMatch{Type: 8, Code: 0}}, true},
		{"an HTTP match does not contain a rule without one", engine.Rule{HTTP: &v3.HTTPMatch{Methods: []string{"GET"}}}, engine.Rule{}, false},
		{"excluding a protocol contains a rule of another protocol", engine.Rule{NotProtocol: 17}, engine.Rule{Protocol: 6}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := sameOrWider(&tt.a, &tt.b); got != tt.want {
				t.Errorf("sameOrWider = %v, want %v", got, tt.want)
			}
		})
	}
}
