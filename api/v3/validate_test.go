package v3

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Documents for the validation tables. Each takes the YAML (flow style) of
// the spec, or of the rule, and wraps it in a resource named p, in
// namespace ns where the kind is namespaced.
const header = "apiVersion: projectcalico.org/v3\n"

func np(spec string) string {
	return header + "kind: NetworkPolicy\nmetadata: {name: p, namespace: ns}\nspec: " + spec + "\n"
}

func gnp(spec string) string {
	return header + "kind: GlobalNetworkPolicy\nmetadata: {name: p}\nspec: " + spec + "\n"
}

func sgnp(spec string) string {
	return header + "kind: StagedGlobalNetworkPolicy\nmetadata: {name: p}\nspec: " + spec + "\n"
}

func snp(spec string) string {
	return header + "kind: StagedNetworkPolicy\nmetadata: {name: p, namespace: ns}\nspec: " + spec + "\n"
}

// ingressRule is a NetworkPolicy with one ingress rule.
func ingressRule(rule string) string { return np("{ingress: [" + rule + "]}") }

// egressRule is a NetworkPolicy with one egress rule.
func egressRule(rule string) string { return np("{egress: [" + rule + "]}") }

// withMeta is a resource of kind with the given metadata and no spec.
func withMeta(kind, meta string) string {
	return header + "kind: " + kind + "\nmetadata: " + meta + "\n"
}

type validateCase struct {
	name string
	// in is one resource in YAML; obj is used instead when the resource
	// cannot be written in YAML (an infinite order).
	in  string
	obj Object
	// want is every line of the error, or nil for a valid resource.
	want []string
}

// runValidateCases decodes, defaults and validates each case's resource
// and compares every line of the error.
func runValidateCases(t *testing.T, tests []validateCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := tt.obj
			if o == nil {
				o = mustDecodeOne(t, tt.in)
			}
			Default(o)
			err := Validate(o)
			if diff := cmp.Diff(tt.want, errorLines(err)); diff != "" {
				t.Errorf("Validate mismatch (-want +got):\n%s", diff)
			}
			if err == nil {
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("error %T is not a *ValidationError", err)
			}
			if ve.Kind != KindOf(o) || ve.Namespace != o.GetNamespace() || ve.Name != o.GetName() {
				t.Errorf("error names %s %s/%s, want %s %s/%s", ve.Kind, ve.Namespace, ve.Name, KindOf(o), o.GetNamespace(), o.GetName())
			}
			if len(ve.Errors) != len(tt.want) {
				t.Errorf("%d field errors, want %d", len(ve.Errors), len(tt.want))
			}
		})
	}
}

func TestValidateNames(t *testing.T) {
	long := func(n int) string { return strings.Repeat("a", n) }
	runValidateCases(t, []validateCase{
		{
			name: "a NetworkPolicy name that is a DNS label is valid",
			in:   withMeta("NetworkPolicy", "{name: allow-tcp-6379, namespace: ns}"),
		},
		{
			name: "a NetworkPolicy name of two labels is valid",
			in:   withMeta("NetworkPolicy", "{name: security.allow-dns, namespace: ns}"),
		},
		{
			name: "a NetworkPolicy name of three labels is refused",
			in:   withMeta("NetworkPolicy", "{name: a.b.c, namespace: ns}"),
			want: []string{`NetworkPolicy ns/a.b.c: metadata.name: "a.b.c" is not a valid policy name: must be a lower case DNS label (a-z, 0-9, '-'), optionally followed by '.' and a second label, or start with "knp.default." or "ossg.default."`},
		},
		{
			name: "a NetworkPolicy converted from Kubernetes may have more dots after knp.default.",
			in:   withMeta("NetworkPolicy", "{name: knp.default.allow.web, namespace: ns}"),
		},
		{
			name: "a NetworkPolicy from an OpenStack security group may have more dots after ossg.default.",
			in:   withMeta("NetworkPolicy", "{name: ossg.default.sg.1, namespace: ns}"),
		},
		{
			name: "a NetworkPolicy name with upper case and an underscore is refused",
			in:   withMeta("NetworkPolicy", "{name: Allow_All, namespace: ns}"),
			want: []string{`NetworkPolicy ns/Allow_All: metadata.name: "Allow_All" is not a valid policy name: must be a lower case DNS label (a-z, 0-9, '-'), optionally followed by '.' and a second label, or start with "knp.default." or "ossg.default."`},
		},
		{
			name: "a NetworkPolicy name that ends in a dash is refused",
			in:   withMeta("StagedNetworkPolicy", "{name: deny-, namespace: ns}"),
			want: []string{`StagedNetworkPolicy ns/deny-: metadata.name: "deny-" is not a valid policy name: must be a lower case DNS label (a-z, 0-9, '-'), optionally followed by '.' and a second label, or start with "knp.default." or "ossg.default."`},
		},
		{
			name: "a policy name of 253 bytes is valid",
			in:   withMeta("GlobalNetworkPolicy", "{name: "+long(253)+"}"),
		},
		{
			name: "a policy name of 254 bytes is too long",
			in:   withMeta("GlobalNetworkPolicy", "{name: "+long(254)+"}"),
			want: []string{"GlobalNetworkPolicy " + long(254) + ": metadata.name: " + fmt.Sprintf("%q", long(80)) + "... is too long: 254 bytes, more than the maximum of 253"},
		},
		{
			name: "a GlobalNetworkPolicy name of two labels is valid",
			in:   withMeta("StagedGlobalNetworkPolicy", "{name: security.allow}"),
		},
		{
			name: "a GlobalNetworkPolicy name of three labels is refused",
			in:   withMeta("GlobalNetworkPolicy", "{name: a.b.c}"),
			want: []string{`GlobalNetworkPolicy a.b.c: metadata.name: "a.b.c" is not a valid policy name: must be a lower case DNS label (a-z, 0-9, '-'), optionally preceded by a label and '.'`},
		},
		{
			name: "a GlobalNetworkPolicy may not use the knp.default. form",
			in:   withMeta("GlobalNetworkPolicy", "{name: knp.default.x}"),
			want: []string{`GlobalNetworkPolicy knp.default.x: metadata.name: "knp.default.x" is not a valid policy name: must be a lower case DNS label (a-z, 0-9, '-'), optionally preceded by a label and '.'`},
		},
		{
			name: "a resource without a name is refused",
			in:   withMeta("GlobalNetworkSet", "{labels: {a: b}}"),
			want: []string{"GlobalNetworkSet: metadata.name: must be specified"},
		},
		{
			name: "a tier name of 63 bytes is valid",
			in:   header + "kind: Tier\nmetadata: {name: " + long(63) + "}\nspec: {order: 10}\n",
		},
		{
			name: "a tier name of 64 bytes is too long",
			in:   header + "kind: Tier\nmetadata: {name: " + long(64) + "}\nspec: {order: 10}\n",
			want: []string{"Tier " + long(64) + ": metadata.name: " + fmt.Sprintf("%q", long(64)) + " is too long: 64 bytes, more than the maximum of 63"},
		},
		{
			name: "a tier name may not contain a dot",
			in:   header + "kind: Tier\nmetadata: {name: team.a}\nspec: {order: 10}\n",
			want: []string{`Tier team.a: metadata.name: "team.a" is not a valid tier name: must consist of lower case alphanumeric characters or '-', and start and end with an alphanumeric character`},
		},
		{
			name: "a policy's tier is checked as a tier name",
			in:   np("{tier: Security}"),
			want: []string{`NetworkPolicy ns/p: spec.tier: "Security" is not a valid tier name: must consist of lower case alphanumeric characters or '-', and start and end with an alphanumeric character`},
		},
		{
			name: "other kinds take DNS subdomain names with any number of dots",
			in:   withMeta("Profile", "{name: kns.advanced-policy-demo.x}"),
		},
		{
			name: "other kinds refuse names outside the DNS subdomain format",
			in:   withMeta("Profile", "{name: ksa_default}"),
			want: []string{`Profile ksa_default: metadata.name: "ksa_default" is not a valid name: must consist of lower case alphanumeric characters, '-' or '.', and start and end with an alphanumeric character`},
		},
		{
			name: "other kinds refuse names longer than 253 bytes",
			in:   withMeta("GlobalNetworkSet", "{name: "+long(254)+"}"),
			want: []string{"GlobalNetworkSet " + long(254) + ": metadata.name: " + fmt.Sprintf("%q", long(80)) + "... is too long: 254 bytes, more than the maximum of 253"},
		},
		{
			name: "label keys must be qualified names and label values valid label values",
			in:   withMeta("GlobalNetworkSet", `{name: s, labels: {"bad key": x, ok: "bad value!"}}`),
			want: []string{
				`GlobalNetworkSet s: metadata.labels["bad key"]: "bad key" is not a valid label key: name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')`,
				`GlobalNetworkSet s: metadata.labels["ok"]: "bad value!" is not a valid label value: a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')`,
			},
		},
		{
			name: "a name with a line break is quoted where it names the resource",
			in:   withMeta("GlobalNetworkSet", `{name: "a\nb"}`),
			want: []string{`GlobalNetworkSet "a\nb": metadata.name: "a\nb" is not a valid name: must consist of lower case alphanumeric characters, '-' or '.', and start and end with an alphanumeric character`},
		},
		{
			name: "annotation keys must be qualified names",
			in:   withMeta("GlobalNetworkSet", `{name: s, annotations: {"a/b/c": x}}`),
			want: []string{`GlobalNetworkSet s: metadata.annotations["a/b/c"]: "a/b/c" is not a valid annotation key: a valid label key must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')`},
		},
		{
			name: "annotations may total at most 256 KiB",
			in:   withMeta("GlobalNetworkSet", `{name: s, annotations: {a: `+long(256*1024)+`}}`),
			want: []string{"GlobalNetworkSet s: metadata.annotations: total size is 262145 bytes, more than the maximum of 262144"},
		},
	})
}

