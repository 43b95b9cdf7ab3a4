package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	networkingv1 "k8s.io/api/networking/v1"

	v3 "github.com/tabby-project/tabby/api/v3"
	"github.com/tabby-project/tabby/k8s"
)

const k8sExamplesDir = "../../examples/k8s"

// calicoForm is what Calico's calicoctl convert prints for the Kubernetes
// policies of a file: Calico's conversion (package k8s) under the
// Kubernetes name.
func calicoForm(t *testing.T, file string) []v3.Object {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var out []v3.Object
	for _, doc := range k8s.SplitYAML(data) {
		kobjs, ok, err := k8s.DecodeKubernetes(doc)
		if err != nil || !ok {
			t.Fatalf("%s: not a Kubernetes document: %v", file, err)
		}
		for _, ko := range kobjs {
			pol, _, err := k8s.NetworkPolicy(ko.(*networkingv1.NetworkPolicy))
			if err != nil {
				t.Fatal(err)
			}
			pol.Name = strings.TrimPrefix(pol.Name, "knp.default.")
			out = append(out, pol)
		}
	}
	return out
}

func TestConvertKubernetesExamples(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(k8sExamplesDir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples in %s: %v", k8sExamplesDir, err)
	}
	for _, file := range files {
		want := calicoForm(t, file)
		for _, format := range []string{"yaml", "json"} {
			t.Run(filepath.Base(file)+" as "+format+" decodes as the Calico policy Calico makes of it, under its Kubernetes name", func(t *testing.T) {
				r := mustRun(t, "convert", "-f", file, "-o", format)
				got, err := v3.Decode([]byte(r.stdout))
				if err != nil {
					t.Fatalf("the output does not decode: %v\n%s", err, r.stdout)
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("converted policy (-want +got):\n%s", diff)
				}
				for _, o := range got {
					if err := v3.Validate(o); err != nil {
						t.Errorf("the converted policy does not validate: %v", err)
					}
				}
			})
		}
	}
	t.Run("several policies print as one NetworkPolicyList, in input order", func(t *testing.T) {
		r := mustRun(t, "convert", "-f", k8sExamplesDir)
		if !strings.Contains(r.stdout, "kind: NetworkPolicyList\n") {
			t.Errorf("the output is not a NetworkPolicyList:\n%s", r.stdout)
		}
		got, err := v3.Decode([]byte(r.stdout))
		if err != nil {
			t.Fatal(err)
		}
		var want []v3.Object
		for _, f := range files {
			want = append(want, calicoForm(t, f)...)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("converted policies (-want +got):\n%s", diff)
		}
	})
	t.Run("a policy is read from standard input", func(t *testing.T) {
		data, err := os.ReadFile(files[0])
		if err != nil {
			t.Fatal(err)
		}
		r := runPolicyCLI(string(data), "convert", "-f", "-")
		got, err := v3.Decode([]byte(r.stdout))
		if r.code != 0 || err != nil || !cmp.Equal(calicoForm(t, files[0]), got) {
			t.Errorf("exit %d, decode error %v, output:\n%s", r.code, err, r.stdout)
		}
	})
}

func TestConvertProblems(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	policy := "kind: NetworkPolicy\napiVersion: networking.k8s.io/v1\nmetadata: {name: p, namespace: prod}\nspec:\n  podSelector: {}\n"
	mixed := write("mixed.yaml", policy+"---\napiVersion: v1\nkind: Pod\nmetadata: {name: q}\n---\napiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {name: t}\n")
	egressOnly := write("egress.yaml", "kind: NetworkPolicy\napiVersion: networking.k8s.io/v1\nmetadata: {name: e, namespace: prod}\nspec:\n  podSelector: {}\n  policyTypes: [Ingress]\n  egress:\n  - {}\n")
	tests := []struct {
		name       string
		args       []string
		code       int
		wantStdout bool
		wantStderr []string
	}{
		{
			name: "every document that is not a Kubernetes NetworkPolicy is a problem naming it, and nothing is printed",
			args: []string{"convert", "-f", mixed},
			code: 1,
			wantStderr: []string{
				mixed + ": document 2: conversion for the Kubernetes resource type 'Pod' is not supported: calicoctl convert converts NetworkPolicy only\n",
				mixed + ": document 3 (Tier t): already a projectcalico.org/v3 resource: there is nothing to convert\n",
				"Conversion failed: 2 problem(s) in 1 file(s)\n",
			},
		},
		{
			name:       "Calico's old v1 API is refused with the reason",
			args:       []string{"convert", "-f", "../../examples/invalid/seed-003-v1-api.yaml"},
			code:       1,
			wantStderr: []string{"document 1 (policy advanced-policy-demo.deny-egress): apiVersion: \"v1\" with kind \"policy\" is Calico's old v1 API"},
		},
		{
			name:       "egress rules a policy's types leave out are converted with a warning",
			args:       []string{"convert", "-f", egressOnly},
			code:       0,
			wantStdout: true,
			wantStderr: []string{"Warning: " + egressOnly + ": document 1: NetworkPolicy prod/e has egress rules but its policyTypes do not include Egress"},
		},
		{
			name:       "an output format other than yaml or json is refused",
			args:       []string{"convert", "-f", egressOnly, "-o", "wide"},
			code:       1,
			wantStderr: []string{"unrecognized output format 'wide'"},
		},
		{
			name:       "-f is required",
			args:       []string{"convert"},
			code:       1,
			wantStderr: []string{`required flag(s) "filename" not set`},
		},
		{
			name:       "--ignore-validation and --allow-version-mismatch are accepted",
			args:       []string{"convert", "-f", egressOnly, "--ignore-validation", "--allow-version-mismatch"},
			code:       0,
			wantStdout: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runPolicyCLI("", tt.args...)
			if r.code != tt.code || (r.stdout != "") != tt.wantStdout {
				t.Errorf("exit %d, stdout %q; want exit %d and output %v", r.code, r.stdout, tt.code, tt.wantStdout)
			}
			for _, want := range tt.wantStderr {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
				}
			}
		})
	}
}
