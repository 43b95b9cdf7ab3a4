package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	v3 "github.com/tabby-project/tabby/api/v3"
)

const (
	seedExamplesDir    = "../../examples/seeds"
	invalidExamplesDir = "../../examples/invalid"
)

// validateRun is what one in-process calicoctl run printed and returned.
type validateRun struct {
	code        int
	stdout      string
	stderrLines []string
}

// runValidateCLI runs calicoctl with args and stdin in this process.
func runValidateCLI(t *testing.T, stdin string, args ...string) validateRun {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, strings.NewReader(stdin), &out, &errb)
	var lines []string
	if errb.Len() > 0 {
		lines = strings.Split(strings.TrimSuffix(errb.String(), "\n"), "\n")
	}
	return validateRun{code: code, stdout: out.String(), stderrLines: lines}
}

// exampleFiles lists the resource files of dir, as validate reads them.
func exampleFiles(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	for _, ext := range []string{"*.json", "*.yaml", "*.yml"} {
		m, err := filepath.Glob(filepath.Join(dir, ext))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) == 0 {
		t.Fatalf("no resource files in %s", dir)
	}
	return files
}

// validateSuccessLine is calicoctl's summary for valid objects.
func validateSuccessLine(objs []v3.Object) string {
	kind := v3.KindOf(objs[0])
	for _, o := range objs {
		if v3.KindOf(o) != kind {
			return fmt.Sprintf("Successfully validated %d resource(s)\n", len(objs))
		}
	}
	return fmt.Sprintf("Successfully validated %d '%s' resource(s)\n", len(objs), kind)
}

func decodeExampleFile(t *testing.T, name string) []v3.Object {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := v3.Decode(data)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return objs
}

func TestValidateSeedExamples(t *testing.T) {
	var all []v3.Object
	for _, file := range exampleFiles(t, seedExamplesDir) {
		objs := decodeExampleFile(t, file)
		all = append(all, objs...)
		t.Run(file+" is valid on its own", func(t *testing.T) {
			got := runValidateCLI(t, "", "validate", "-f", file)
			want := validateRun{code: 0, stdout: validateSuccessLine(objs)}
			if diff := cmp.Diff(want, got, cmp.AllowUnexported(validateRun{})); diff != "" {
				t.Errorf("validate -f %s mismatch (-want +got):\n%s", file, diff)
			}
		})
	}
	t.Run("the seed directory validates as a whole", func(t *testing.T) {
		got := runValidateCLI(t, "", "validate", "-f", seedExamplesDir+"/")
		want := validateRun{code: 0, stdout: validateSuccessLine(all)}
		if diff := cmp.Diff(want, got, cmp.AllowUnexported(validateRun{})); diff != "" {
			t.Errorf("validate -f %s/ mismatch (-want +got):\n%s", seedExamplesDir, diff)
		}
	})
}

// wantedProblems reads the "# want: " comment lines that open an invalid
// fixture: the exact problems validate must print for it, without the file
// name that starts each printed line.
func wantedProblems(t *testing.T, file string) []string {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var want []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "# want: ")
		if !ok {
			break
		}
		want = append(want, line)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(want) == 0 {
		t.Fatalf("%s has no leading \"# want: \" lines", file)
	}
	return want
}

func TestValidateInvalidExamples(t *testing.T) {
	files := exampleFiles(t, invalidExamplesDir)
	var allWant []string
	for _, file := range files {
		want := wantedProblems(t, file)
		for _, w := range want {
			allWant = append(allWant, file+": "+w)
		}
		t.Run(file+" fails with exactly its expected problems", func(t *testing.T) {
			got := runValidateCLI(t, "", "validate", "-f", file)
			var wantLines []string
			for _, w := range want {
				wantLines = append(wantLines, file+": "+w)
			}
			wantLines = append(wantLines, fmt.Sprintf("Validation failed: %d problem(s) in 1 file(s)", len(want)))
			if diff := cmp.Diff(validateRun{code: 1, stderrLines: wantLines}, got, cmp.AllowUnexported(validateRun{})); diff != "" {
				t.Errorf("validate -f %s mismatch (-want +got):\n%s", file, diff)
			}
		})
	}
	t.Run("the invalid directory reports every problem of every file", func(t *testing.T) {
		got := runValidateCLI(t, "", "validate", "-f", invalidExamplesDir)
		want := append(allWant, fmt.Sprintf("Validation failed: %d problem(s) in %d file(s)", len(allWant), len(files)))
		if diff := cmp.Diff(validateRun{code: 1, stderrLines: want}, got, cmp.AllowUnexported(validateRun{})); diff != "" {
			t.Errorf("validate -f %s mismatch (-want +got):\n%s", invalidExamplesDir, diff)
		}
	})
}