func TestValidateNamespaces(t *testing.T) {
	var tests []validateCase
	for _, k := range Kinds() {
		if k.Namespaced {
			tests = append(tests, validateCase{
				name: "a " + k.Kind + " without a namespace is refused",
				obj:  withName(k.New(), "x", ""),
				want: []string{k.Kind + " x: metadata.namespace: must be specified: " + k.Kind + " is namespaced"},
			})
			continue
		}
		tests = append(tests, validateCase{
			name: "a " + k.Kind + " with a namespace is refused",
			obj:  withName(k.New(), "x", "ns"),
			want: []string{k.Kind + " ns/x: metadata.namespace: \"ns\" must be empty: " + k.Kind + " is not namespaced"},
		})
	}
	tests = append(tests, validateCase{
		name: "a namespace must be a DNS label",
		in:   withMeta("NetworkPolicy", "{name: p, namespace: Prod.EU}"),
		want: []string{`NetworkPolicy Prod.EU/p: metadata.namespace: "Prod.EU" is not a valid namespace: a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`},
	})
	runValidateCases(t, tests)
}

// withName gives o a name and namespace and, for kinds that need more to
// be valid, the least that makes them so: whatever Validate still reports
// is then about the namespace.
func withName(o Object, name, namespace string) Object {
	o.SetName(name)
	o.SetNamespace(namespace)
	switch r := o.(type) {
	case *WorkloadEndpoint:
		r.Spec = WorkloadEndpointSpec{Node: "n", InterfaceName: "cali0"}
	case *HostEndpoint:
		r.Spec = HostEndpointSpec{Node: "n", InterfaceName: "eth0"}
	}
	return o
}

func TestValidateSelectors(t *testing.T) {
	runValidateCases(t, []validateCase{
		{
			name: "a policy selector that does not parse names the position",
			in:   np("{selector: color == red}"),
			want: []string{`NetworkPolicy ns/p: spec.selector: "color == red" is not a valid selector: expected string at position 9`},
		},
		{
			name: "every selector field of a global policy and its rules is parsed",
			in: gnp(`{selector: "a ==", namespaceSelector: "has(", serviceAccountSelector: "!", ingress: [{action: Allow,
				source: {selector: "x in {", notSelector: "&&", namespaceSelector: "a = 'b'", serviceAccounts: {selector: "a ||"}}}]}`),
			want: []string{
				`GlobalNetworkPolicy p: spec.selector: "a ==" is not a valid selector: expected string at position 4`,
				`GlobalNetworkPolicy p: spec.serviceAccountSelector: "!" is not a valid selector: unexpected end of selector at position 1`,
				`GlobalNetworkPolicy p: spec.namespaceSelector: "has(" is not a valid selector: expected identifier at position 4`,
				`GlobalNetworkPolicy p: spec.ingress[0].source.selector: "x in {" is not a valid selector: expected } at position 6`,
				`GlobalNetworkPolicy p: spec.ingress[0].source.notSelector: "&&" is not a valid selector: unexpected "&&" at position 0`,
				`GlobalNetworkPolicy p: spec.ingress[0].source.namespaceSelector: "a = 'b'" is not a valid selector: expected == at position 2`,
				`GlobalNetworkPolicy p: spec.ingress[0].source.serviceAccounts.selector: "a ||" is not a valid selector: expected operator after label "a" at position 2`,
			},
		},
		{
			name: "a selector longer than 1024 bytes is refused",
			in:   np(`{selector: "has(` + strings.Repeat("a", 1020) + `)"}`),
			want: []string{`NetworkPolicy ns/p: spec.selector: "has(` + strings.Repeat("a", 76) + `"... is too long: 1025 bytes, more than the maximum of 1024`},
		},
		{
			name: "global() is refused in a policy selector",
			in:   gnp(`{selector: "global()", namespaceSelector: "global()"}`),
			want: []string{
				`GlobalNetworkPolicy p: spec.selector: "global()" uses global(), which can only be used in an EntityRule namespaceSelector`,
				`GlobalNetworkPolicy p: spec.namespaceSelector: "global()" uses global(), which can only be used in an EntityRule namespaceSelector`,
			},
		},
		{
			name: "global() is refused in a rule's selector",
			in:   ingressRule(`{action: Allow, source: {notSelector: "global()"}}`),
			want: []string{`NetworkPolicy ns/p: spec.ingress[0].source.notSelector: "global()" uses global(), which can only be used in an EntityRule namespaceSelector`},
		},
		{
			name: "global() on its own is valid as a rule's namespaceSelector",
			in:   ingressRule(`{action: Allow, source: {namespaceSelector: "global()", selector: "role == 'db'"}}`),
		},
		{
			name: "global() combined with another selector is refused in a rule's namespaceSelector",
			in:   ingressRule(`{action: Allow, destination: {namespaceSelector: "global() || has(x)"}}`),
			want: []string{`NetworkPolicy ns/p: spec.ingress[0].destination.namespaceSelector: "global() || has(x)" combines global() with other selectors, which is not allowed`},
		},
	})
}

