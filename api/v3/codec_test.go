package v3

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func ptr[T any](v T) *T { return &v }

func tm(kind string) metav1.TypeMeta { return metav1.TypeMeta{APIVersion: APIVersion, Kind: kind} }

func TestDecode(t *testing.T) {
	tier := func(name string, order float64) *Tier {
		return &Tier{TypeMeta: tm(KindTier), ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: TierSpec{Order: &order}}
	}
	tests := []struct {
		name string
		in   string
		want []Object
	}{
		{
			name: "a YAML stream gives one object per document, mixing kinds",
			in: `apiVersion: projectcalico.org/v3
kind: Tier
metadata: {name: a}
spec: {order: 1}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkSet
metadata: {name: b}
spec: {nets: [10.0.0.0/8]}
`,
			want: []Object{tier("a", 1), &GlobalNetworkSet{TypeMeta: tm(KindGlobalNetworkSet),
				ObjectMeta: metav1.ObjectMeta{Name: "b"}, Spec: GlobalNetworkSetSpec{Nets: []string{"10.0.0.0/8"}}}},
		},
		{
			name: "empty and comment-only documents are skipped",
			in:   "---\n# nothing here\n---\n\n---\napiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {name: a}\nspec: {order: 1}\n---\n",
			want: []Object{tier("a", 1)},
		},
		{
			name: "a JSON object is one document",
			in:   `{"apiVersion": "projectcalico.org/v3", "kind": "Tier", "metadata": {"name": "a"}, "spec": {"order": 1}}`,
			want: []Object{tier("a", 1)},
		},
		{
			name: "a JSON array gives its elements",
			in: `[{"apiVersion": "projectcalico.org/v3", "kind": "Tier", "metadata": {"name": "a"}, "spec": {"order": 1}},
			      {"apiVersion": "projectcalico.org/v3", "kind": "Tier", "metadata": {"name": "b"}, "spec": {"order": 2}}]`,
			want: []Object{tier("a", 1), tier("b", 2)},
		},
		{
			name: "concatenated JSON objects give one object each",
			in: `{"apiVersion": "projectcalico.org/v3", "kind": "Tier", "metadata": {"name": "a"}, "spec": {"order": 1}}
{"apiVersion": "projectcalico.org/v3", "kind": "Tier", "metadata": {"name": "b"}, "spec": {"order": 2}}`,
			want: []Object{tier("a", 1), tier("b", 2)},
		},
		{
			name: "a YAML flow mapping that is not JSON is read as YAML",
			in:   "{apiVersion: projectcalico.org/v3, kind: Tier, metadata: {name: a}, spec: {order: 1}}\n",
			want: []Object{tier("a", 1)},
		},
		{
			name: "a top-level YAML list gives its elements",
			in:   "- {apiVersion: projectcalico.org/v3, kind: Tier, metadata: {name: a}, spec: {order: 1}}\n- {apiVersion: projectcalico.org/v3, kind: Tier, metadata: {name: b}, spec: {order: 2}}\n",
			want: []Object{tier("a", 1), tier("b", 2)},
		},
		{
			name: "a List document gives its items, with apiVersion and kind filled in",
			in: `apiVersion: projectcalico.org/v3
kind: TierList
metadata: {resourceVersion: "9"}
items:
- metadata: {name: a}
  spec: {order: 1}
- apiVersion: projectcalico.org/v3
  kind: Tier
  metadata: {name: b}
  spec: {order: 2}
`,
			want: []Object{tier("a", 1), tier("b", 2)},
		},
		{
			name: "a byte order mark is ignored",
			in:   "\xef\xbb\xbfapiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {name: a}\nspec: {order: 1}\n",
			want: []Object{tier("a", 1)},
		},
		{
			name: "keys match field names regardless of case, as in Calico",
			in:   "apiVersion: projectcalico.org/v3\nkind: Tier\nMetadata: {Name: a}\nSPEC: {order: 1}\n",
			want: []Object{tier("a", 1)},
		},
		{
			name: "numbers and booleans in string fields become strings, as sigs.k8s.io/yaml makes them",
			in: `apiVersion: projectcalico.org/v3
kind: GlobalNetworkSet
metadata:
  name: a
  labels: {hash: 701339712, enabled: yes, version: 1.50}
`,
			want: []Object{&GlobalNetworkSet{TypeMeta: tm(KindGlobalNetworkSet), ObjectMeta: metav1.ObjectMeta{
				Name: "a", Labels: map[string]string{"hash": "701339712", "enabled": "true", "version": "1.5"}}}},
		},
		{
			name: "ports and protocols decode from numbers and strings",
			in: `apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: p, namespace: ns1}
spec:
  ingress:
  - action: Allow
    protocol: "6"
    notProtocol: UDP
    destination:
      ports: [80, "443", "1000:2000", http]
`,
			want: []Object{&NetworkPolicy{TypeMeta: tm(KindNetworkPolicy), ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns1"},
				Spec: NetworkPolicySpec{Ingress: []Rule{{
					Action: Allow, Protocol: ptr(ProtocolFromInt(6)), NotProtocol: ptr(ProtocolFromString("UDP")),
					Destination: EntityRule{Ports: []Port{SinglePort(80), SinglePort(443), PortRange(1000, 2000), NamedPort("http")}},
				}}}}},
		},
		{
			name: "empty lists and maps decode as absent",
			in:   "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\nmetadata: {name: a, labels: {}}\nspec: {nets: []}\n",
			want: []Object{&GlobalNetworkSet{TypeMeta: tm(KindGlobalNetworkSet), ObjectMeta: metav1.ObjectMeta{Name: "a"}}},
		},
		{
			name: "an empty failsafe list is kept, since it means no failsafe ports",
			in:   "apiVersion: projectcalico.org/v3\nkind: FelixConfiguration\nmetadata: {name: default}\nspec: {failsafeInboundHostPorts: []}\n",
			want: []Object{&FelixConfiguration{TypeMeta: tm(KindFelixConfiguration), ObjectMeta: metav1.ObjectMeta{Name: "default"},
				Spec: FelixConfigurationSpec{FailsafeInboundHostPorts: &[]ProtoPort{}}}},
		},
		{
			name: "timestamps are cut to the seconds their wire form carries",
			in:   "apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {name: a, creationTimestamp: \"2026-01-02T03:04:05.678Z\"}\nspec: {order: 1}\n",
			want: []Object{&Tier{TypeMeta: tm(KindTier), ObjectMeta: metav1.ObjectMeta{Name: "a",
				CreationTimestamp: metav1.NewTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))}, Spec: TierSpec{Order: ptr(1.0)}}},
		},
		{
			name: "input with no documents gives no objects",
			in:   "# just a comment\n",
			want: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode([]byte(tt.in))
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if diff := cmp.Diff(tt.want, got, cmp.Comparer(func(a, b metav1.Time) bool { return a.Equal(&b) })); diff != "" {
				t.Errorf("Decode mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	const np = "apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata: {name: x, namespace: default}\n"
	tests := []struct {
		name      string
		in        string
		want      []string
		wantIs    error
		wantNames []string // names of the objects that did decode
	}{
		{
			name:   "an unknown field is named by its full path",
			in:     "apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {name: a}\n---\n" + np + "spec:\n  ingress:\n  - action: Allow\n    bogus: 1\n",
			want:   []string{"document 2 (NetworkPolicy default/x): spec.ingress[0].bogus: unknown field"},
			wantIs: ErrUnknownField, wantNames: []string{"a"},
		},
		{
			name: "every unknown field of a document is reported",
			in:   np + "spec:\n  selectr: all()\n  ingress:\n  - action: Allow\n    source: {nots: x}\n",
			want: []string{
				"document 1 (NetworkPolicy default/x): spec.ingress[0].source.nots: unknown field",
				"document 1 (NetworkPolicy default/x): spec.selectr: unknown field",
			},
			wantIs: ErrUnknownField,
		},
		{
			name:   "an unknown top-level field is named",
			in:     np + "status: {}\n",
			want:   []string{"document 1 (NetworkPolicy default/x): status: unknown field"},
			wantIs: ErrUnknownField,
		},
		{
			name:   "a string where a number belongs names the field",
			in:     np + "spec: {order: abc}\n",
			want:   []string{`document 1 (NetworkPolicy default/x): spec.order: expected a number, got string "abc"`},
			wantIs: ErrFieldValue,
		},
		{
			name:   "a map where a string belongs names the map key",
			in:     "apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata:\n  name: a\n  labels: {app: {x: y}}\n",
			want:   []string{`document 1 (Tier a): metadata.labels["app"]: expected a string, got an object`},
			wantIs: ErrFieldValue,
		},
		{
			name:   "a list where an object belongs is refused",
			in:     np + "spec: [1]\n",
			want:   []string{"document 1 (NetworkPolicy default/x): spec: expected an object, got a list"},
			wantIs: ErrFieldValue,
		},
		{
			name:   "an integer too large for its field is out of range",
			in:     "apiVersion: projectcalico.org/v3\nkind: HostEndpoint\nmetadata: {name: h}\nspec: {ports: [{name: a, protocol: TCP, port: 70000}]}\n",
			want:   []string{"document 1 (HostEndpoint h): spec.ports[0].port: 70000 is out of range: must be between 0 and 65535"},
			wantIs: ErrFieldValue,
		},
		{
			name:   "a fractional port is refused by the port decoder",
			in:     np + "spec: {ingress: [{action: Allow, protocol: TCP, destination: {ports: [80.5]}}]}\n",
			want:   []string{"document 1 (NetworkPolicy default/x): spec.ingress[0].destination.ports[0]: port must be a number or a string: 80.5"},
			wantIs: ErrFieldValue,
		},
		{
			name:   "a missing apiVersion is refused",
			in:     "kind: Tier\nmetadata: {name: a}\n",
			want:   []string{"document 1 (Tier a): apiVersion: must be projectcalico.org/v3"},
			wantIs: ErrAPIVersion,
		},
		{
			name:   "another API version is refused",
			in:     "apiVersion: crd.projectcalico.org/v1\nkind: Tier\nmetadata: {name: a}\n",
			want:   []string{`document 1 (Tier a): apiVersion: "crd.projectcalico.org/v1" is not supported: want projectcalico.org/v3`},
			wantIs: ErrAPIVersion,
		},
		{
			name:   "a Kubernetes resource is recognised as such",
			in:     "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: a, namespace: b}\n",
			want:   []string{`document 1 (NetworkPolicy b/a): apiVersion: "networking.k8s.io/v1" is a Kubernetes API, not projectcalico.org/v3: Kubernetes resources are applied with kubectl`},
			wantIs: ErrKubernetesResource,
		},
		{
			name:   "a Kubernetes resource is also an API version error",
			in:     "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n",
			want:   []string{`document 1 (Namespace a): apiVersion: "v1" is a Kubernetes API, not projectcalico.org/v3: Kubernetes resources are applied with kubectl`},
			wantIs: ErrAPIVersion,
		},
		{
			name:   "Calico's v1 API is recognised by its lower-case kinds",
			in:     "apiVersion: v1\nkind: policy\nmetadata: {name: a}\n",
			want:   []string{`document 1 (policy a): apiVersion: "v1" with kind "policy" is Calico's old v1 API, which Tabby does not read: rewrite it as projectcalico.org/v3`},
			wantIs: ErrAPIVersion,
		},
		{
			name:   "an unknown kind is named",
			in:     "apiVersion: projectcalico.org/v3\nkind: Bogus\nmetadata: {name: a}\n",
			want:   []string{`document 1 (Bogus a): unknown kind "Bogus"`},
			wantIs: ErrUnknownKind,
		},
		{
			name:   "a kind written as an alias gets a hint",
			in:     "apiVersion: projectcalico.org/v3\nkind: gnp\nmetadata: {name: a}\n",
			want:   []string{`document 1 (gnp a): unknown kind "gnp" (did you mean GlobalNetworkPolicy?)`},
			wantIs: ErrUnknownKind,
		},
		{
			name:   "a Calico kind Tabby does not implement is said to be one",
			in:     "apiVersion: projectcalico.org/v3\nkind: BGPPeer\nmetadata: {name: a}\n",
			want:   []string{`document 1 (BGPPeer a): kind "BGPPeer" is a Calico kind that Tabby does not support`},
			wantIs: ErrUnknownKind,
		},
		{
			name:   "a missing kind is refused",
			in:     "apiVersion: projectcalico.org/v3\nmetadata: {name: a}\n",
			want:   []string{"document 1: kind: must be specified"},
			wantIs: ErrUnknownKind,
		},
		{
			name:   "a list item of another kind is refused",
			in:     "apiVersion: projectcalico.org/v3\nkind: TierList\nitems:\n- metadata: {name: a}\n- kind: Profile\n  metadata: {name: b}\n",
			want:   []string{`document 1 (TierList): items[1].kind: "Profile" does not match the list kind TierList`},
			wantIs: ErrUnknownKind, wantNames: []string{"a"},
		},
		{
			name:   "an unknown field in a list item is named from the list",
			in:     "apiVersion: projectcalico.org/v3\nkind: TierList\nitems:\n- metadata: {name: a}\n  spec: {ordr: 1}\n",
			want:   []string{"document 1 (TierList): items[0].spec.ordr: unknown field"},
			wantIs: ErrUnknownField,
		},
		{
			name:   "a YAML syntax error gives the line in the input",
			in:     "apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {name: a}\n---\napiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: [\n",
			want:   []string{"document 2: line 7: did not find expected node content"},
			wantIs: ErrSyntax, wantNames: []string{"a"},
		},
		{
			name:   "a repeated YAML key is an error",
			in:     "apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {name: a}\nmetadata: {name: b}\n",
			want:   []string{`document 1: line 4: key "metadata" already set in map`},
			wantIs: ErrSyntax,
		},
		{
			name:   "keys that differ only in case are refused rather than one silently winning",
			in:     "apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {name: a}\nspec: {order: 1, Order: 2}\n",
			want:   []string{`document 1 (Tier a): spec.Order: duplicate of field "order" (keys differ only in case)`},
			wantIs: ErrUnknownField,
		},
		{
			name:   "a JSON syntax error gives the line",
			in:     "{\"apiVersion\": \"projectcalico.org/v3\",\n \"kind\": \"Tier\",\n \"metadata\": {\"name\": \"a\"}}\n{\"kind\": }\n",
			want:   []string{"document 2: line 4: invalid character '}' looking for beginning of value"},
			wantIs: ErrSyntax, wantNames: []string{"a"},
		},
		{
			name: "flow-style documents without a separator are refused rather than the second dropped",
			in: "---\n{apiVersion: projectcalico.org/v3, kind: Tier, metadata: {name: a}}\n" +
				"{apiVersion: projectcalico.org/v3, kind: Tier, metadata: {name: b}}\n",
			want:   []string{`document 1: line 2: more content follows the first {...} or [...] value: separate documents with a "---" line`},
			wantIs: ErrSyntax,
		},
		{
			name:   "a document that is not an object is refused",
			in:     "just a string\n",
			want:   []string{`document 1: a resource must be an object, not string "just a string"`},
			wantIs: ErrSyntax,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, err := Decode([]byte(tt.in))
			if diff := cmp.Diff(tt.want, errorLines(err)); diff != "" {
				t.Errorf("error lines mismatch (-want +got):\n%s", diff)
			}
			if !errors.Is(err, tt.wantIs) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.wantIs)
			}
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error %T is not a *DecodeError", err)
			}
			var names []string
			for _, o := range objs {
				names = append(names, o.GetName())
			}
			if diff := cmp.Diff(tt.wantNames, names); diff != "" {
				t.Errorf("decoded objects mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecodeDocumentsNumbersDocuments(t *testing.T) {
	in := `apiVersion: projectcalico.org/v3
kind: Tier
metadata: {name: a}
---
# empty
---
apiVersion: projectcalico.org/v3
kind: TierList
items:
- metadata: {name: b}
- metadata: {name: c}
`
	docs, err := DecodeDocuments([]byte(in))
	if err != nil {
		t.Fatalf("DecodeDocuments: %v", err)
	}
	var got []string
	for _, d := range docs {
		got = append(got, d.String()+" "+d.Object.GetName())
	}
	want := []string{"document 1 a", "document 2 items[0] b", "document 2 items[1] c"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("documents mismatch (-want +got):\n%s", diff)
	}
}

func TestEncode(t *testing.T) {
	order := 10.0
	policy := &NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "allow-tcp-6379", Namespace: "production"},
		Spec: NetworkPolicySpec{
			Order:    &order,
			Selector: "role == 'database'",
			Ingress: []Rule{{Action: Allow, Protocol: ptr(ProtocolFromString("TCP")),
				Destination: EntityRule{Ports: []Port{SinglePort(6379), PortRange(1000, 2000)}}}},
		},
	}
	tier := &Tier{TypeMeta: tm(KindTier), ObjectMeta: metav1.ObjectMeta{Name: "security"}}
	list := NewList(KindTier, []Object{tier})
	list.SetResourceVersion("42")
	tests := []struct {
		name   string
		format Format
		objs   []Object
		want   string
	}{
		{
			name:   "one object prints as YAML with sorted keys, apiVersion and kind filled in and no null timestamp",
			format: FormatYAML,
			objs:   []Object{policy},
			want: `apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata:
  name: allow-tcp-6379
  namespace: production
spec:
  ingress:
  - action: Allow
    destination:
      ports:
      - 6379
      - 1000:2000
    protocol: TCP
    source: {}
  order: 10
  selector: role == 'database'
`,
		},
		{
			name:   "several objects print as a YAML stream",
			format: FormatYAML,
			objs:   []Object{tier, tier},
			want:   "apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata:\n  name: security\nspec: {}\n---\napiVersion: projectcalico.org/v3\nkind: Tier\nmetadata:\n  name: security\nspec: {}\n",
		},
		{
			name:   "one object prints as indented JSON in field order",
			format: FormatJSON,
			objs:   []Object{tier},
			want:   "{\n  \"kind\": \"Tier\",\n  \"apiVersion\": \"projectcalico.org/v3\",\n  \"metadata\": {\n    \"name\": \"security\"\n  },\n  \"spec\": {}\n}\n",
		},
		{
			name:   "several objects print as a JSON array",
			format: FormatJSON,
			objs:   []Object{tier, tier},
			want:   "[\n  {\n    \"kind\": \"Tier\",\n    \"apiVersion\": \"projectcalico.org/v3\",\n    \"metadata\": {\n      \"name\": \"security\"\n    },\n    \"spec\": {}\n  },\n  {\n    \"kind\": \"Tier\",\n    \"apiVersion\": \"projectcalico.org/v3\",\n    \"metadata\": {\n      \"name\": \"security\"\n    },\n    \"spec\": {}\n  }\n]\n",
		},
		{
			name:   "no objects print as an empty JSON array",
			format: FormatJSON,
			want:   "[]\n",
		},
		{
			name:   "a list prints as calicoctl get prints several resources",
			format: FormatYAML,
			objs:   []Object{list},
			want:   "apiVersion: projectcalico.org/v3\nitems:\n- apiVersion: projectcalico.org/v3\n  kind: Tier\n  metadata:\n    name: security\n  spec: {}\nkind: TierList\nmetadata:\n  resourceVersion: \"42\"\n",
		},
		{
			name:   "an empty list prints its items as an empty list",
			format: FormatJSON,
			objs:   []Object{NewList(KindTier, nil)},
			want:   "{\n  \"kind\": \"TierList\",\n  \"apiVersion\": \"projectcalico.org/v3\",\n  \"metadata\": {},\n  \"items\": []\n}\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := Encode(&buf, tt.format, tt.objs...); err != nil {
				t.Fatalf("Encode: %v", err)
			}
			if diff := cmp.Diff(tt.want, buf.String()); diff != "" {
				t.Errorf("Encode mismatch (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("encoding does not modify the objects", func(t *testing.T) {
		if policy.Kind != "" || policy.APIVersion != "" {
			t.Errorf("Encode filled in the caller's TypeMeta: %+v", policy.TypeMeta)
		}
	})
}

func TestEncodeErrors(t *testing.T) {
	tests := []struct {
		name   string
		format Format
		objs   []Object
		want   string
	}{
		{"a nil object is refused", FormatYAML, []Object{(*Tier)(nil)}, "encode nil object: nil object"},
		{"an unknown format is refused", Format(7), []Object{&Tier{}}, "encode: unknown format Format(7)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Encode(&bytes.Buffer{}, tt.format, tt.objs...)
			if err == nil || err.Error() != tt.want {
				t.Errorf("Encode error = %v, want %q", err, tt.want)
			}
		})
	}
}

// TestRoundTrip checks that every fixture survives Decode, Encode and Decode
// again unchanged, in both formats.
func TestRoundTrip(t *testing.T) {
	for _, file := range fixtureFiles(t) {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, format := range []Format{FormatYAML, FormatJSON} {
			t.Run(file+" survives a round trip through "+format.String(), func(t *testing.T) {
				objs := mustDecode(t, string(data))
				var buf bytes.Buffer
				if err := Encode(&buf, format, objs...); err != nil {
					t.Fatalf("Encode: %v", err)
				}
				again, err := Decode(buf.Bytes())
				if err != nil {
					t.Fatalf("Decode of encoded output: %v\n%s", err, buf.String())
				}
				if diff := cmp.Diff(objs, again); diff != "" {
					t.Errorf("round trip changed the objects (-first +second):\n%s", diff)
				}
			})
		}
	}
}

// TestFixturesAreValid checks that every fixture decodes and, once
// defaulted, validates: they are meant as examples of valid resources.
func TestFixturesAreValid(t *testing.T) {
	for _, file := range fixtureFiles(t) {
		t.Run(file+" holds only valid resources", func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range mustDecode(t, string(data)) {
				Default(o)
				if err := Validate(o); err != nil {
					t.Errorf("Validate: %v", err)
				}
			}
		})
	}
}

func TestFormatString(t *testing.T) {
	got := []string{FormatYAML.String(), FormatJSON.String(), Format(9).String()}
	want := []string{"yaml", "json", "Format(9)"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Format.String mismatch (-want +got):\n%s", diff)
	}
}

func TestListResourceVersion(t *testing.T) {
	l := NewList(KindNetworkPolicy, nil)
	l.SetResourceVersion("7")
	if got := l.GetResourceVersion(); got != "7" || l.ListMeta.ResourceVersion != "7" {
		t.Errorf("GetResourceVersion = %q, ListMeta.ResourceVersion = %q, want 7 for both", got, l.ListMeta.ResourceVersion)
	}
	if got := strings.TrimSpace(KindOf(l)); got != "NetworkPolicyList" {
		t.Errorf("KindOf(list) = %q, want NetworkPolicyList", got)
	}
}