func TestValidateInputs(t *testing.T) {
	// policy is a NetworkPolicy p with more metadata (", namespace: x")
	// and a spec.
	policy := func(meta, spec string) string {
		return "apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata: {name: p" + meta + "}\nspec: " + spec + "\n"
	}
	dir := t.TempDir()
	writeValidateInput(t, filepath.Join(dir, "a.yaml"), "apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {name: t}\nspec: {order: 10}\n")
	writeValidateInput(t, filepath.Join(dir, "notes.txt"), "not a resource file")
	writeValidateInput(t, filepath.Join(dir, "sub", "b.json"), `{"apiVersion": "projectcalico.org/v3", "kind": "GlobalNetworkSet", "metadata": {"name": "s"}}`)
	writeValidateInput(t, filepath.Join(dir, "empty", "c.yml"), "# nothing here\n")
	writeValidateInput(t, filepath.Join(dir, "none", "readme.md"), "no resources")

	tests := []struct {
		name  string
		stdin string
		args  []string
		want  validateRun
	}{
		{
			name:  "a valid policy on standard input takes the namespace given with -n",
			stdin: policy("", "{selector: all()}"),
			args:  []string{"validate", "-f", "-", "-n", "production"},
			want:  validateRun{code: 0, stdout: "Successfully validated 1 'NetworkPolicy' resource(s)\n"},
		},
		{
			name:  "an invalid policy on standard input is reported as stdin",
			stdin: policy("", "{ingress: [{action: Allow, protocol: TCP, destination: {ports: [70000]}}]}"),
			args:  []string{"validate", "--filename=-"},
			want: validateRun{code: 1, stderrLines: []string{
				`stdin: document 1 (NetworkPolicy default/p): spec.ingress[0].destination.ports[0]: "70000" is not a port or port range`,
				"Validation failed: 1 problem(s) in 1 file(s)",
			}},
		},
		{
			name:  "a namespace that differs from -n is refused",
			stdin: policy(", namespace: dev", "{}"),
			args:  []string{"validate", "-f", "-", "-n", "prod"},
			want: validateRun{code: 1, stderrLines: []string{
				"stdin: document 1 (NetworkPolicy dev/p): resource namespace does not match client namespace. dev != prod",
				"Validation failed: 1 problem(s) in 1 file(s)",
			}},
		},
		{
			name:  "-n is refused for a global resource",
			stdin: "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\nmetadata: {name: s}\n",
			args:  []string{"validate", "-f", "-", "-n", "prod"},
			want: validateRun{code: 1, stderrLines: []string{
				"stdin: document 1 (GlobalNetworkSet s): GlobalNetworkSet is not namespaced",
				"Validation failed: 1 problem(s) in 1 file(s)",
			}},
		},
		{
			name: "a Kubernetes document is skipped with a note and the Calico ones are validated",
			stdin: "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: k, namespace: ns1}\n---\n" +
				policy("", "{selector: all()}") + "---\napiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {name: t}\n",
			args: []string{"validate", "-f", "-"},
			want: validateRun{code: 0, stdout: "Successfully validated 2 resource(s)\n", stderrLines: []string{
				"Note: stdin: document 1 (NetworkPolicy ns1/k): skipped: a Kubernetes resource, not a Calico one",
			}},
		},
		{
			name:  "decoding and validation problems of several documents are all reported, in order",
			stdin: "apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {name: t, bogus: 1}\n---\n" + policy("", "{types: [Sideways]}"),
			args:  []string{"validate", "-f", "-"},
			want: validateRun{code: 1, stderrLines: []string{
				"stdin: document 1 (Tier t): metadata.bogus: unknown field",
				`stdin: document 2 (NetworkPolicy default/p): spec.types[0]: "Sideways" is not a valid policy type: must be Ingress or Egress`,
				"Validation failed: 2 problem(s) in 1 file(s)",
			}},
		},
		{
			name: "empty input is an error",
			args: []string{"validate", "-f", "-"},
			want: validateRun{code: 1, stderrLines: []string{"No resources specified in file stdin", "Validation failed: 1 problem(s) in 1 file(s)"}},
		},
		{
			name: "empty input is accepted with --skip-empty",
			args: []string{"validate", "-f", "-", "--skip-empty"},
			want: validateRun{code: 0, stdout: "No resources specified\n"},
		},
		{
			name: "a directory gives its resource files, not those of its subdirectories",
			args: []string{"validate", "-f", dir},
			want: validateRun{code: 0, stdout: "Successfully validated 1 'Tier' resource(s)\n"},
		},
		{
			name: "a directory with -R gives the resource files of its subdirectories too",
			args: []string{"validate", "-f", filepath.Join(dir, "sub"), "-R"},
			want: validateRun{code: 0, stdout: "Successfully validated 1 'GlobalNetworkSet' resource(s)\n"},
		},
		{
			name: "an empty file found with -R is an error",
			args: []string{"validate", "-f", dir, "-R"},
			want: validateRun{code: 1, stderrLines: []string{
				"No resources specified in file " + filepath.Join(dir, "empty", "c.yml"),
				"Validation failed: 1 problem(s) in 3 file(s)",
			}},
		},
		{
			name: "a directory without resource files is an error",
			args: []string{"validate", "-f", filepath.Join(dir, "none")},
			want: validateRun{code: 1, stderrLines: []string{
				"Error: no .yaml, .yml or .json files in directory " + filepath.Join(dir, "none") + " (use -R to include subdirectories)",
			}},
		},
		{
			name: "a file that does not exist is an error",
			args: []string{"validate", "-f", filepath.Join(dir, "missing.yaml")},
			want: validateRun{code: 1, stderrLines: []string{`Error: file or directory "` + filepath.Join(dir, "missing.yaml") + `" does not exist`}},
		},
		{
			name: "a file is read whatever its extension",
			args: []string{"validate", "-f", filepath.Join(dir, "notes.txt")},
			want: validateRun{code: 1, stderrLines: []string{
				filepath.Join(dir, "notes.txt") + `: document 1: a resource must be an object, not string "not a resource file"`,
				"Validation failed: 1 problem(s) in 1 file(s)",
			}},
		},
		{
			name: "-f is required",
			args: []string{"validate"},
			want: validateRun{code: 1, stderrLines: []string{`Error: required flag(s) "filename" not set`}},
		},
		{
			name: "arguments are refused",
			args: []string{"validate", "-f", "-", "extra"},
			want: validateRun{code: 1, stderrLines: []string{`Error: unknown command "extra" for "calicoctl validate"`}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := runValidateCLI(t, tt.stdin, tt.args...)
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(validateRun{})); diff != "" {
				t.Errorf("calicoctl %s mismatch (-want +got):\n%s", strings.Join(tt.args, " "), diff)
			}
		})
	}
}