func TestValidateRuleActionsAndProtocols(t *testing.T) {
	const anyProtocol = "is not a valid protocol: must be TCP, UDP, ICMP, ICMPv6, SCTP, UDPLite or a number from 1 to 255"
	runValidateCases(t, []validateCase{
		{
			name: "the four actions are valid",
			in:   np("{ingress: [{action: Allow}, {action: Deny}, {action: Log}, {action: Pass}]}"),
		},
		{
			name: "an action in lower case is refused",
			in:   ingressRule("{action: allow}"),
			want: []string{`NetworkPolicy ns/p: spec.ingress[0].action: "allow" is not a valid action: must be Allow, Deny, Log or Pass`},
		},
		{
			name: "a rule without an action is refused",
			in:   egressRule("{protocol: TCP}"),
			want: []string{`NetworkPolicy ns/p: spec.egress[0].action: "" is not a valid action: must be Allow, Deny, Log or Pass`},
		},
		{
			name: "every protocol name and the numbers 1 and 255 are valid",
			in: np(`{ingress: [{action: Allow, protocol: TCP}, {action: Allow, protocol: UDP}, {action: Allow, protocol: ICMP},
				{action: Allow, protocol: ICMPv6}, {action: Allow, protocol: SCTP}, {action: Allow, protocol: UDPLite},
				{action: Allow, protocol: 1}, {action: Allow, notProtocol: 255}, {action: Allow, protocol: "17"}]}`),
		},
		{
			name: "protocol names are case sensitive and numbers run from 1 to 255",
			in: np(`{ingress: [{action: Allow, protocol: tcp}, {action: Allow, notProtocol: 0},
				{action: Allow, protocol: 256}, {action: Allow, notProtocol: GRE}]}`),
			want: []string{
				`NetworkPolicy ns/p: spec.ingress[0].protocol: "tcp" ` + anyProtocol,
				`NetworkPolicy ns/p: spec.ingress[1].notProtocol: "0" ` + anyProtocol,
				`NetworkPolicy ns/p: spec.ingress[2].protocol: "256" ` + anyProtocol,
				`NetworkPolicy ns/p: spec.ingress[3].notProtocol: "GRE" ` + anyProtocol,
			},
		},
		{
			name: "ipVersion is 4 or 6",
			in:   np(`{ingress: [{action: Allow, ipVersion: 4}, {action: Allow, ipVersion: 6}, {action: Allow, ipVersion: 5}]}`),
			want: []string{`NetworkPolicy ns/p: spec.ingress[2].ipVersion: "5" must be 4 or 6`},
		},
		{
			name: "rule annotations must have valid keys",
			in:   ingressRule(`{action: Allow, metadata: {annotations: {"-bad": x}}}`),
			want: []string{`NetworkPolicy ns/p: spec.ingress[0].metadata.annotations["-bad"]: "-bad" is not a valid annotation key: name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')`},
		},
	})
}

func TestValidatePorts(t *testing.T) {
	const notAPort = "is not a port or port range"
	runValidateCases(t, []validateCase{
		{
			name: "numbers, ranges and named ports are valid with TCP, UDP and SCTP",
			in: np(`{ingress: [{action: Allow, protocol: TCP, destination: {ports: [1, 65535, "1:65535", "80:80", http-alt]}},
				{action: Allow, protocol: UDP, source: {notPorts: [53]}}, {action: Allow, protocol: SCTP, destination: {notPorts: ["9000:9100"]}}]}`),
		},
		{
			name: "the numbers of TCP, UDP and SCTP have ports too",
			in:   np(`{ingress: [{action: Allow, protocol: 6, destination: {ports: [80]}}, {action: Allow, protocol: 17, source: {ports: [53]}}, {action: Allow, protocol: 132, source: {ports: [1]}}]}`),
		},
		{
			name: "the issue's example: a port above 65535 is not a port",
			in:   header + "kind: NetworkPolicy\nmetadata: {name: allow-tcp-6379, namespace: default}\nspec: {ingress: [{action: Allow, protocol: TCP, destination: {ports: [6379, 70000]}}]}\n",
			want: []string{`NetworkPolicy default/allow-tcp-6379: spec.ingress[0].destination.ports[1]: "70000" is not a port or port range`},
		},
		{
			name: "port 0 and ranges outside 1-65535 are refused in every port list",
			in: ingressRule(`{action: Allow, protocol: TCP, source: {ports: [0], notPorts: ["0:80"]},
				destination: {ports: ["1:65536"], notPorts: [-1]}}`),
			want: []string{
				`NetworkPolicy ns/p: spec.ingress[0].source.ports[0]: "0" ` + notAPort,
				`NetworkPolicy ns/p: spec.ingress[0].source.notPorts[0]: "0:80" ` + notAPort,
				`NetworkPolicy ns/p: spec.ingress[0].destination.ports[0]: "1:65536" ` + notAPort,
				`NetworkPolicy ns/p: spec.ingress[0].destination.notPorts[0]: "-1" ` + notAPort,
			},
		},
		{
			name: "a range must go upwards",
			in:   ingressRule(`{action: Allow, protocol: TCP, destination: {ports: ["2000:1000"]}}`),
			want: []string{`NetworkPolicy ns/p: spec.ingress[0].destination.ports[0]: "2000:1000" is not a valid port range: the first port is greater than the second`},
		},
		{
			name: "a named port must be a valid Kubernetes port name",
			in:   ingressRule(`{action: Allow, protocol: TCP, destination: {ports: [Http_Port, a-very-long-port-name, "80:", "-http"]}}`),
			want: []string{
				`NetworkPolicy ns/p: spec.ingress[0].destination.ports[0]: "Http_Port" is not a valid port name: must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)`,
				`NetworkPolicy ns/p: spec.ingress[0].destination.ports[1]: "a-very-long-port-name" is not a valid port name: must be no more than 15 characters`,
				`NetworkPolicy ns/p: spec.ingress[0].destination.ports[2]: "80:" ` + notAPort,
				`NetworkPolicy ns/p: spec.ingress[0].destination.ports[3]: "-http" is not a valid port name: must not begin or end with a hyphen`,
			},
		},
		{
			name: "without a protocol only named ports are allowed",
			in:   np(`{ingress: [{action: Allow, destination: {ports: [http]}}, {action: Allow, source: {notPorts: [http, 22]}}]}`),
			want: []string{`NetworkPolicy ns/p: spec.ingress[1].source.notPorts: rules with numeric ports or port ranges must set protocol to TCP, UDP or SCTP`},
		},
		{
			name: "a protocol without ports refuses even named ports",
			in:   np(`{ingress: [{action: Allow, protocol: ICMP, destination: {ports: [http]}}, {action: Allow, protocol: 1, source: {ports: [22]}}]}`),
			want: []string{
				`NetworkPolicy ns/p: spec.ingress[0].destination.ports: rules that specify ports must set protocol to TCP, UDP or SCTP, not ICMP`,
				`NetworkPolicy ns/p: spec.ingress[1].source.ports: rules that specify ports must set protocol to TCP, UDP or SCTP, not 1`,
			},
		},
		{
			name: "UDPLite is valid but has no ports, as in Calico",
			in: np(`{ingress: [{action: Allow, protocol: UDPLite}, {action: Allow, protocol: UDPLite, destination: {notPorts: [5000]}},
				{action: Allow, protocol: 136, source: {ports: [5000]}}]}`),
			want: []string{
				`NetworkPolicy ns/p: spec.ingress[1].destination.notPorts: rules that specify ports must set protocol to TCP, UDP or SCTP, not UDPLite`,
				`NetworkPolicy ns/p: spec.ingress[2].source.ports: rules that specify ports must set protocol to TCP, UDP or SCTP, not 136`,
			},
		},
		{
			name: "a port list holds at most 50 entries",
			in:   ingressRule(`{action: Allow, protocol: TCP, destination: {ports: [` + strings.Repeat("80, ", 50) + `81]}}`),
			want: []string{`NetworkPolicy ns/p: spec.ingress[0].destination.ports: has 51 entries, more than the maximum of 50`},
		},
	})
}

