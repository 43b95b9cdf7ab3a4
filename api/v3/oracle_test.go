package v3

// The oracle: Calico's own published Go types (github.com/projectcalico/api,
// imported by this test only) decide whether Tabby's output is Calico's wire
// format. What Tabby writes must decode strictly into Calico's type, and what
// Calico writes back must decode into Tabby's type as the same object.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	calicov3 "github.com/projectcalico/api/pkg/apis/projectcalico/v3"
	"sigs.k8s.io/yaml"
)

// calicoType returns a constructor of Calico's type for o's kind. ok is
// false for WorkloadEndpoint, whose type lives in libcalico-go rather than
// in the published API module.
func calicoType(o Object) (newObject func() any, ok bool) {
	switch o.(type) {
	case *NetworkPolicy:
		return func() any { return &calicov3.NetworkPolicy{} }, true
	case *GlobalNetworkPolicy:
		return func() any { return &calicov3.GlobalNetworkPolicy{} }, true
	case *StagedNetworkPolicy:
		return func() any { return &calicov3.StagedNetworkPolicy{} }, true
	case *StagedGlobalNetworkPolicy:
		return func() any { return &calicov3.StagedGlobalNetworkPolicy{} }, true
	case *Tier:
		return func() any { return &calicov3.Tier{} }, true
	case *NetworkSet:
		return func() any { return &calicov3.NetworkSet{} }, true
	case *GlobalNetworkSet:
		return func() any { return &calicov3.GlobalNetworkSet{} }, true
	case *Profile:
		return func() any { return &calicov3.Profile{} }, true
	case *HostEndpoint:
		return func() any { return &calicov3.HostEndpoint{} }, true
	case *FelixConfiguration:
		return func() any { return &calicov3.FelixConfiguration{} }, true
	}
	return nil, false
}

// kindsWithoutOracle are the kinds calicoObject has no Calico type for.
var kindsWithoutOracle = []string{KindWorkloadEndpoint}

func TestFixturesAreCalicoWireFormat(t *testing.T) {
	checked := make(map[string]bool)
	for _, file := range fixtureFiles(t) {
		for i, o := range mustDecode(t, string(readFile(t, file))) {
			for _, defaulted := range []bool{false, true} {
				if defaulted {
					Default(o)
				}
				newCalico, ok := calicoType(o)
				if !ok {
					continue
				}
				checked[KindOf(o)] = true
				t.Run(fmt.Sprintf("%s object %d (%s, defaulted %v) is read by Calico and read back unchanged", file, i+1, KeyOf(o), defaulted), func(t *testing.T) {
					checkWithCalico(t, o, newCalico)
				})
			}
		}
	}
	for _, k := range Kinds() {
		if !checked[k.Kind] && !slices.Contains(kindsWithoutOracle, k.Kind) {
			t.Errorf("no fixture of kind %s was checked against Calico's type", k.Kind)
		}
	}
}

// checkWithCalico encodes o as JSON and as YAML, decodes each strictly into
// a new value of Calico's type, and decodes Calico's re-encodings (JSON and
// YAML) back into Tabby.
func checkWithCalico(t *testing.T, o Object, newCalico func() any) {
	t.Helper()
	var ours [2][]byte
	for i, format := range []Format{FormatJSON, FormatYAML} {
		var buf bytes.Buffer
		if err := Encode(&buf, format, o); err != nil {
			t.Fatalf("Encode %s: %v", format, err)
		}
		ours[i] = buf.Bytes()
	}
	fromJSON := newCalico()
	dec := json.NewDecoder(bytes.NewReader(ours[0]))
	dec.DisallowUnknownFields()
	if err := dec.Decode(fromJSON); err != nil {
		t.Fatalf("Calico's type refuses Tabby's JSON: %v\n%s", err, ours[0])
	}
	fromYAML := newCalico()
	if err := yaml.UnmarshalStrict(ours[1], fromYAML); err != nil {
		t.Fatalf("Calico's type refuses Tabby's YAML: %v\n%s", err, ours[1])
	}
	if diff := cmp.Diff(mustJSON(t, fromJSON), mustJSON(t, fromYAML)); diff != "" {
		t.Errorf("Calico reads Tabby's JSON and YAML differently (-json +yaml):\n%s", diff)
	}

	// encoding/json matches field names without regard to case, so a
	// strict decode alone would accept a misspelt "notIcmp": compare the
	// spelling of every key with what Calico writes.
	theirsJSON := mustJSON(t, fromJSON)
	var oursTree, theirsTree any
	if err := json.Unmarshal(ours[0], &oursTree); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(theirsJSON, &theirsTree); err != nil {
		t.Fatal(err)
	}
	for _, d := range wireDifferences("", oursTree, theirsTree) {
		t.Error(d)
	}

	theirsYAML, err := yaml.Marshal(fromYAML)
	if err != nil {
		t.Fatal(err)
	}
	for _, theirs := range []struct {
		format string
		data   []byte
	}{{"JSON", theirsJSON}, {"YAML", theirsYAML}} {
		back, err := Decode(theirs.data)
		if err != nil {
			t.Fatalf("Tabby refuses Calico's %s: %v\n%s", theirs.format, err, theirs.data)
		}
		if len(back) != 1 {
			t.Fatalf("Calico's %s decodes to %d objects, want 1", theirs.format, len(back))
		}
		if diff := cmp.Diff(o, back[0]); diff != "" {
			t.Errorf("Calico's %s reads back differently (-ours +calico's):\n%s\n%s", theirs.format, diff, theirs.data)
		}
	}
}

// wireDifferences compares Tabby's JSON with Calico's re-encoding of it,
// both decoded generically: every key Tabby writes must be spelt as Calico
// writes it and carry the same value; Calico may add only empty values (its
// fields without omitempty, such as "creationTimestamp": null).
func wireDifferences(path string, ours, theirs any) []string {
	if ol, ok := ours.([]any); ok {
		if tl, ok := theirs.([]any); ok && len(ol) == len(tl) {
			var diffs []string
			for i := range ol {
				diffs = append(diffs, wireDifferences(fmt.Sprintf("%s[%d]", path, i), ol[i], tl[i])...)
			}
			return diffs
		}
	}
	om, ok1 := ours.(map[string]any)
	tm, ok2 := theirs.(map[string]any)
	if !ok1 || !ok2 {
		if !cmp.Equal(ours, theirs) {
			return []string{fmt.Sprintf("%s: Tabby writes %v, Calico %v", path, ours, theirs)}
		}
		return nil
	}
	var diffs []string
	for k, v := range om {
		tv, ok := tm[k]
		if !ok {
			diffs = append(diffs, fmt.Sprintf("%s.%s: Calico has no field spelt %q", path, k, k))
			continue
		}
		diffs = append(diffs, wireDifferences(path+"."+k, v, tv)...)
	}
	for k, v := range tm {
		if _, ok := om[k]; !ok && !isEmptyJSON(v) {
			diffs = append(diffs, fmt.Sprintf("%s.%s: Calico writes %v, which Tabby left out", path, k, v))
		}
	}
	slices.Sort(diffs)
	return diffs
}

func isEmptyJSON(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == ""
	case bool:
		return !x
	case float64:
		return x == 0
	case []any:
		return len(x) == 0
	case map[string]any:
		for _, e := range x {
			if !isEmptyJSON(e) {
				return false
			}
		}
		return true
	}
	return false
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	j, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return j
}
