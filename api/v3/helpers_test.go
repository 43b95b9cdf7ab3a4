package v3

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// fixtureFiles lists the resource fixtures every codec property is checked
// on: the seed examples and this package's testdata.
func fixtureFiles(t testing.TB) []string {
	t.Helper()
	var files []string
	for _, dir := range []string{"../../examples/seeds", "testdata"} {
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatalf("read fixtures: %v", err)
		}
		for _, e := range entries {
			if ext := filepath.Ext(e.Name()); !e.IsDir() && slices.Contains([]string{".yaml", ".yml", ".json"}, ext) {
				files = append(files, filepath.Join(dir, e.Name()))
			}
		}
	}
	if len(files) == 0 {
		t.Fatal("no fixtures found")
	}
	return files
}

// readFile reads a fixture file.
func readFile(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// mustDecode decodes YAML or JSON that the test knows to be valid.
func mustDecode(t testing.TB, data string) []Object {
	t.Helper()
	objs, err := Decode([]byte(data))
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	return objs
}

// mustDecodeOne decodes a single resource.
func mustDecodeOne(t testing.TB, data string) Object {
	t.Helper()
	objs := mustDecode(t, data)
	if len(objs) != 1 {
		t.Fatalf("Decode gave %d objects, want 1", len(objs))
	}
	return objs[0]
}

// errorLines splits an error's message into lines; nil gives none.
func errorLines(err error) []string {
	if err == nil {
		return nil
	}
	return strings.Split(err.Error(), "\n")
}