func TestValidateICMP(t *testing.T) {
	runValidateCases(t, []validateCase{
		{
			name: "ICMP types 0 to 254 and codes 0 to 255 are valid with ICMP and ICMPv6",
			in: np(`{ingress: [{action: Allow, protocol: ICMP, icmp: {type: 0, code: 255}}, {action: Allow, protocol: ICMPv6, notICMP: {type: 254}},
				{action: Allow, protocol: 1, ipVersion: 4, icmp: {type: 8}}, {action: Allow, protocol: 58, ipVersion: 6, icmp: {type: 128, code: 0}}]}`),
		},
		{
			name: "an ICMP type above 254 or below 0 is refused",
			in:   np(`{ingress: [{action: Allow, protocol: ICMP, icmp: {type: 255}}, {action: Allow, protocol: ICMP, notICMP: {type: -1}}]}`),
			want: []string{
				`NetworkPolicy ns/p: spec.ingress[0].icmp.type: "255" must be between 0 and 254`,
				`NetworkPolicy ns/p: spec.ingress[1].notICMP.type: "-1" must be between 0 and 254`,
			},
		},
		{
			name: "an ICMP code above 255 is refused",
			in:   ingressRule(`{action: Allow, protocol: ICMP, icmp: {type: 3, code: 256}}`),
			want: []string{`NetworkPolicy ns/p: spec.ingress[0].icmp.code: "256" must be between 0 and 255`},
		},
		{
			name: "an ICMP code needs a type",
			in:   np(`{ingress: [{action: Allow, protocol: ICMP, icmp: {code: 0}}, {action: Allow, protocol: ICMPv6, notICMP: {code: 1}}]}`),
			want: []string{
				`NetworkPolicy ns/p: spec.ingress[0].icmp.code: cannot be given without a type`,
				`NetworkPolicy ns/p: spec.ingress[1].notICMP.code: cannot be given without a type`,
			},
		},
		{
			name: "ICMP matches need protocol ICMP or ICMPv6",
			in:   np(`{ingress: [{action: Allow, icmp: {type: 8}}, {action: Allow, protocol: TCP, notICMP: {type: 8}}, {action: Allow, notProtocol: ICMP, icmp: {type: 0}}]}`),
			want: []string{
				`NetworkPolicy ns/p: spec.ingress[0].icmp: ICMP matches require protocol ICMP or ICMPv6`,
				`NetworkPolicy ns/p: spec.ingress[1].notICMP: ICMP matches require protocol ICMP or ICMPv6`,
				`NetworkPolicy ns/p: spec.ingress[2].icmp: ICMP matches require protocol ICMP or ICMPv6`,
			},
		},
		{
			name: "ICMP goes with ipVersion 4 and ICMPv6 with ipVersion 6, in protocol and notProtocol",
			in: np(`{ingress: [{action: Allow, protocol: ICMP, ipVersion: 6}, {action: Allow, protocol: ICMPv6, ipVersion: 4},
				{action: Allow, notProtocol: ICMP, ipVersion: 6}, {action: Allow, protocol: 58, ipVersion: 4}]}`),
			want: []string{
				`NetworkPolicy ns/p: spec.ingress[0].ipVersion: "6" must be 4 with protocol ICMP`,
				`NetworkPolicy ns/p: spec.ingress[1].ipVersion: "4" must be 6 with protocol ICMPv6`,
				`NetworkPolicy ns/p: spec.ingress[2].ipVersion: "6" must be 4 with notProtocol ICMP`,
				`NetworkPolicy ns/p: spec.ingress[3].ipVersion: "4" must be 6 with protocol 58`,
			},
		},
	})
}

func TestValidateNets(t *testing.T) {
	runValidateCases(t, []validateCase{
		{
			name: "strictly masked IPv4 and IPv6 CIDRs are valid in every nets field",
			in: np(`{ingress: [{action: Allow, source: {nets: [10.0.0.0/8, 192.168.1.1/32], notNets: [10.1.0.0/16]},
				destination: {nets: [0.0.0.0/0], notNets: [10.0.0.5/32]}}, {action: Deny, ipVersion: 6, source: {nets: ["fd00::/8", "::/0"]}}]}`),
		},
		{
			name: "a bare address is not a CIDR",
			in:   ingressRule(`{action: Allow, source: {nets: [10.0.0.1, "fd00::1"]}}`),
			want: []string{
				`NetworkPolicy ns/p: spec.ingress[0].source.nets[0]: "10.0.0.1" is not a CIDR: add a prefix length, such as /32 or /128`,
				`NetworkPolicy ns/p: spec.ingress[0].source.nets[1]: "fd00::1" is not a CIDR: add a prefix length, such as /32 or /128`,
			},
		},
		{
			name: "a value that is not an address is not a CIDR",
			in:   ingressRule(`{action: Allow, destination: {notNets: [example.com, 10.0.0.0/33]}}`),
			want: []string{
				`NetworkPolicy ns/p: spec.ingress[0].destination.notNets[0]: "example.com" is not a valid CIDR`,
				`NetworkPolicy ns/p: spec.ingress[0].destination.notNets[1]: "10.0.0.0/33" is not a valid CIDR`,
			},
		},
		{
			name: "a CIDR with host bits set is refused with the network it means",
			in:   np(`{egress: [{action: Deny, destination: {nets: [1.2.3.4/24]}}, {action: Deny, source: {notNets: ["fd00::1/64"]}}]}`),
			want: []string{
				`NetworkPolicy ns/p: spec.egress[0].destination.nets[0]: "1.2.3.4/24" is not a strictly masked CIDR: did you mean "1.2.3.0/24"?`,
				`NetworkPolicy ns/p: spec.egress[1].source.notNets[0]: "fd00::1/64" is not a strictly masked CIDR: did you mean "fd00::/64"?`,
			},
		},
		{
			name: "CIDRs must agree with the rule's ipVersion",
			in:   np(`{egress: [{action: Allow, ipVersion: 4, destination: {nets: ["fd00::/8"]}}, {action: Allow, ipVersion: 6, source: {notNets: [10.0.0.0/8]}}]}`),
			want: []string{
				`NetworkPolicy ns/p: spec.egress[0].destination.nets[0]: "fd00::/8" is an IPv6 CIDR, but the rule's ipVersion is 4`,
				`NetworkPolicy ns/p: spec.egress[1].source.notNets[0]: "10.0.0.0/8" is an IPv4 CIDR, but the rule's ipVersion is 6`,
			},
		},
		{
			name: "a rule may not mix IPv4 and IPv6 CIDRs within a field or across fields",
			in:   np(`{egress: [{action: Allow, source: {nets: [10.0.0.0/8, "fd00::/8"]}}, {action: Allow, source: {nets: [10.0.0.0/8]}, destination: {notNets: ["fd00::/8"]}}]}`),
			want: []string{
				`NetworkPolicy ns/p: spec.egress[0].source.nets: mixes IPv4 and IPv6 CIDRs within the rule`,
				`NetworkPolicy ns/p: spec.egress[1].destination.notNets: mixes IPv4 and IPv6 CIDRs within the rule`,
			},
		},
		{
			name: "a catch-all CIDR in a negation is refused",
			in:   np(`{egress: [{action: Allow, destination: {notNets: [0.0.0.0/0]}}, {action: Allow, source: {notNets: ["::/0"]}}]}`),
			want: []string{
				`NetworkPolicy ns/p: spec.egress[0].destination.notNets[0]: "0.0.0.0/0" matches everything: in a negation it makes the rule match nothing`,
				`NetworkPolicy ns/p: spec.egress[1].source.notNets[0]: "::/0" matches everything: in a negation it makes the rule match nothing`,
			},
		},
		{
			name: "a nets list holds at most 256 entries",
			in:   egressRule(`{action: Allow, destination: {nets: [` + strings.Repeat("10.0.0.0/8, ", 256) + `10.0.0.0/8]}}`),
			want: []string{`NetworkPolicy ns/p: spec.egress[0].destination.nets: has 257 entries, more than the maximum of 256`},
		},
	})
}

