package analysis

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	v3 "github.com/tabby-project/tabby/api/v3"
)

// diffModel loads testdata/diff/endpoints.yaml with the named fixtures.
func diffModel(t *testing.T, names ...string) *Model {
	t.Helper()
	var files []File
	for _, n := range append([]string{"endpoints"}, names...) {
		p := filepath.Join("testdata", "diff", n+".yaml")
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, File{Name: p, Data: data})
	}
	return mustLoad(t, files...)
}

// changes builds the expected changes of one kind from one source to one
// destination, one per class.
func changes(from, to, kind string, classes ...FlowClass) []FlowChange {
	before, after := v3.Allow, v3.Deny
	switch kind {
	case ChangeNowAllowed:
		before, after = v3.Deny, v3.Allow
	case ChangeDecider:
		after = v3.Allow
	}
	var out []FlowChange
	for _, c := range classes {
		out = append(out, FlowChange{From: from, To: to, Class: c, Change: kind,
			Before: Decision{Verdict: before}, After: Decision{Verdict: after}})
	}
	return out
}

func tcp(ports string, port int) FlowClass {
	return FlowClass{Protocol: "TCP", Ports: ports, Port: port}
}

func TestDiff(t *testing.T) {
	// The classes of base.yaml with lockdown.yaml: 5432 and 8080 (the
	// named port http of web) split the TCP ports in five.
	below5432, at5432, between, at8080, above8080 := tcp("1-5431", 1), tcp("5432", 5432), tcp("5433-8079", 5433), tcp("8080", 8080), tcp("8081-65535", 8081)
	lockdownClasses := []FlowClass{below5432, at5432, between, at8080, above8080}
	icmp := FlowClass{Protocol: "ICMP"}
	tests := []struct {
		name        string
		from, to    []string
		opts        DiffOptions
		wantClasses []FlowClass
		wantFlows   int
		want        []FlowChange
		wantStaged  []FlowChange
		wantOnly    [2][]string
	}{
		{
			name: "a policy admitting only client on web's http port turns every other flow to web from allowed to denied",
			from: []string{"base"}, to: []string{"base", "lockdown"},
			opts:        DiffOptions{Protocols: []string{"TCP"}},
			wantClasses: lockdownClasses,
			wantFlows:   30,
			want: concat(
				changes("shop/client", "shop/web", ChangeNowDenied, below5432, at5432, between, above8080),
				changes("shop/db", "shop/web", ChangeNowDenied, lockdownClasses...),
			),
		},
		{
			name: "removing that policy turns the same flows from denied to allowed",
			from: []string{"base", "lockdown"}, to: []string{"base"},
			opts:        DiffOptions{Protocols: []string{"TCP"}},
			wantClasses: lockdownClasses,
			wantFlows:   30,
			want: concat(
				changes("shop/client", "shop/web", ChangeNowAllowed, below5432, at5432, between, above8080),
				changes("shop/db", "shop/web", ChangeNowAllowed, lockdownClasses...),
			),
		},
		{
			name: "a policy allowing what the profile allowed changes no verdict and is not reported",
			from: []string{"base"}, to: []string{"base", "open-web"},
			opts:        DiffOptions{Protocols: []string{"TCP"}},
			wantClasses: []FlowClass{below5432, at5432, tcp("5433-65535", 5433)},
			wantFlows:   18,
		},
		{
			name: "with All the same verdict decided by another policy is reported as a decider change",
			from: []string{"base"}, to: []string{"base", "open-web"},
			opts:        DiffOptions{Protocols: []string{"TCP"}, All: true},
			wantClasses: []FlowClass{below5432, at5432, tcp("5433-65535", 5433)},
			wantFlows:   18,
			want: concat(
				changes("shop/client", "shop/web", ChangeDecider, below5432, at5432, tcp("5433-65535", 5433)),
				changes("shop/db", "shop/web", ChangeDecider, below5432, at5432, tcp("5433-65535", 5433)),
			),
		},
		{
			name: "a staged policy changes no enforced verdict but its would-be denials are listed for the to side",
			from: []string{"base"}, to: []string{"base", "staged-lockdown"},
			opts:        DiffOptions{Protocols: []string{"TCP"}},
			wantClasses: lockdownClasses,
			wantFlows:   30,
			wantStaged: concat(
				changes("shop/client", "shop/web", ChangeNowDenied, below5432, at5432, between, above8080),
				changes("shop/db", "shop/web", ChangeNowDenied, lockdownClasses...),
			),
		},
		{
			name: "explicit ports replace the port classes and ICMP is one class",
			from: []string{"base"}, to: []string{"base", "lockdown"},
			opts:        DiffOptions{Ports: []int{8080}, Protocols: []string{"TCP", "ICMP"}},
			wantClasses: []FlowClass{tcp("8080", 8080), icmp},
			wantFlows:   12,
			want: concat(
				changes("shop/client", "shop/web", ChangeNowDenied, icmp),
				changes("shop/db", "shop/web", ChangeNowDenied, tcp("8080", 8080), icmp),
			),
		},
		{
			name: "endpoints of one side only are named and not compared",
			from: []string{"base", "extra"}, to: []string{"base"},
			opts:        DiffOptions{Protocols: []string{"ICMP"}},
			wantClasses: []FlowClass{icmp},
			wantFlows:   6,
			wantOnly:    [2][]string{{"shop/extra"}, nil},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rep, err := Diff(context.Background(), diffModel(t, tt.from...), diffModel(t, tt.to...), tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			opts := []cmp.Option{cmpopts.IgnoreFields(Decision{}, "DecidedBy"), cmpopts.EquateEmpty()}
			if diff := cmp.Diff(tt.wantClasses, rep.Classes); diff != "" {
				t.Errorf("classes (-want +got):\n%s", diff)
			}
			if rep.Flows != tt.wantFlows {
				t.Errorf("compared %d flows, want %d", rep.Flows, tt.wantFlows)
			}
			if diff := cmp.Diff(tt.want, rep.Changes, opts...); diff != "" {
				t.Errorf("changes (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantStaged, rep.Staged, opts...); diff != "" {
				t.Errorf("staged changes (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantOnly, [2][]string{rep.OnlyFrom, rep.OnlyTo}, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("endpoints of one side (-want +got):\n%s", diff)
			}
			for _, c := range slices.Concat(rep.Changes, rep.Staged) {
				if c.Before.DecidedBy == "" || c.After.DecidedBy == "" {
					t.Errorf("change %+v does not say what decided it", c)
				}
			}
		})
	}
}

func concat(lists ...[]FlowChange) []FlowChange {
	var out []FlowChange
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

func TestDiffNamesTheDecidingRules(t *testing.T) {
	rep, err := Diff(context.Background(), diffModel(t, "base"), diffModel(t, "base", "lockdown"),
		DiffOptions{Ports: []int{5432}, Protocols: []string{"TCP"}})
	if err != nil {
		t.Fatal(err)
	}
	want := []FlowChange{
		{From: "shop/client", To: "shop/web", Class: tcp("5432", 5432), Change: ChangeNowDenied,
			Before: Decision{Verdict: v3.Allow, DecidedBy: "egress: profile kns.shop rule 0 (Allow); ingress: profile kns.shop rule 0 (Allow)"},
			After:  Decision{Verdict: v3.Deny, DecidedBy: "ingress: end of tier default (NetworkPolicy shop/web-lockdown applied, none allowed or passed)"}},
		{From: "shop/db", To: "shop/web", Class: tcp("5432", 5432), Change: ChangeNowDenied,
			Before: Decision{Verdict: v3.Allow, DecidedBy: "egress: profile kns.shop rule 0 (Allow); ingress: profile kns.shop rule 0 (Allow)"},
			After:  Decision{Verdict: v3.Deny, DecidedBy: "ingress: end of tier default (NetworkPolicy shop/web-lockdown applied, none allowed or passed)"}},
	}
	if diff := cmp.Diff(want, rep.Changes); diff != "" {
		t.Errorf("changes (-want +got):\n%s", diff)
	}
	var b strings.Builder
	rep.Format(&b)
	for _, s := range []string{"2 flow(s) change:", "shop/db -> shop/web TCP 5432: Allow -> Deny", "end of tier default"} {
		if !strings.Contains(b.String(), s) {
			t.Errorf("text output lacks %q:\n%s", s, b.String())
		}
	}
}

func TestDiffRefusesBadPorts(t *testing.T) {
	m := diffModel(t, "base")
	if _, err := Diff(context.Background(), m, m, DiffOptions{Ports: []int{70000}}); err == nil {
		t.Error("Diff accepted port 70000")
	}
	if _, err := Diff(context.Background(), m, m, DiffOptions{Protocols: []string{"carrier-pigeon"}}); err == nil {
		t.Error("Diff accepted an unknown protocol")
	}
}
