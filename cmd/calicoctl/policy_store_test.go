package main

import (
	"strings"
	"testing"
)

// TestPolicyCommandsReadTheDatastore checks that without -f the analysis
// commands question the datastore, and that they then answer exactly what
// they answer for the files that were applied to it.
func TestPolicyCommandsReadTheDatastore(t *testing.T) {
	e := startDatastore(t)
	e.mustCtl(t, "", "apply", "-f", seedsDir)

	tests := []struct {
		name string
		args []string
	}{
		{"the matrix of the applied seeds is the matrix of their files",
			[]string{"policy", "matrix", "--ports", "53,6379", "--protocols", "TCP,UDP", "-o", "json"}},
		{"a trace reads the same policies from the datastore as from the files",
			[]string{"policy", "trace", "--from", "production/frontend", "--to", "production/redis", "--port", "6379", "-o", "json"}},
		{"the policies for an endpoint are those of the files",
			[]string{"policy", "for", "production/redis", "-o", "json"}},
		{"what a policy selects is what it selects in the files",
			[]string{"policy", "select", "allow-tcp-6379", "-n", "production", "-o", "json"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fromFiles := runCtl("", append(tt.args, "-f", seedsDir)...)
			if fromFiles.code != 0 {
				t.Fatalf("with -f: exit %d: %s", fromFiles.code, fromFiles.stderr)
			}
			fromStore := e.ctl(t, "", tt.args...)
			if fromStore.code != 0 {
				t.Fatalf("from the datastore: exit %d: %s", fromStore.code, fromStore.stderr)
			}
			if fromStore.stdout != fromFiles.stdout {
				t.Errorf("from the datastore:\n%s\nfrom the files:\n%s", fromStore.stdout, fromFiles.stdout)
			}
		})
	}

	t.Run("an unreachable datastore is reported as calicoctl reports it", func(t *testing.T) {
		e.writeConfig(t, e.cfgPath, "etcdEndpoints: "+closedPortURL(t))
		r := e.ctl(t, "", "policy", "matrix")
		if r.code == 0 || !strings.Contains(r.stderr, "Failed to create Calico API client") {
			t.Fatalf("exit %d, stderr %q; want a failure naming the API client", r.code, r.stderr)
		}
	})
}