func TestValidateHTTP(t *testing.T) {
	runValidateCases(t, []validateCase{
		{
			name: "an Allow ingress rule may match HTTP methods and paths, with protocol TCP or none",
			in: np(`{ingress: [{action: Allow, http: {methods: [GET, PUT], paths: [{exact: /projects/calico}, {prefix: /users}]}},
				{action: Allow, protocol: TCP, http: {methods: [POST]}}]}`),
		},
		{
			name: "HTTP matches are only valid on Allow rules",
			in:   np(`{ingress: [{action: Deny, http: {methods: [GET]}}, {action: Log, http: {methods: [GET]}}, {action: Pass, http: {methods: [GET]}}]}`),
			want: []string{
				`NetworkPolicy ns/p: spec.ingress[0].http: HTTP matches are only valid on Allow rules`,
				`NetworkPolicy ns/p: spec.ingress[1].http: HTTP matches are only valid on Allow rules`,
				`NetworkPolicy ns/p: spec.ingress[2].http: HTTP matches are only valid on Allow rules`,
			},
		},
		{
			name: "HTTP matches are not allowed in the egress rules of any policy kind",
			in:   gnp(`{egress: [{action: Allow, http: {methods: [GET]}}]}`),
			want: []string{`GlobalNetworkPolicy p: spec.egress[0].http: is not allowed in egress rules`},
		},
		{
			name: "HTTP matches are not allowed in the egress rules of a staged policy",
			in:   snp(`{egress: [{action: Allow, http: {methods: [GET]}}]}`),
			want: []string{`StagedNetworkPolicy ns/p: spec.egress[0].http: is not allowed in egress rules`},
		},
		{
			name: "a profile's egress rule may match HTTP, as Calico checks direction only on policies",
			in:   header + "kind: Profile\nmetadata: {name: p}\nspec: {egress: [{action: Allow, http: {methods: [GET]}}]}\n",
		},
		{
			name: "a profile's HTTP rule must still be an Allow rule",
			in:   header + "kind: Profile\nmetadata: {name: p}\nspec: {ingress: [{action: Deny, http: {methods: [GET]}}]}\n",
			want: []string{`Profile p: spec.ingress[0].http: HTTP matches are only valid on Allow rules`},
		},
		{
			name: "HTTP needs protocol TCP by name, or none",
			in:   np(`{ingress: [{action: Allow, protocol: UDP, http: {methods: [GET]}}, {action: Allow, protocol: 6, http: {methods: [GET]}}]}`),
			want: []string{
				`NetworkPolicy ns/p: spec.ingress[0].protocol: "UDP" must be TCP, or left out, when http is set`,
				`NetworkPolicy ns/p: spec.ingress[1].protocol: "6" must be TCP, or left out, when http is set`,
			},
		},
		{
			name: "HTTP methods may not repeat and number at most 20",
			in: np(`{ingress: [{action: Allow, http: {methods: [GET, PUT, GET]}},
				{action: Allow, http: {methods: [` + strings.Repeat("GET, ", 20) + `GET]}}]}`),
			want: append([]string{
				`NetworkPolicy ns/p: spec.ingress[0].http.methods[2]: "GET" is listed more than once`,
				`NetworkPolicy ns/p: spec.ingress[1].http.methods: has 21 entries, more than the maximum of 20`,
			}, repeatedMethodLines(1, 21)...),
		},
		{
			name: "an HTTP path sets exactly one of exact and prefix, starting with / and without ?, # or spaces",
			in: ingressRule(`{action: Allow, http: {paths: [{exact: /a, prefix: /b}, {}, {exact: "a"}, {prefix: "/a?b"},
				{exact: "/a#b"}, {prefix: "/a b"}, {exact: "/` + strings.Repeat("a", 1024) + `"}]}}`),
			want: []string{
				`NetworkPolicy ns/p: spec.ingress[0].http.paths[0]: must set exactly one of exact or prefix, not both`,
				`NetworkPolicy ns/p: spec.ingress[0].http.paths[1]: must set one of exact or prefix`,
				`NetworkPolicy ns/p: spec.ingress[0].http.paths[2].exact: "a" must start with "/" and contain no '?', '#' or space`,
				`NetworkPolicy ns/p: spec.ingress[0].http.paths[3].prefix: "/a?b" must start with "/" and contain no '?', '#' or space`,
				`NetworkPolicy ns/p: spec.ingress[0].http.paths[4].exact: "/a#b" must start with "/" and contain no '?', '#' or space`,
				`NetworkPolicy ns/p: spec.ingress[0].http.paths[5].prefix: "/a b" must start with "/" and contain no '?', '#' or space`,
				`NetworkPolicy ns/p: spec.ingress[0].http.paths[6].exact: "/` + strings.Repeat("a", 79) + `"... is too long: 1025 bytes, more than the maximum of 1024`,
			},
		},
		{
			name: "an HTTP match holds at most 20 paths",
			in:   ingressRule(`{action: Allow, http: {paths: [` + strings.Repeat("{prefix: /}, ", 20) + `{prefix: /}]}}`),
			want: []string{`NetworkPolicy ns/p: spec.ingress[0].http.paths: has 21 entries, more than the maximum of 20`},
		},
	})
}

// repeatedMethodLines are the errors for methods from..to-1 of ingress
// rule 1, each a repeat of GET.
func repeatedMethodLines(from, to int) []string {
	var lines []string
	for i := from; i < to; i++ {
		lines = append(lines, fmt.Sprintf(`NetworkPolicy ns/p: spec.ingress[1].http.methods[%d]: "GET" is listed more than once`, i))
	}
	return lines
}

