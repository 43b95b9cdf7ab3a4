package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	v3 "github.com/tabby-project/tabby/api/v3"
	"github.com/tabby-project/tabby/datastore"
)

// npYAML is a NetworkPolicy document; ns may be empty.
func npYAML(ns, name, selector string) string {
	nsLine := ""
	if ns != "" {
		nsLine = "\n  namespace: " + ns
	}
	return fmt.Sprintf(`apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata:
  name: %s%s
spec:
  selector: %s
`, name, nsLine, selector)
}

// gnpYAML is a GlobalNetworkPolicy document of tier (empty for default).
func gnpYAML(name, tier string, order int) string {
	tierLine := ""
	if tier != "" {
		tierLine = "\n  tier: " + tier
	}
	return fmt.Sprintf(`apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: %s
spec:%s
  order: %d
  selector: all()
`, name, tierLine, order)
}

func tierYAML(name string, order int) string {
	return fmt.Sprintf(`apiVersion: projectcalico.org/v3
kind: Tier
metadata:
  name: %s
spec:
  order: %d
`, name, order)
}

// docs joins YAML documents.
func docs(d ...string) string { return strings.Join(d, "---\n") }

func npKey(ns, name string) v3.Key {
	return v3.Key{Kind: v3.KindNetworkPolicy, Namespace: ns, Name: name}
}