func writeValidateInput(t *testing.T, name, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestVersionCommand(t *testing.T) {
	got := runValidateCLI(t, "", "version")
	version, commit := buildVersion()
	want := validateRun{code: 0, stdout: fmt.Sprintf("Client Version:    %s\nGit commit:        %s\n"+
		"This is Tabby's calicoctl, for Calico's projectcalico.org/v3 API.\n", version, commit)}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(validateRun{})); diff != "" {
		t.Errorf("calicoctl version mismatch (-want +got):\n%s", diff)
	}
	if version == "" || commit == "" {
		t.Errorf("buildVersion() = %q, %q, want both non-empty", version, commit)
	}
	if got := runValidateCLI(t, "", "version", "x"); got.code != 1 {
		t.Errorf("calicoctl version x exited %d, want 1", got.code)
	}
}

func TestHelpListsValidateAndVersion(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want []*regexp.Regexp
	}{
		{
			name: "calicoctl --help lists validate and version",
			args: []string{"--help"},
			want: []*regexp.Regexp{
				regexp.MustCompile(`(?m)^Usage:\n  calicoctl \[command\]$`),
				regexp.MustCompile(`(?m)^  validate +Check resource files without contacting a datastore$`),
				regexp.MustCompile(`(?m)^  version +Print the version of calicoctl$`),
			},
		},
		{
			name: "calicoctl validate --help shows its flags and examples",
			args: []string{"validate", "--help"},
			want: []*regexp.Regexp{
				regexp.MustCompile(`(?m)^  calicoctl validate -f FILENAME \[flags\]$`),
				regexp.MustCompile(`(?m)^  -f, --filename string +file or directory holding the resources, or "-" for standard input$`),
				regexp.MustCompile(`(?m)^  -R, --recursive +`),
				regexp.MustCompile(`(?m)^  -n, --namespace string +`),
				regexp.MustCompile(`(?m)^      --skip-empty +`),
				regexp.MustCompile(`(?m)^  calicoctl validate -f policies/ -R$`),
			},
		},
		{
			name: "calicoctl help version describes version",
			args: []string{"help", "version"},
			want: []*regexp.Regexp{regexp.MustCompile(`(?m)^Print the version of this calicoctl and the source revision it was built from\.$`)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := runValidateCLI(t, "", tt.args...)
			if got.code != 0 || len(got.stderrLines) != 0 {
				t.Fatalf("exit %d, stderr %q, want 0 and nothing", got.code, got.stderrLines)
			}
			for _, re := range tt.want {
				if !re.MatchString(got.stdout) {
					t.Errorf("output does not match %s:\n%s", re, got.stdout)
				}
			}
		})
	}
}