func TestValidateServices(t *testing.T) {
	runValidateCases(t, []validateCase{
		{
			name: "a service may be the destination of an egress rule or the source of an ingress rule",
			in: np(`{egress: [{action: Allow, destination: {services: {name: kube-dns, namespace: kube-system}}}],
				ingress: [{action: Allow, source: {services: {name: frontend}}}]}`),
		},
		{
			name: "a service in the wrong place of a rule is refused",
			in: np(`{egress: [{action: Allow, source: {services: {name: a}}}],
				ingress: [{action: Allow, destination: {services: {name: b}}}]}`),
			want: []string{
				`NetworkPolicy ns/p: spec.ingress[0].destination.services: is not allowed in the destination of an ingress rule`,
				`NetworkPolicy ns/p: spec.egress[0].source.services: is not allowed in the source of an egress rule`,
			},
		},
		{
			name: "a global policy's service needs a namespace",
			in: gnp(`{egress: [{action: Allow, destination: {services: {name: a}}}],
				ingress: [{action: Allow, source: {services: {name: b}}}]}`),
			want: []string{
				`GlobalNetworkPolicy p: spec.ingress[0].source.services.namespace: must be specified in a global policy`,
				`GlobalNetworkPolicy p: spec.egress[0].destination.services.namespace: must be specified in a global policy`,
			},
		},
		{
			name: "a service match needs a name and stands alone",
			in: egressRule(`{action: Allow, protocol: TCP, destination: {services: {namespace: Kube_System}, ports: [53], notPorts: [54],
				selector: "a == 'b'", notSelector: "has(c)", namespaceSelector: "all()", serviceAccounts: {names: [x]}, nets: [10.0.0.0/8], notNets: [10.1.0.0/16]}}`),
			want: []string{
				`NetworkPolicy ns/p: spec.egress[0].destination.services.name: must be specified`,
				`NetworkPolicy ns/p: spec.egress[0].destination.services.namespace: "Kube_System" is not a valid name: must consist of lower case alphanumeric characters, '-' or '.', and start and end with an alphanumeric character`,
				`NetworkPolicy ns/p: spec.egress[0].destination.services: cannot be combined with namespaceSelector`,
				`NetworkPolicy ns/p: spec.egress[0].destination.services: cannot be combined with selector`,
				`NetworkPolicy ns/p: spec.egress[0].destination.services: cannot be combined with notSelector`,
				`NetworkPolicy ns/p: spec.egress[0].destination.services: cannot be combined with serviceAccounts`,
				`NetworkPolicy ns/p: spec.egress[0].destination.services: cannot be combined with nets`,
				`NetworkPolicy ns/p: spec.egress[0].destination.services: cannot be combined with notNets`,
				`NetworkPolicy ns/p: spec.egress[0].destination.ports: cannot be combined with destination.services, whose ports come from the service`,
				`NetworkPolicy ns/p: spec.egress[0].destination.notPorts: cannot be combined with destination.services`,
			},
		},
	})
}

func TestValidatePolicySpec(t *testing.T) {
	runValidateCases(t, []validateCase{
		{
			name: "types Ingress and Egress are valid",
			in:   np("{types: [Ingress, Egress]}"),
		},
		{
			name: "a type that is neither Ingress nor Egress is refused",
			in:   np("{types: [Ingress, ingress, Both]}"),
			want: []string{
				`NetworkPolicy ns/p: spec.types[1]: "ingress" is not a valid policy type: must be Ingress or Egress`,
				`NetworkPolicy ns/p: spec.types[2]: "Both" is not a valid policy type: must be Ingress or Egress`,
			},
		},
		{
			name: "a type listed twice is refused",
			in:   gnp("{types: [Egress, Ingress, Egress]}"),
			want: []string{`GlobalNetworkPolicy p: spec.types[2]: "Egress" is listed more than once`},
		},
		{
			name: "an order may be any finite number",
			in:   np("{order: -12.5}"),
		},
		{
			name: "an infinite policy order is refused",
			obj: &NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns"},
				Spec: NetworkPolicySpec{Order: ptr(math.Inf(1))}},
			want: []string{`NetworkPolicy ns/p: spec.order: "+Inf" must be a finite number`},
		},
		{
			name: "a NaN policy order is refused",
			obj: &StagedGlobalNetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "p"},
				Spec: StagedGlobalNetworkPolicySpec{Order: ptr(math.NaN())}},
			want: []string{`StagedGlobalNetworkPolicy p: spec.order: "NaN" must be a finite number`},
		},
		{
			name: "an infinite tier order is refused",
			obj:  &Tier{ObjectMeta: metav1.ObjectMeta{Name: "t"}, Spec: TierSpec{Order: ptr(math.Inf(-1))}},
			want: []string{`Tier t: spec.order: "-Inf" must be a finite number`},
		},
		{
			name: "a policy holds at most 1024 rules in each direction",
			in:   np("{ingress: [" + strings.Repeat("{action: Allow}, ", 1024) + "{action: Allow}]}"),
			want: []string{`NetworkPolicy ns/p: spec.ingress: has 1025 rules, more than the maximum of 1024`},
		},
		{
			name: "the only performance hint is AssumeNeededOnEveryNode, once",
			in:   np("{performanceHints: [AssumeNeededOnEveryNode, Fast, AssumeNeededOnEveryNode]}"),
			want: []string{
				`NetworkPolicy ns/p: spec.performanceHints[1]: "Fast" is not a valid performance hint: must be AssumeNeededOnEveryNode`,
				`NetworkPolicy ns/p: spec.performanceHints[2]: "AssumeNeededOnEveryNode" is listed more than once`,
			},
		},
		{
			name: "a staged policy's action is Set, Delete, Learn or Ignore",
			in:   snp("{stagedAction: Remove}"),
			want: []string{`StagedNetworkPolicy ns/p: spec.stagedAction: "Remove" must be Set, Delete, Learn or Ignore`},
		},
		{
			name: "a staged deletion may name its tier",
			in:   snp("{stagedAction: Delete, tier: security}"),
		},
		{
			name: "a staged deletion carries nothing else",
			in: sgnp(`{stagedAction: Delete, order: 1, selector: all(), types: [Ingress], ingress: [{action: Allow}], egress: [{action: Allow}],
				doNotTrack: true, preDNAT: true, applyOnForward: true, serviceAccountSelector: all(), namespaceSelector: all(), performanceHints: [AssumeNeededOnEveryNode]}`),
			want: []string{
				`StagedGlobalNetworkPolicy p: spec.order: "1" must be empty when stagedAction is Delete`,
				`StagedGlobalNetworkPolicy p: spec.ingress: must be empty when stagedAction is Delete`,
				`StagedGlobalNetworkPolicy p: spec.egress: must be empty when stagedAction is Delete`,
				`StagedGlobalNetworkPolicy p: spec.selector: must be empty when stagedAction is Delete`,
				`StagedGlobalNetworkPolicy p: spec.types: must be empty when stagedAction is Delete`,
				`StagedGlobalNetworkPolicy p: spec.doNotTrack: must be empty when stagedAction is Delete`,
				`StagedGlobalNetworkPolicy p: spec.preDNAT: must be empty when stagedAction is Delete`,
				`StagedGlobalNetworkPolicy p: spec.applyOnForward: must be empty when stagedAction is Delete`,
				`StagedGlobalNetworkPolicy p: spec.serviceAccountSelector: must be empty when stagedAction is Delete`,
				`StagedGlobalNetworkPolicy p: spec.namespaceSelector: must be empty when stagedAction is Delete`,
				`StagedGlobalNetworkPolicy p: spec.performanceHints: must be empty when stagedAction is Delete`,
			},
		},
	})
}

func TestValidateHostTrafficOptions(t *testing.T) {
	runValidateCases(t, []validateCase{
		{
			name: "a preDNAT policy with applyOnForward and only ingress rules is valid",
			in:   gnp("{preDNAT: true, applyOnForward: true, ingress: [{action: Deny, protocol: TCP, destination: {ports: [22]}}]}"),
		},
		{
			name: "a doNotTrack policy with applyOnForward may have both directions",
			in:   gnp("{doNotTrack: true, applyOnForward: true, ingress: [{action: Allow}], egress: [{action: Allow}]}"),
		},
		{
			name: "a preDNAT policy needs applyOnForward",
			in:   gnp("{preDNAT: true, ingress: [{action: Allow}]}"),
			want: []string{`GlobalNetworkPolicy p: spec.applyOnForward: must be true when preDNAT or doNotTrack is true`},
		},
		{
			name: "a doNotTrack policy needs applyOnForward",
			in:   sgnp("{doNotTrack: true, ingress: [{action: Allow}]}"),
			want: []string{`StagedGlobalNetworkPolicy p: spec.applyOnForward: must be true when preDNAT or doNotTrack is true`},
		},
		{
			name: "a preDNAT policy may not have egress rules",
			in:   gnp("{preDNAT: true, applyOnForward: true, egress: [{action: Allow}]}"),
			want: []string{
				`GlobalNetworkPolicy p: spec.types[0]: a preDNAT policy cannot have the Egress type`,
				`GlobalNetworkPolicy p: spec.egress: a preDNAT policy cannot have egress rules`,
			},
		},
		{
			name: "a preDNAT policy may not have the Egress type",
			in:   gnp("{preDNAT: true, applyOnForward: true, types: [Ingress, Egress]}"),
			want: []string{`GlobalNetworkPolicy p: spec.types[1]: a preDNAT policy cannot have the Egress type`},
		},
		{
			name: "preDNAT and doNotTrack exclude each other",
			in:   sgnp("{preDNAT: true, doNotTrack: true, applyOnForward: true}"),
			want: []string{`StagedGlobalNetworkPolicy p: spec.preDNAT: preDNAT and doNotTrack cannot both be true`},
		},
	})
}

