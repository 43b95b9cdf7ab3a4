package analysis

import (
	"os"
	"testing"

	"github.com/tabby-project/tabby/conformance"
)

// testModel loads the conformance model (namespaces x, y, z; pods a, b, c
// at 10.100.<ns>.<pod>) with testdata/policies.yaml.
func testModel(t testing.TB) *Model {
	t.Helper()
	policies, err := os.ReadFile("testdata/policies.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return mustLoad(t,
		File{Name: "model.yaml", Data: []byte(conformance.NewModel().KubernetesYAML())},
		File{Name: "testdata/policies.yaml", Data: policies},
	)
}

// mustLoad decodes files and builds their model, failing the test on any
// problem.
func mustLoad(t testing.TB, files ...File) *Model {
	t.Helper()
	objs, _, err := Decode(files)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	m, err := New(objs)
	if err != nil {
		t.Fatalf("new: %v", err)
	}
	return m
}