// wantResult checks a calicoctl run's exit status and exact output.
func wantResult(t *testing.T, got ctlResult, code int, stdout, stderr string) {
	t.Helper()
	if got.code != code {
		t.Errorf("exit status %d, want %d\nstdout:\n%s\nstderr:\n%s", got.code, code, got.stdout, got.stderr)
	}
	if diff := cmp.Diff(stdout, got.stdout); diff != "" {
		t.Errorf("stdout (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(stderr, got.stderr); diff != "" {
		t.Errorf("stderr (-want +got):\n%s", diff)
	}
}

// wantExists checks which of keys exist in s.
func wantExists(t *testing.T, s datastore.Store, exist map[v3.Key]bool) {
	t.Helper()
	for k, want := range exist {
		_, err := s.Get(context.Background(), k)
		if got := err == nil; got != want {
			t.Errorf("%v exists = %v (%v), want %v", k, got, err, want)
		}
	}
}

// selectorOf returns a stored policy's selector.
func selectorOf(t *testing.T, e *dsEnv, s datastore.Store, k v3.Key) string {
	t.Helper()
	switch p := e.get(t, s, k).(type) {
	case *v3.NetworkPolicy:
		return p.Spec.Selector
	case *v3.GlobalNetworkPolicy:
		return p.Spec.Selector
	}
	t.Fatalf("%v is not a policy", k)
	return ""
}

// TestWriteCommands runs create, apply and replace against an embedded
// etcd: every flag, Calico's messages and exit statuses, and the
// all-or-prefix guarantee.
func TestWriteCommands(t *testing.T) {
	e := startDatastore(t)
	tests := []struct {
		name string
		run  func(t *testing.T, s datastore.Store, dir string)
	}{
		{"create of a file creates every resource and names their common kind", func(t *testing.T, s datastore.Store, dir string) {
			f := writeFile(t, dir, "p.yaml", docs(npYAML("", "a", "app == 'a'"), npYAML("prod", "b", "app == 'b'")))
			wantResult(t, e.ctl(t, "", "create", "-f", f), 0, "Successfully created 2 'NetworkPolicy' resource(s)\n", "")
			wantExists(t, s, map[v3.Key]bool{npKey("default", "a"): true, npKey("prod", "b"): true})
		}},
		{"create first creates the well-known tiers Calico creates", func(t *testing.T, s datastore.Store, dir string) {
			f := writeFile(t, dir, "p.yaml", npYAML("", "a", "all()"))
			e.mustCtl(t, "", "create", "-f", f)
			for _, tier := range wellKnownTiers() {
				got := e.get(t, s, v3.KeyOf(tier)).(*v3.Tier)
				if *got.Spec.Order != *tier.Spec.Order || *got.Spec.DefaultAction != *tier.Spec.DefaultAction {
					t.Errorf("tier %s = order %v action %v, want %v %v", tier.Name, *got.Spec.Order, *got.Spec.DefaultAction,
						*tier.Spec.Order, *tier.Spec.DefaultAction)
				}
			}
		}},
		{"create of a resource that exists fails with Calico's message and changes nothing", func(t *testing.T, s datastore.Store, dir string) {
			e.mustCtl(t, npYAML("", "a", "old == 'x'"), "create", "-f", "-")
			wantResult(t, e.ctl(t, npYAML("", "a", "new == 'x'"), "create", "-f", "-"), 1, "",
				"failed to create 'NetworkPolicy' resource: [resource already exists: NetworkPolicy(default/a) with error: <nil>]\n")
			if got := selectorOf(t, e, s, npKey("default", "a")); got != "old == 'x'" {
				t.Errorf("selector = %q, want the original", got)
			}
		}},
		{"create --skip-exists skips existing resources, counts them, and creates the others", func(t *testing.T, s datastore.Store, dir string) {
			e.mustCtl(t, npYAML("", "a", "old == 'x'"), "create", "-f", "-")
			in := docs(npYAML("", "a", "new == 'x'"), npYAML("", "b", "all()"))
			wantResult(t, e.ctl(t, in, "create", "-f", "-", "--skip-exists"), 0, "Successfully created 2 'NetworkPolicy' resource(s)\n", "")
			if got := selectorOf(t, e, s, npKey("default", "a")); got != "old == 'x'" {
				t.Errorf("skipped resource changed: selector %q", got)
			}
			wantExists(t, s, map[v3.Key]bool{npKey("default", "b"): true})
		}},
		{"create stops at the first resource it cannot create and says how many it created", func(t *testing.T, s datastore.Store, dir string) {
			e.mustCtl(t, npYAML("", "a", "all()"), "create", "-f", "-")
			in := docs(npYAML("", "b", "all()"), npYAML("", "a", "all()"), npYAML("", "c", "all()"))
			wantResult(t, e.ctl(t, in, "create", "-f", "-"), 1,
				"Partial success: created the first 1 out of 3 'NetworkPolicy' resources:\n",
				"hit error: [resource already exists: NetworkPolicy(default/a) with error: <nil>]\n")
			wantExists(t, s, map[v3.Key]bool{npKey("default", "b"): true, npKey("default", "c"): false})
		}},
		{"create of a policy in a tier that does not exist fails as Calico's does", func(t *testing.T, s datastore.Store, dir string) {
			wantResult(t, e.ctl(t, gnpYAML("x", "security", 1), "create", "-f", "-"), 1, "",
				"failed to create 'GlobalNetworkPolicy' resource: [resource does not exist: Tier(security) with error: <nil>]\n")
		}},
		{"create of a tier and a policy in it from one file succeeds", func(t *testing.T, s datastore.Store, dir string) {
			wantResult(t, e.ctl(t, docs(tierYAML("security", 100), gnpYAML("x", "security", 1)), "create", "-f", "-"), 0,
				"Successfully created 2 resource(s)\n", "")
		}},
		{"create with a resourceVersion is refused as Calico's client refuses it", func(t *testing.T, s datastore.Store, dir string) {
			in := strings.Replace(npYAML("", "a", "all()"), "  name: a", "  name: a\n  resourceVersion: \"12\"", 1)
			wantResult(t, e.ctl(t, in, "create", "-f", "-"), 1, "",
				"failed to create 'NetworkPolicy' resource: [error with field Metadata.ResourceVersion = '12' (field must not be set for a Create request)]\n")
		}},
		{"create from standard input with -n puts namespaced resources in that namespace", func(t *testing.T, s datastore.Store, dir string) {
			e.mustCtl(t, npYAML("", "a", "all()"), "create", "-f", "-", "-n", "dev")
			wantExists(t, s, map[v3.Key]bool{npKey("dev", "a"): true, npKey("default", "a"): false})
		}},
		{"a resource in another namespace than -n is refused before anything is written", func(t *testing.T, s datastore.Store, dir string) {
			f := writeFile(t, dir, "p.yaml", docs(npYAML("", "a", "all()"), npYAML("prod", "b", "all()")))
			wantResult(t, e.ctl(t, "", "apply", "-f", f, "-n", "dev"), 1, "",
				f+": document 2 (NetworkPolicy prod/b): resource namespace does not match client namespace. prod != dev\n"+
					"failed to execute command: 1 problem(s) in 1 file(s); no resource was changed\n")
			if keys := e.keys(t); len(keys) != 0 {
				t.Errorf("keys written: %v", keys)
			}
		}},
		{"a namespace on a global resource is refused", func(t *testing.T, s datastore.Store, dir string) {
			in := strings.Replace(gnpYAML("g", "", 1), "  name: g", "  name: g\n  namespace: prod", 1)
			r := e.ctl(t, in, "apply", "-f", "-")
			if r.code != 1 || !strings.Contains(r.stderr, "namespace should not be specified for a non-namespaced resource. GlobalNetworkPolicy is not a namespaced resource") {
				t.Errorf("exit %d, stderr:\n%s", r.code, r.stderr)
			}
		}},
		{"a directory gives its files in order, and -R those of its subdirectories too", func(t *testing.T, s datastore.Store, dir string) {
			writeFile(t, dir, "in/b.yaml", npYAML("", "b", "all()"))
			writeFile(t, dir, "in/a.json", `{"apiVersion":"projectcalico.org/v3","kind":"NetworkPolicy","metadata":{"name":"a"},"spec":{"selector":"all()"}}`)
			writeFile(t, dir, "in/notes.txt", "not a resource")
			writeFile(t, dir, "in/sub/c.yml", npYAML("", "c", "all()"))
			wantResult(t, e.ctl(t, "", "apply", "-f", filepath.Join(dir, "in")), 0, "Successfully applied 2 'NetworkPolicy' resource(s)\n", "")
			wantExists(t, s, map[v3.Key]bool{npKey("default", "a"): true, npKey("default", "b"): true, npKey("default", "c"): false})
			wantResult(t, e.ctl(t, "", "apply", "-f", filepath.Join(dir, "in"), "-R"), 0, "Successfully applied 3 'NetworkPolicy' resource(s)\n", "")
			wantExists(t, s, map[v3.Key]bool{npKey("default", "c"): true})
		}},
		{"an invalid file changes nothing and lists every problem of every document", func(t *testing.T, s datastore.Store, dir string) {
			f := writeFile(t, dir, "bad.yaml", docs(
				npYAML("", "good", "all()"),
				npYAML("", "bad-selector", "app =="),
				gnpYAML("Bad_Name", "", 1),
				strings.Replace(npYAML("", "typo", "all()"), "  selector:", "  selectr:", 1)))
			r := e.ctl(t, "", "apply", "-f", f)
			if r.code != 1 || r.stdout != "" {
				t.Errorf("exit %d, stdout %q", r.code, r.stdout)
			}
			lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
			wantPrefixes := []string{
				f + ": document 2 (NetworkPolicy default/bad-selector): spec.selector: ",
				f + ": document 3 (GlobalNetworkPolicy Bad_Name): metadata.name: ",
				f + ": document 4 (NetworkPolicy typo): spec.selectr: ",
				"failed to execute command: 3 problem(s) in 1 file(s); no resource was changed",
			}
			if len(lines) != len(wantPrefixes) {
				t.Fatalf("stderr has %d lines, want %d:\n%s", len(lines), len(wantPrefixes), r.stderr)
			}
			for i, p := range wantPrefixes {
				if !strings.HasPrefix(lines[i], p) {
					t.Errorf("line %d = %q, want prefix %q", i+1, lines[i], p)
				}
			}
			if keys := e.keys(t); len(keys) != 0 {
				t.Errorf("keys written: %v", keys)
			}
		}},
		{"an empty file is an error unless --skip-empty", func(t *testing.T, s datastore.Store, dir string) {
			f := writeFile(t, dir, "empty.yaml", "# nothing\n")
			wantResult(t, e.ctl(t, "", "apply", "-f", f), 1, "", "No resources specified in file "+f+"\n")
			wantResult(t, e.ctl(t, "", "apply", "-f", f, "--skip-empty"), 0, "No resources specified\n", "")
		}},
		{"a missing file is an error", func(t *testing.T, s datastore.Store, dir string) {
			f := filepath.Join(dir, "missing.yaml")
			wantResult(t, e.ctl(t, "", "create", "-f", f), 1, "",
				fmt.Sprintf("failed to execute command: file or directory %q does not exist\n", f))
		}},
		{"a NetworkPolicy named as a Kubernetes one is refused", func(t *testing.T, s datastore.Store, dir string) {
			r := e.ctl(t, npYAML("", "knp.default.web", "all()"), "create", "-f", "-")
			want := "operation create or apply is not supported on NetworkPolicy(default/knp.default.web): kubernetes network policies must be managed through the kubernetes API"
			if r.code != 1 || !strings.Contains(r.stderr, want) {
				t.Errorf("exit %d, stderr:\n%s\nwant %q", r.code, r.stderr, want)
			}
		}},
		{"apply creates, then replaces keeping uid and creationTimestamp", func(t *testing.T, s datastore.Store, dir string) {
			wantResult(t, e.ctl(t, npYAML("", "a", "v == '1'"), "apply", "-f", "-"), 0, "Successfully applied 1 'NetworkPolicy' resource(s)\n", "")
			first := e.get(t, s, npKey("default", "a"))
			wantResult(t, e.ctl(t, npYAML("", "a", "v == '2'"), "apply", "-f", "-"), 0, "Successfully applied 1 'NetworkPolicy' resource(s)\n", "")
			second := e.get(t, s, npKey("default", "a"))
			fc, sc := first.GetCreationTimestamp(), second.GetCreationTimestamp()
			if second.GetUID() != first.GetUID() || !sc.Equal(&fc) {
				t.Errorf("uid/creationTimestamp changed: %s %v -> %s %v", first.GetUID(), first.GetCreationTimestamp(), second.GetUID(), second.GetCreationTimestamp())
			}
			if got := second.(*v3.NetworkPolicy).Spec.Selector; got != "v == '2'" {
				t.Errorf("selector = %q", got)
			}
		}},
		{"apply of several kinds names no kind in its message", func(t *testing.T, s datastore.Store, dir string) {
			wantResult(t, e.ctl(t, docs(npYAML("", "a", "all()"), gnpYAML("g", "", 1), tierYAML("t", 5)), "apply", "-f", "-"), 0,
				"Successfully applied 3 resource(s)\n", "")
		}},
		{"apply keeps stored labels the file does not mention, as Calico's does", func(t *testing.T, s datastore.Store, dir string) {
			e.mustCtl(t, npYAML("", "a", "all()"), "apply", "-f", "-")
			e.mustCtl(t, "", "label", "np", "a", "team=blue")
			e.mustCtl(t, npYAML("", "a", "all()"), "apply", "-f", "-")
			if got := e.get(t, s, npKey("default", "a")).GetLabels()["team"]; got != "blue" {
				t.Errorf("label team = %q after apply, want it kept", got)
			}
		}},
		{"apply with a stale resourceVersion fails with an update conflict and changes nothing", func(t *testing.T, s datastore.Store, dir string) {
			e.mustCtl(t, npYAML("", "a", "v == '1'"), "apply", "-f", "-")
			f := writeFile(t, dir, "a.yaml", e.mustCtl(t, "", "get", "np", "a", "-o", "yaml"))
			e.mustCtl(t, npYAML("", "a", "v == '2'"), "apply", "-f", "-")
			edited := strings.Replace(readFile(t, f), "v == '1'", "v == '3'", 1)
			wantResult(t, e.ctl(t, edited, "apply", "-f", "-"), 1, "",
				"failed to apply 'NetworkPolicy' resource: [update conflict: NetworkPolicy(default/a)]\n")
			if got := selectorOf(t, e, s, npKey("default", "a")); got != "v == '2'" {
				t.Errorf("selector = %q, want the second apply's", got)
			}
		}},
		{"apply with the current resourceVersion succeeds", func(t *testing.T, s datastore.Store, dir string) {
			e.mustCtl(t, npYAML("", "a", "v == '1'"), "apply", "-f", "-")
			current := e.mustCtl(t, "", "get", "np", "a", "-o", "yaml")
			e.mustCtl(t, strings.Replace(current, "v == '1'", "v == '3'", 1), "apply", "-f", "-")
			if got := selectorOf(t, e, s, npKey("default", "a")); got != "v == '3'" {
				t.Errorf("selector = %q", got)
			}
		}},
		{"apply refuses to change the static default-allow profile", func(t *testing.T, s datastore.Store, dir string) {
			in := "apiVersion: projectcalico.org/v3\nkind: Profile\nmetadata:\n  name: projectcalico-default-allow\nspec: {}\n"
			wantResult(t, e.ctl(t, in, "apply", "-f", "-"), 1, "",
				"failed to apply 'Profile' resource: [operation apply is not supported on Profile(projectcalico-default-allow): "+
					"the profile is built into the datastore and cannot be changed]\n")
		}},
		{"apply stops at a policy whose tier is missing, after writing the ones before it", func(t *testing.T, s datastore.Store, dir string) {
			in := docs(gnpYAML("first", "", 1), gnpYAML("orphan", "nowhere", 2), gnpYAML("last", "", 3))
			wantResult(t, e.ctl(t, in, "apply", "-f", "-"), 1,
				"Partial success: applied the first 1 out of 3 'GlobalNetworkPolicy' resources:\n",
				"hit error: [resource does not exist: Tier(nowhere) with error: <nil>]\n")
			g := func(n string) v3.Key { return v3.Key{Kind: v3.KindGlobalNetworkPolicy, Name: n} }
			wantExists(t, s, map[v3.Key]bool{g("first"): true, g("orphan"): false, g("last"): false})
		}},
		{"apply of one resource twice in a file applies both in order", func(t *testing.T, s datastore.Store, dir string) {
			wantResult(t, e.ctl(t, docs(npYAML("", "a", "v == '1'"), npYAML("", "a", "v == '2'")), "apply", "-f", "-"), 0,
				"Successfully applied 2 'NetworkPolicy' resource(s)\n", "")
			if got := selectorOf(t, e, s, npKey("default", "a")); got != "v == '2'" {
				t.Errorf("selector = %q, want the last document's", got)
			}
		}},
		{"replace of a missing resource fails with resource does not exist", func(t *testing.T, s datastore.Store, dir string) {
			wantResult(t, e.ctl(t, npYAML("", "a", "all()"), "replace", "-f", "-"), 1, "",
				"failed to replace 'NetworkPolicy' resource: resource does not exist: NetworkPolicy(default/a) with error: <nil>\n")
		}},
		{"replace without a resourceVersion replaces what is stored", func(t *testing.T, s datastore.Store, dir string) {
			e.mustCtl(t, npYAML("", "a", "v == '1'"), "apply", "-f", "-")
			wantResult(t, e.ctl(t, npYAML("", "a", "v == '2'"), "replace", "-f", "-"), 0, "Successfully replaced 1 'NetworkPolicy' resource(s)\n", "")
			if got := selectorOf(t, e, s, npKey("default", "a")); got != "v == '2'" {
				t.Errorf("selector = %q", got)
			}
		}},
		{"replace with a stale resourceVersion fails with an update conflict", func(t *testing.T, s datastore.Store, dir string) {
			e.mustCtl(t, npYAML("", "a", "v == '1'"), "apply", "-f", "-")
			stale := e.mustCtl(t, "", "get", "np", "a", "-o", "yaml")
			e.mustCtl(t, "", "label", "np", "a", "x=y")
			wantResult(t, e.ctl(t, stale, "replace", "-f", "-"), 1, "",
				"failed to replace 'NetworkPolicy' resource: update conflict: NetworkPolicy(default/a)\n")
		}},
		{"replace stops at the first missing resource and says how many it replaced", func(t *testing.T, s datastore.Store, dir string) {
			e.mustCtl(t, npYAML("", "a", "v == '1'"), "apply", "-f", "-")
			wantResult(t, e.ctl(t, docs(npYAML("", "a", "v == '2'"), npYAML("", "b", "all()")), "replace", "-f", "-"), 1,
				"Partial success: replaced the first 1 out of 2 'NetworkPolicy' resources:\n",
				"hit error: resource does not exist: NetworkPolicy(default/b) with error: <nil>\n")
		}},
		{"the compatibility flags of Calico's calicoctl are accepted", func(t *testing.T, s datastore.Store, dir string) {
			e.mustCtl(t, npYAML("", "a", "all()"), "apply", "-f", "-", "--allow-version-mismatch", "--context", "ignored")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.reset(t)
			tt.run(t, e.store(t), t.TempDir())
		})
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestDeleteCommand covers calicoctl delete by name and by file.
func TestDeleteCommand(t *testing.T) {
	e := startDatastore(t)
	seed := docs(npYAML("prod", "a", "all()"), npYAML("prod", "b", "all()"), npYAML("", "c", "all()"), gnpYAML("g", "", 1))
	tests := []struct {
		name string
		run  func(t *testing.T, s datastore.Store, dir string)
	}{
		{"delete by kind alias and names in a namespace", func(t *testing.T, s datastore.Store, dir string) {
			wantResult(t, e.ctl(t, "", "delete", "policy", "a", "b", "-n", "prod"), 0, "Successfully deleted 2 'NetworkPolicy' resource(s)\n", "")
			wantExists(t, s, map[v3.Key]bool{npKey("prod", "a"): false, npKey("prod", "b"): false, npKey("default", "c"): true})
		}},
		{"delete without -n uses the default namespace", func(t *testing.T, s datastore.Store, dir string) {
			wantResult(t, e.ctl(t, "", "delete", "networkpolicies", "c"), 0, "Successfully deleted 1 'NetworkPolicy' resource(s)\n", "")
		}},
		{"delete of a missing resource reports it and still deletes the others", func(t *testing.T, s datastore.Store, dir string) {
			wantResult(t, e.ctl(t, "", "delete", "np", "a", "nope", "b", "-n", "prod"), 1,
				"Successfully deleted 2 'NetworkPolicy' resource(s)\n",
				"Failed to delete 'NetworkPolicy' resource: resource does not exist: NetworkPolicy(prod/nope) with error: <nil>\n")
			wantExists(t, s, map[v3.Key]bool{npKey("prod", "a"): false, npKey("prod", "b"): false})
		}},
		{"delete -s counts missing resources as deleted", func(t *testing.T, s datastore.Store, dir string) {
			wantResult(t, e.ctl(t, "", "delete", "np", "a", "nope", "-n", "prod", "-s"), 0, "Successfully deleted 2 'NetworkPolicy' resource(s)\n", "")
			wantResult(t, e.ctl(t, "", "delete", "gnp", "nope", "--skip-not-exists"), 0, "Successfully deleted 1 'GlobalNetworkPolicy' resource(s)\n", "")
		}},
		{"delete -f deletes a file's resources, conditionally on their resourceVersion", func(t *testing.T, s datastore.Store, dir string) {
			f := writeFile(t, dir, "c.yaml", e.mustCtl(t, "", "get", "np", "c", "-o", "yaml"))
			e.mustCtl(t, "", "label", "np", "c", "changed=yes")
			wantResult(t, e.ctl(t, "", "delete", "-f", f), 1, "",
				"Failed to delete 'NetworkPolicy' resource: update conflict: NetworkPolicy(default/c)\n")
			wantExists(t, s, map[v3.Key]bool{npKey("default", "c"): true})
			wantResult(t, e.ctl(t, docs(npYAML("", "c", "all()"), gnpYAML("g", "", 1)), "delete", "-f", "-"), 0,
				"Successfully deleted 2 resource(s)\n", "")
			wantExists(t, s, map[v3.Key]bool{npKey("default", "c"): false, {Kind: v3.KindGlobalNetworkPolicy, Name: "g"}: false})
		}},
		{"delete of a Kubernetes policy name is refused", func(t *testing.T, s datastore.Store, dir string) {
			wantResult(t, e.ctl(t, "", "delete", "np", "knp.default.web"), 1, "",
				"Failed to delete 'NetworkPolicy' resource: operation delete is not supported on NetworkPolicy(default/knp.default.web): "+
					"kubernetes network policies must be managed through the kubernetes API\n")
		}},
		{"delete of the static default-allow profile is refused", func(t *testing.T, s datastore.Store, dir string) {
			r := e.ctl(t, "", "delete", "profile", "projectcalico-default-allow")
			if r.code != 1 || !strings.Contains(r.stderr, "operation Delete is not supported on Profile(projectcalico-default-allow)") {
				t.Errorf("exit %d, stderr %q", r.code, r.stderr)
			}
		}},
		{"delete of a global kind with -n is refused", func(t *testing.T, s datastore.Store, dir string) {
			wantResult(t, e.ctl(t, "", "delete", "gnp", "g", "-n", "prod"), 1, "",
				"Failed to delete 'GlobalNetworkPolicy' resource: GlobalNetworkPolicy is not namespaced\n")
		}},
		{"delete of a kind without names is refused", func(t *testing.T, s datastore.Store, dir string) {
			wantResult(t, e.ctl(t, "", "delete", "np"), 1, "", "No resources specified\n")
		}},
		{"delete of an unknown kind is refused", func(t *testing.T, s datastore.Store, dir string) {
			wantResult(t, e.ctl(t, "", "delete", "widget", "x"), 1, "", "resource type 'widget' is not supported\n")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.reset(t)
			e.mustCtl(t, seed, "apply", "-f", "-")
			tt.run(t, e.store(t), t.TempDir())
		})
	}
}

// TestPatchAndLabelCommands covers calicoctl patch and label.
func TestPatchAndLabelCommands(t *testing.T) {
	e := startDatastore(t)
	ctx := context.Background()
	tests := []struct {
		name string
		run  func(t *testing.T, s datastore.Store)
	}{
		{"a strategic merge patch changes the fields it names", func(t *testing.T, s datastore.Store) {
			wantResult(t, e.ctl(t, "", "patch", "np", "a", "-n", "prod", "-p", `{"spec":{"order":200}}`), 0,
				"Successfully patched 1 'NetworkPolicy' resource\n", "")
			p := e.get(t, s, npKey("prod", "a")).(*v3.NetworkPolicy)
			if p.Spec.Order == nil || *p.Spec.Order != 200 || p.Spec.Selector != "app == 'a'" {
				t.Errorf("after patch: order %v selector %q", p.Spec.Order, p.Spec.Selector)
			}
		}},
		{"a merge patch removes a field set to null and accepts YAML", func(t *testing.T, s datastore.Store) {
			e.mustCtl(t, "", "patch", "np", "a", "-n", "prod", "-p", `{"spec":{"order":5}}`)
			e.mustCtl(t, "", "patch", "np", "a", "-n", "prod", "-t", "merge", "-p", "spec:\n  order: null\n")
			if o := e.get(t, s, npKey("prod", "a")).(*v3.NetworkPolicy).Spec.Order; o != nil {
				t.Errorf("order = %v, want removed", *o)
			}
		}},
		{"a JSON patch adds, tests and removes", func(t *testing.T, s datastore.Store) {
			e.mustCtl(t, "", "patch", "np", "a", "-n", "prod", "-t", "json", "-p",
				`[{"op":"add","path":"/spec/ingress","value":[]},{"op":"add","path":"/spec/ingress/-","value":{"action":"Deny"}},`+
					`{"op":"add","path":"/spec/ingress/0","value":{"action":"Allow"}},{"op":"test","path":"/spec/selector","value":"app == 'a'"}]`)
			p := e.get(t, s, npKey("prod", "a")).(*v3.NetworkPolicy)
			want := []v3.Rule{{Action: v3.Allow}, {Action: v3.Deny}}
			if diff := cmp.Diff(want, p.Spec.Ingress); diff != "" {
				t.Errorf("ingress (-want +got):\n%s", diff)
			}
			r := e.ctl(t, "", "patch", "np", "a", "-n", "prod", "-t", "json", "-p",
				`[{"op":"remove","path":"/spec/ingress/0"},{"op":"test","path":"/spec/selector","value":"other"}]`)
			if r.code != 1 || !strings.Contains(r.stderr, "test failed") {
				t.Errorf("failing test op: exit %d, stderr %q", r.code, r.stderr)
			}
			if n := len(e.get(t, s, npKey("prod", "a")).(*v3.NetworkPolicy).Spec.Ingress); n != 2 {
				t.Errorf("a failed JSON patch changed the rules: %d left", n)
			}
		}},
		{"a patch of a missing resource fails with resource does not exist", func(t *testing.T, s datastore.Store) {
			wantResult(t, e.ctl(t, "", "patch", "np", "nope", "-p", `{"spec":{"order":1}}`), 1, "",
				"hit error: resource does not exist: NetworkPolicy(default/nope) with error: <nil>\n")
		}},
		{"a patch that makes the resource invalid is refused and changes nothing", func(t *testing.T, s datastore.Store) {
			before := e.get(t, s, npKey("prod", "a"))
			for _, p := range []string{`{"spec":{"selector":"app =="}}`, `{"spec":{"selectr":"x"}}`, `{"metadata":{"name":"other"}}`} {
				if r := e.ctl(t, "", "patch", "np", "a", "-n", "prod", "-p", p); r.code != 1 || !strings.HasPrefix(r.stderr, "hit error: ") {
					t.Errorf("patch %s: exit %d, stderr %q", p, r.code, r.stderr)
				}
			}
			if after := e.get(t, s, npKey("prod", "a")); after.GetResourceVersion() != before.GetResourceVersion() {
				t.Error("a refused patch changed the resource")
			}
		}},
		{"label sets, refuses to change without --overwrite, updates and removes", func(t *testing.T, s datastore.Store) {
			wantResult(t, e.ctl(t, "", "label", "np", "a", "-n", "prod", "team=blue"), 0, "Successfully set label team on np a\n", "")
			wantResult(t, e.ctl(t, "", "label", "np", "a", "-n", "prod", "team=red"), 1, "",
				"failed to update label of np a, key team is already present. please use '--overwrite' to set a new value\n")
			wantResult(t, e.ctl(t, "", "label", "np", "a", "-n", "prod", "team=red", "--overwrite"), 0, "Successfully updated label team on np a\n", "")
			if got := e.get(t, s, npKey("prod", "a")).GetLabels()["team"]; got != "red" {
				t.Errorf("team = %q", got)
			}
			wantResult(t, e.ctl(t, "", "label", "np", "a", "-n", "prod", "team", "--remove"), 0, "Successfully removed label team from np a\n", "")
			if _, ok := e.get(t, s, npKey("prod", "a")).GetLabels()["team"]; ok {
				t.Error("label team still present")
			}
			wantResult(t, e.ctl(t, "", "label", "np", "a", "-n", "prod", "team", "--remove"), 1, "",
				"cannot remove label of np a, key team does not exist\n")
		}},
		{"label refuses a malformed or invalid label and a missing resource", func(t *testing.T, s datastore.Store) {
			wantResult(t, e.ctl(t, "", "label", "np", "a", "-n", "prod", "novalue"), 1, "", "invalid label novalue\n")
			if r := e.ctl(t, "", "label", "np", "a", "-n", "prod", "bad key=x"); r.code != 1 ||
				!strings.HasPrefix(r.stderr, "failed to update np a, label not changed: ") {
				t.Errorf("invalid key: exit %d, stderr %q", r.code, r.stderr)
			}
			wantResult(t, e.ctl(t, "", "label", "gnp", "nope", "x=y"), 1, "", "gnp nope not found\n")
		}},
		{"label of a resource another client changes meanwhile still applies once", func(t *testing.T, s datastore.Store) {
			p := e.get(t, s, npKey("prod", "a")).(*v3.NetworkPolicy)
			p.Spec.Selector = "changed == 'yes'"
			if _, err := s.Update(ctx, p); err != nil {
				t.Fatal(err)
			}
			e.mustCtl(t, "", "label", "np", "a", "-n", "prod", "k=v")
			got := e.get(t, s, npKey("prod", "a")).(*v3.NetworkPolicy)
			if got.Labels["k"] != "v" || got.Spec.Selector != "changed == 'yes'" {
				t.Errorf("labels %v selector %q", got.Labels, got.Spec.Selector)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.reset(t)
			e.mustCtl(t, npYAML("prod", "a", "app == 'a'"), "apply", "-f", "-")
			tt.run(t, e.store(t))
		})
	}
}