func TestValidateOtherKinds(t *testing.T) {
	runValidateCases(t, []validateCase{
		{
			name: "the default tier with its fixed settings is valid",
			in:   header + "kind: Tier\nmetadata: {name: default}\nspec: {order: 1000000, defaultAction: Deny}\n",
		},
		{
			name: "the kube-admin tier with its fixed settings is valid",
			in:   header + "kind: Tier\nmetadata: {name: kube-admin}\nspec: {order: 1000, defaultAction: Pass}\n",
		},
		{
			name: "the default tier must have order 1000000 and action Deny",
			in:   header + "kind: Tier\nmetadata: {name: default}\nspec: {defaultAction: Pass}\n",
			want: []string{
				`Tier default: spec.order: must be 1000000 for the default tier`,
				`Tier default: spec.defaultAction: "Pass" must be Deny for the default tier`,
			},
		},
		{
			name: "the kube-baseline tier must have order 10000000 and action Pass",
			in:   header + "kind: Tier\nmetadata: {name: kube-baseline}\nspec: {order: 1}\n",
			want: []string{
				`Tier kube-baseline: spec.order: "1" must be 10000000 for the kube-baseline tier`,
				`Tier kube-baseline: spec.defaultAction: "Deny" must be Pass for the kube-baseline tier`,
			},
		},
		{
			name: "a tier's default action is Deny or Pass",
			in:   header + "kind: Tier\nmetadata: {name: t}\nspec: {defaultAction: Allow}\n",
			want: []string{`Tier t: spec.defaultAction: "Allow" must be Deny or Pass`},
		},
		{
			name: "a global network set takes addresses and CIDRs, masked or not",
			in:   header + "kind: GlobalNetworkSet\nmetadata: {name: s}\nspec: {nets: [10.0.0.1, 10.0.0.1/8, \"fd00::/8\", bad]}\n",
			want: []string{`GlobalNetworkSet s: spec.nets[3]: "bad" is not a valid IP address or CIDR`},
		},
		{
			name: "a global network set may not carry the namespace label",
			in:   header + "kind: GlobalNetworkSet\nmetadata: {name: s, labels: {projectcalico.org/namespace: x}}\n",
			want: []string{`GlobalNetworkSet s: metadata.labels["projectcalico.org/namespace"]: is reserved: Calico sets it from the namespace, and a network set may not carry it`},
		},
		{
			name: "a profile's labelsToApply are labels",
			in:   header + "kind: Profile\nmetadata: {name: p}\nspec: {labelsToApply: {\"-x\": y}}\n",
			want: []string{`Profile p: spec.labelsToApply["-x"]: "-x" is not a valid label key: name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')`},
		},
		{
			name: "a host endpoint's ports need a name, a port protocol and a port",
			in: header + "kind: HostEndpoint\nmetadata: {name: h}\nspec: {node: n1, interfaceName: \"*\", profiles: [Bad],\n" +
				"  ports: [{protocol: ICMP, port: 0}, {name: ok, protocol: UDP, port: 53}]}\n",
			want: []string{
				`HostEndpoint h: spec.profiles[0]: "Bad" is not a valid name: must consist of lower case alphanumeric characters, '-' or '.', and start and end with an alphanumeric character`,
				`HostEndpoint h: spec.ports[0].name: must be specified`,
				`HostEndpoint h: spec.ports[0].protocol: "ICMP" does not have ports: must be TCP, UDP or SCTP`,
				`HostEndpoint h: spec.ports[0].port: "0" must be between 1 and 65535`,
			},
		},
		{
			name: "an endpoint port may spell its protocol in lower case, as Calico's Kubernetes conversion writes it",
			in:   header + "kind: HostEndpoint\nmetadata: {name: h}\nspec: {node: n1, interfaceName: eth0,\n  ports: [{name: a, protocol: tcp, port: 80}, {name: b, protocol: udp, port: 53}, {name: c, protocol: sctp, port: 9}]}\n",
		},
		{
			name: "an endpoint port with a lower-case protocol that has no ports is refused",
			in:   header + "kind: HostEndpoint\nmetadata: {name: h}\nspec: {node: n1, interfaceName: eth0, ports: [{name: a, protocol: icmp, port: 1}]}\n",
			want: []string{`HostEndpoint h: spec.ports[0].protocol: "icmp" is not a valid protocol: must be TCP, UDP, ICMP, ICMPv6, SCTP, UDPLite or a number from 1 to 255`},
		},
		{
			name: "a workload endpoint's addresses, NATs, gateways and MAC are checked",
			in: header + "kind: WorkloadEndpoint\nmetadata: {name: w, namespace: ns}\nspec: {node: n1, interfaceName: cali0, ipNetworks: [10.0.0.1/32, \"fd00::1\"],\n" +
				"  ipNATs: [{internalIP: 10.0.0.2, externalIP: \"fd00::2\"}], ipv4Gateway: \"fd00::1\", ipv6Gateway: 10.0.0.1, mac: zz,\n" +
				"  containerID: \"-x\", ports: [{protocol: TCP, port: 80}]}\n",
			want: []string{
				`WorkloadEndpoint ns/w: spec.containerID: "-x" is not a valid container ID: must be letters, digits and '-', starting and ending with a letter or digit`,
				`WorkloadEndpoint ns/w: spec.ipNATs[0].externalIP: "fd00::2" is not of the same IP version as internalIP`,
				`WorkloadEndpoint ns/w: spec.ipNATs[0].internalIP: "10.0.0.2" is not one of the endpoint's ipNetworks`,
				`WorkloadEndpoint ns/w: spec.ipv4Gateway: "fd00::1" is not a valid IPv4 address`,
				`WorkloadEndpoint ns/w: spec.ipv6Gateway: "10.0.0.1" is not a valid IPv6 address`,
				`WorkloadEndpoint ns/w: spec.mac: "zz" is not a valid MAC address`,
				`WorkloadEndpoint ns/w: spec.ports[0].name: must be specified unless hostPort is set`,
			},
		},
		{
			name: "a felix configuration's enumerations, log prefix, failsafe nets and metrics port are checked",
			in: header + "kind: FelixConfiguration\nmetadata: {name: default}\nspec: {defaultEndpointToHostAction: Reject, dropActionOverride: Log, bpfLogLevel: Trace,\n" +
				"  logPrefix: \"a;b\", prometheusMetricsPort: 70000, failsafeOutboundHostPorts: [{protocol: TCP, port: 22, net: x}]}\n",
			want: []string{
				`FelixConfiguration default: spec.failsafeOutboundHostPorts[0].net: "x" is not a valid IP address or CIDR`,
				`FelixConfiguration default: spec.defaultEndpointToHostAction: "Reject" must be one of Drop, Accept, Return`,
				`FelixConfiguration default: spec.dropActionOverride: "Log" must be one of Drop, Accept, LogAndDrop, LogAndAccept`,
				`FelixConfiguration default: spec.bpfLogLevel: "Trace" must be one of Debug, Info, Off`,
				`FelixConfiguration default: spec.logPrefix: "a;b" may contain only letters, digits, spaces and '%', ':', '/', '_', '-'`,
				`FelixConfiguration default: spec.prometheusMetricsPort: "70000" must be between 1 and 65535`,
			},
		},
	})
}

func TestValidateTypeMeta(t *testing.T) {
	runValidateCases(t, []validateCase{
		{
			name: "an object built in code without apiVersion and kind is valid",
			obj:  &GlobalNetworkSet{ObjectMeta: metav1.ObjectMeta{Name: "s"}},
		},
		{
			name: "an object whose kind disagrees with its type is refused",
			obj: &GlobalNetworkSet{TypeMeta: metav1.TypeMeta{APIVersion: "crd.projectcalico.org/v1", Kind: "NetworkSet"},
				ObjectMeta: metav1.ObjectMeta{Name: "s"}},
			want: []string{
				`GlobalNetworkSet s: apiVersion: "crd.projectcalico.org/v1" must be projectcalico.org/v3`,
				`GlobalNetworkSet s: kind: "NetworkSet" does not match the resource type GlobalNetworkSet`,
			},
		},
	})
}

func TestValidateNil(t *testing.T) {
	want := []string{"kind: nil object"}
	if diff := cmp.Diff(want, errorLines(Validate(nil))); diff != "" {
		t.Errorf("Validate(nil) mismatch (-want +got):\n%s", diff)
	}
}

// TestValidationErrorValues checks that each FieldError carries the bad
// value itself, typed, for callers that do more than print it.
func TestValidationErrorValues(t *testing.T) {
	o := mustDecodeOne(t, ingressRule(`{action: Allow, ipVersion: 5, protocol: TCP, destination: {ports: [70000], nets: [10.0.0.1/8]}}`))
	err := Validate(o)
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("Validate = %v, want a *ValidationError", err)
	}
	want := []FieldError{
		{Path: "spec.ingress[0].ipVersion", Value: 5, Reason: "must be 4 or 6"},
		{Path: "spec.ingress[0].destination.ports[0]", Value: SinglePort(70000), Reason: "is not a port or port range"},
		{Path: "spec.ingress[0].destination.nets[0]", Value: "10.0.0.1/8", Reason: `is not a strictly masked CIDR: did you mean "10.0.0.0/8"?`},
	}
	if diff := cmp.Diff(want, ve.Errors); diff != "" {
		t.Errorf("field errors mismatch (-want +got):\n%s", diff)
	}
}

// TestDecodeRejectsUnknownFieldsWithTheirPath checks strict decoding on
// every level a misspelt or misplaced field can hide, including the fields
// that only a GlobalNetworkPolicy has.
func TestDecodeRejectsUnknownFieldsWithTheirPath(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{
			name: "a misspelt field of a rule's destination",
			in:   ingressRule("{action: Allow, protocol: TCP, destination: {prots: [80]}}"),
			want: []string{"document 1 (NetworkPolicy ns/p): spec.ingress[0].destination.prots: unknown field"},
		},
		{
			name: "a misspelt field of an ICMP match and of an HTTP path",
			in:   ingressRule("{action: Allow, protocol: ICMP, notICMP: {typ: 8}, http: {paths: [{regex: /a}]}}"),
			want: []string{
				"document 1 (NetworkPolicy ns/p): spec.ingress[0].http.paths[0].regex: unknown field",
				"document 1 (NetworkPolicy ns/p): spec.ingress[0].notICMP.typ: unknown field",
			},
		},
		{
			name: "preDNAT, doNotTrack, applyOnForward and namespaceSelector belong to global policies only",
			in:   np("{preDNAT: true, doNotTrack: true, applyOnForward: true, namespaceSelector: all()}"),
			want: []string{
				"document 1 (NetworkPolicy ns/p): spec.applyOnForward: unknown field",
				"document 1 (NetworkPolicy ns/p): spec.doNotTrack: unknown field",
				"document 1 (NetworkPolicy ns/p): spec.namespaceSelector: unknown field",
				"document 1 (NetworkPolicy ns/p): spec.preDNAT: unknown field",
			},
		},
		{
			name: "stagedAction belongs to staged policies only",
			in:   gnp("{stagedAction: Set}"),
			want: []string{"document 1 (GlobalNetworkPolicy p): spec.stagedAction: unknown field"},
		},
		{
			name: "keys that are no field names are quoted in the path",
			in:   np(`{"se lector": x, "": 1, "a.b": 2, "ingress\n": []}`),
			want: []string{
				`document 1 (NetworkPolicy ns/p): spec[""]: unknown field`,
				`document 1 (NetworkPolicy ns/p): spec["a.b"]: unknown field`,
				`document 1 (NetworkPolicy ns/p): spec["ingress\n"]: unknown field`,
				`document 1 (NetworkPolicy ns/p): spec["se lector"]: unknown field`,
			},
		},
		{
			name: "a misspelt metadata field",
			in:   header + "kind: Tier\nmetadata: {name: t, label: {a: b}}\n",
			want: []string{"document 1 (Tier t): metadata.label: unknown field"},
		},
		{
			name: "a misspelt field of an endpoint port and of a service account match",
			in: header + "kind: HostEndpoint\nmetadata: {name: h}\nspec: {node: n, ports: [{nme: x}]}\n---\n" +
				np("{egress: [{action: Allow, destination: {serviceAccounts: {name: [x]}}}]}"),
			want: []string{
				"document 1 (HostEndpoint h): spec.ports[0].nme: unknown field",
				"document 2 (NetworkPolicy ns/p): spec.egress[0].destination.serviceAccounts.name: unknown field",
			},
		},
		{
			name: "a misspelt field of an item of a list",
			in:   header + "kind: GlobalNetworkSetList\nitems: [{metadata: {name: a}, spec: {net: [10.0.0.0/8]}}]\n",
			want: []string{"document 1 (GlobalNetworkSetList): items[0].spec.net: unknown field"},
		},
		{
			name: "an infinite order is named by its path, as JSON cannot carry it",
			in:   gnp("{order: .inf, ingress: [{action: Allow, icmp: {type: -.Inf}}]}"),
			want: []string{
				"document 1 (GlobalNetworkPolicy p): spec.ingress[0].icmp.type: -.inf is not a finite number",
				"document 1 (GlobalNetworkPolicy p): spec.order: .inf is not a finite number",
			},
		},
		{
			name: "a NaN is named by its path in a list item and in a map, unless the kind is unknown",
			in: header + "kind: TierList\nitems: [{metadata: {name: a, labels: {x: .nan}}, spec: {order: .NaN}}]\n---\n" +
				header + "kind: Bogus\nmetadata: {name: b}\nspec: {x: .nan}\n",
			want: []string{
				`document 1 (TierList): items[0].metadata.labels["x"]: .nan is not a finite number`,
				"document 1 (TierList): items[0].spec.order: .nan is not a finite number",
				`document 2 (Bogus b): unknown kind "Bogus"`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, err := Decode([]byte(tt.in))
			if diff := cmp.Diff(tt.want, errorLines(err)); diff != "" {
				t.Errorf("Decode error mismatch (-want +got):\n%s", diff)
			}
			if !errors.Is(err, ErrUnknownField) && !errors.Is(err, ErrFieldValue) {
				t.Errorf("errors.Is(%v, ErrUnknownField or ErrFieldValue) = false", err)
			}
			if len(objs) != 0 {
				t.Errorf("Decode returned %d objects from documents with problems", len(objs))
			}
		})
	}
}
