package conformance

import (
	"strconv"
	"strings"
)

// knp returns a networking.k8s.io/v1 NetworkPolicy document; spec is YAML
// indented from column 0. Names are quoted, and so must be the values in
// spec that could read as something else: Kubernetes decodes YAML 1.1, where
// a bare y is the boolean true (and becomes the string "true").
func knp(ns, name, spec string) string {
	return "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: " + strconv.Quote(name) +
		"\n  namespace: " + strconv.Quote(ns) + "\nspec:\n" + indent(spec, "  ")
}

func indent(s, prefix string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = prefix + l
		}
	}
	return strings.Join(lines, "\n") + "\n"
}

// KubernetesCases are modelled on the upstream network-policy e2e suite;
// their truth tables follow the Kubernetes NetworkPolicy semantics: a pod
// selected by a policy of a type accepts in that direction only what some
// such policy allows; policies are unioned; a connection needs the source's
// egress and the destination's ingress to allow it.
func KubernetesCases() []Case {
	return []Case{
		{
			Name: "default-deny-ingress in x denies all ingress to pods in x",
			YAML: knp("x", "deny-ingress", `
podSelector: {}
policyTypes: [Ingress]
`),
			DefaultAllow: true,
			Expect:       []Expectation{Deny("*", "x/*")},
		},
		{
			Name: "default-deny-all in x denies ingress to and egress from pods in x",
			YAML: knp("x", "deny-all", `
podSelector: {}
policyTypes: [Ingress, Egress]
`),
			DefaultAllow: true,
			Expect:       []Expectation{Deny("*", "x/*"), Deny("x/*", "*")},
		},
		{
			Name: "a podSelector peer allows only that pod of the policy's namespace",
			YAML: knp("x", "allow-b", `
podSelector: {matchLabels: {pod: a}}
ingress:
- from:
  - podSelector: {matchLabels: {pod: b}}
`),
			DefaultAllow: true,
			Expect:       []Expectation{Deny("*", "x/a"), Allow("x/b", "x/a")},
		},
		{
			Name: "a namespaceSelector peer allows every pod of the selected namespace",
			YAML: knp("x", "allow-ns-y", `
podSelector: {matchLabels: {pod: a}}
ingress:
- from:
  - namespaceSelector: {matchLabels: {ns: "y"}}
`),
			DefaultAllow: true,
			Expect:       []Expectation{Deny("*", "x/a"), Allow("y/*", "x/a")},
		},
		{
			Name: "a NotIn namespaceSelector allows only the other namespaces",
			YAML: knp("x", "allow-not-x", `
podSelector: {matchLabels: {pod: a}}
ingress:
- from:
  - namespaceSelector:
      matchExpressions: [{key: ns, operator: NotIn, values: [x]}]
`),
			DefaultAllow: true,
			Expect:       []Expectation{Deny("*", "x/a"), Allow("y/*", "x/a"), Allow("z/*", "x/a")},
		},
		{
			Name: "a podSelector with an In expression allows the listed pods",
			YAML: knp("x", "allow-in-b", `
podSelector: {matchLabels: {pod: a}}
ingress:
- from:
  - podSelector:
      matchExpressions: [{key: pod, operator: In, values: [b]}]
`),
			DefaultAllow: true,
			Expect:       []Expectation{Deny("*", "x/a"), Allow("x/b", "x/a")},
		},
		{
			Name: "a namespaceSelector with an In expression allows the listed namespaces",
			YAML: knp("x", "allow-in-y", `
podSelector: {matchLabels: {pod: a}}
ingress:
- from:
  - namespaceSelector:
      matchExpressions: [{key: ns, operator: In, values: ["y"]}]
`),
			DefaultAllow: true,
			Expect:       []Expectation{Deny("*", "x/a"), Allow("y/*", "x/a")},
		},
		{
			Name: "separate namespace and pod peers are ORed",
			YAML: knp("x", "allow-y-or-b", `
podSelector: {matchLabels: {pod: a}}
ingress:
- from:
  - namespaceSelector:
      matchExpressions: [{key: ns, operator: In, values: ["y"]}]
  - podSelector:
      matchExpressions: [{key: pod, operator: In, values: [b]}]
`),
			DefaultAllow: true,
			Expect:       []Expectation{Deny("*", "x/a"), Allow("y/*", "x/a"), Allow("x/b", "x/a")},
		},
		{
			Name: "namespace and pod selectors in one peer are ANDed",
			YAML: knp("x", "allow-b-not-x", `
podSelector: {matchLabels: {pod: a}}
ingress:
- from:
  - namespaceSelector:
      matchExpressions: [{key: ns, operator: NotIn, values: [x]}]
    podSelector: {matchLabels: {pod: b}}
`),
			DefaultAllow: true,
			Expect:       []Expectation{Deny("*", "x/a"), Allow("y/b", "x/a"), Allow("z/b", "x/a")},
		},
		{
			Name: "a peer with several pods in several namespaces allows each combination",
			YAML: knp("x", "allow-bc-not-x", `
podSelector: {matchLabels: {pod: a}}
ingress:
- from:
  - namespaceSelector:
      matchExpressions: [{key: ns, operator: NotIn, values: [x]}]
    podSelector:
      matchExpressions: [{key: pod, operator: In, values: [b, c]}]
`),
			DefaultAllow: true,
			Expect: []Expectation{Deny("*", "x/a"),
				Allow("y/b", "x/a"), Allow("y/c", "x/a"), Allow("z/b", "x/a"), Allow("z/c", "x/a")},
		},
		{
			Name: "any of several podSelector peers is enough",
			YAML: knp("x", "allow-b-or-c", `
podSelector: {matchLabels: {pod: a}}
ingress:
- from:
  - podSelector: {matchLabels: {pod: b}}
  - podSelector: {matchLabels: {pod: c}}
`),
			DefaultAllow: true,
			Expect:       []Expectation{Deny("*", "x/a"), Allow("x/b", "x/a"), Allow("x/c", "x/a")},
		},
		{
			Name: "a peer naming one pod in another namespace allows only that pod",
			YAML: knp("x", "allow-y-a", `
podSelector: {matchLabels: {pod: a}}
ingress:
- from:
  - namespaceSelector: {matchLabels: {ns: "y"}}
    podSelector: {matchLabels: {pod: a}}
`),
			DefaultAllow: true,
			Expect:       []Expectation{Deny("*", "x/a"), Allow("y/a", "x/a")},
		},
		{
			Name: "a port in the rule limits the allowed traffic to that port",
			YAML: knp("x", "allow-y-81", `
podSelector: {matchLabels: {pod: a}}
ingress:
- from:
  - namespaceSelector: {matchLabels: {ns: "y"}}
  ports:
  - {port: 81, protocol: TCP}
`),
			DefaultAllow: true,
			Expect:       []Expectation{Deny("*", "x/a"), AllowOn("y/*", "x/a", "TCP", 81)},
		},
		{
			Name: "stacked policies on the same pod union their ports",
			YAML: knp("x", "allow-y-80", `
podSelector: {matchLabels: {pod: a}}
ingress:
- from:
  - namespaceSelector: {matchLabels: {ns: "y"}}
  ports:
  - {port: 80, protocol: TCP}
`) + knp("x", "allow-y-81", `
podSelector: {matchLabels: {pod: a}}
ingress:
- from:
  - namespaceSelector: {matchLabels: {ns: "y"}}
  ports:
  - {port: 81, protocol: TCP}
`),
			DefaultAllow: true,
			Expect: []Expectation{Deny("*", "x/a"),
				AllowOn("y/*", "x/a", "TCP", 80), AllowOn("y/*", "x/a", "TCP", 81)},
		},
		{
			Name: "an allow-all ingress rule leaves everything open",
			YAML: knp("x", "allow-all", `
podSelector: {}
ingress:
- {}
`),
			DefaultAllow: true,
		},
		{
			Name: "a named port allows only the port of that name",
			YAML: knp("x", "allow-named-81", `
podSelector: {}
ingress:
- ports:
  - port: serve-81-tcp
`),
			DefaultAllow: true,
			Expect:       []Expectation{Deny("*", "x/*"), AllowOn("*", "x/*", "TCP", 81)},
		},
		{
			Name: "a named port from one namespace allows that port from that namespace",
			YAML: knp("x", "allow-y-named-80", `
podSelector: {matchLabels: {pod: a}}
ingress:
- from:
  - namespaceSelector: {matchLabels: {ns: "y"}}
  ports:
  - {port: serve-80-tcp, protocol: TCP}
`),
			DefaultAllow: true,
			Expect:       []Expectation{Deny("*", "x/a"), AllowOn("y/*", "x/a", "TCP", 80)},
		},
		{
			Name: "an egress named port is resolved on the destination pod",
			YAML: knp("x", "egress-named-80", `
podSelector: {matchLabels: {pod: a}}
policyTypes: [Egress]
egress:
- ports:
  - port: serve-80-tcp
`),
			DefaultAllow: true,
			Expect:       []Expectation{Deny("x/a", "*"), AllowOn("x/a", "*", "TCP", 80)},
		},
		{
			Name: "egress to one pod in another namespace allows only that pod",
			YAML: knp("x", "egress-y-a", `
podSelector: {matchLabels: {pod: a}}
policyTypes: [Egress]
egress:
- to:
  - namespaceSelector: {matchLabels: {ns: "y"}}
    podSelector: {matchLabels: {pod: a}}
`),
			DefaultAllow: true,
			Expect:       []Expectation{Deny("x/a", "*"), Allow("x/a", "y/a")},
		},
		{
			Name: "a protocol without a port allows every port of that protocol",
			YAML: knp("x", "allow-udp", `
podSelector: {matchLabels: {pod: a}}
ingress:
- ports:
  - protocol: UDP
`),
			DefaultAllow: true,
			Expect:       []Expectation{Deny("*", "x/a"), AllowOn("*", "x/a", "UDP", 0)},
		},
		{
			Name: "an empty podSelector peer denies ingress from other namespaces",
			YAML: knp("x", "allow-same-ns", `
podSelector: {}
ingress:
- from:
  - podSelector: {}
`),
			DefaultAllow: true,
			Expect:       []Expectation{Deny("*", "x/*"), Allow("x/*", "x/*")},
		},
		{
			Name: "an egress policy without rules denies all egress from one pod",
			YAML: knp("x", "deny-egress-a", `
podSelector: {matchLabels: {pod: a}}
policyTypes: [Egress]
`),
			DefaultAllow: true,
			Expect:       []Expectation{Deny("x/a", "*")},
		},
		{
			Name: "an egress policy without rules on every pod denies all egress from the namespace",
			YAML: knp("x", "deny-egress", `
podSelector: {}
policyTypes: [Egress]
`),
			DefaultAllow: true,
			Expect:       []Expectation{Deny("x/*", "*")},
		},
		{
			Name: "ingress and egress rules in one policy apply independently",
			YAML: knp("x", "both", `
podSelector: {matchLabels: {pod: a}}
policyTypes: [Ingress, Egress]
ingress:
- from:
  - podSelector: {matchLabels: {pod: b}}
egress:
- to:
  - namespaceSelector: {matchLabels: {ns: "y"}}
`),
			DefaultAllow: true,
			Expect: []Expectation{Deny("*", "x/a"), Allow("x/b", "x/a"),
				Deny("x/a", "*"), Allow("x/a", "y/*")},
		},
		{
			Name: "a client-side egress deny wins over a server that allows the client",
			YAML: knp("x", "egress-y-a", `
podSelector: {matchLabels: {pod: a}}
policyTypes: [Egress]
egress:
- to:
  - namespaceSelector: {matchLabels: {ns: "y"}}
    podSelector: {matchLabels: {pod: a}}
`) + knp("y", "allow-x-a", `
podSelector: {matchLabels: {pod: b}}
ingress:
- from:
  - namespaceSelector: {matchLabels: {ns: x}}
    podSelector: {matchLabels: {pod: a}}
`),
			DefaultAllow: true,
			Expect:       []Expectation{Deny("x/a", "*"), Allow("x/a", "y/a"), Deny("*", "y/b")},
		},
		{
			Name: "an egress ipBlock except removes one pod from the allowed block",
			YAML: knp("x", "egress-block", `
podSelector: {matchLabels: {pod: a}}
policyTypes: [Egress]
egress:
- to:
  - ipBlock: {cidr: 10.100.0.0/16, except: [10.100.2.2/32]}
`),
			DefaultAllow: true,
			Expect:       []Expectation{Deny("x/a", "y/b")},
		},
		{
			Name: "an ingress ipBlock except removes a namespace's subnet",
			YAML: knp("x", "ingress-block", `
podSelector: {matchLabels: {pod: a}}
ingress:
- from:
  - ipBlock: {cidr: 10.100.0.0/16, except: [10.100.2.0/24]}
`),
			DefaultAllow: true,
			Expect:       []Expectation{Deny("y/*", "x/a")},
		},
		{
			Name: "an address excepted by one policy and allowed by another is allowed",
			YAML: knp("x", "egress-block", `
podSelector: {matchLabels: {pod: a}}
policyTypes: [Egress]
egress:
- to:
  - ipBlock: {cidr: 10.100.0.0/16, except: [10.100.2.2/32]}
`) + knp("x", "egress-y-b", `
podSelector: {matchLabels: {pod: a}}
policyTypes: [Egress]
egress:
- to:
  - ipBlock: {cidr: 10.100.2.2/32}
`),
			DefaultAllow: true,
		},
		{
			Name: "a default deny followed by an allow from namespace y opens only y",
			YAML: knp("x", "deny-ingress", `
podSelector: {}
policyTypes: [Ingress]
`) + knp("x", "allow-y", `
podSelector: {}
ingress:
- from:
  - namespaceSelector: {matchLabels: {ns: "y"}}
`),
			DefaultAllow: true,
			Expect:       []Expectation{Deny("*", "x/*"), Allow("y/*", "x/*")},
		},
		{
			Name: "a UDP-only port rule does not allow TCP",
			YAML: knp("x", "allow-udp-81", `
podSelector: {matchLabels: {pod: a}}
ingress:
- ports:
  - {protocol: UDP, port: 81}
`),
			DefaultAllow: true,
			Expect:       []Expectation{Deny("*", "x/a"), AllowOn("*", "x/a", "UDP", 81)},
		},
		{
			Name: "the automatic kubernetes.io/metadata.name namespace label can be selected",
			YAML: knp("x", "allow-y-by-name", `
podSelector: {matchLabels: {pod: a}}
ingress:
- from:
  - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: "y"}}
`),
			DefaultAllow: true,
			Expect:       []Expectation{Deny("*", "x/a"), Allow("y/*", "x/a")},
		},
		{
			Name: "an endPort range allows only the ports inside it",
			YAML: knp("x", "allow-81-90", `
podSelector: {matchLabels: {pod: a}}
ingress:
- ports:
  - {protocol: TCP, port: 81, endPort: 90}
`),
			DefaultAllow: true,
			Expect:       []Expectation{Deny("*", "x/a"), AllowOn("*", "x/a", "TCP", 81)},
		},
		{
			Name: "an endPort range covering both ports allows both",
			YAML: knp("x", "allow-80-81", `
podSelector: {matchLabels: {pod: a}}
ingress:
- ports:
  - {protocol: TCP, port: 80, endPort: 81}
`),
			DefaultAllow: true,
			Expect:       []Expectation{Deny("*", "x/a"), AllowOn("*", "x/a", "TCP", 0)},
		},
		{
			Name: "a policy selecting no pod changes nothing",
			YAML: knp("x", "deny-nobody", `
podSelector: {matchLabels: {pod: nobody}}
policyTypes: [Ingress, Egress]
`),
			DefaultAllow: true,
		},
		{
			Name: "two policies on the same pod allow the union of their peers",
			YAML: knp("x", "allow-y", `
podSelector: {matchLabels: {pod: a}}
ingress:
- from:
  - namespaceSelector: {matchLabels: {ns: "y"}}
`) + knp("x", "allow-b", `
podSelector: {matchLabels: {pod: a}}
ingress:
- from:
  - podSelector: {matchLabels: {pod: b}}
`),
			DefaultAllow: true,
			Expect:       []Expectation{Deny("*", "x/a"), Allow("y/*", "x/a"), Allow("x/b", "x/a")},
		},
		{
			Name: "an egress rule with a numeric port allows only that port",
			YAML: knp("x", "egress-80", `
podSelector: {matchLabels: {pod: a}}
policyTypes: [Egress]
egress:
- ports:
  - {port: 80, protocol: TCP}
`),
			DefaultAllow: true,
			Expect:       []Expectation{Deny("x/a", "*"), AllowOn("x/a", "*", "TCP", 80)},
		},
		{
			Name: "an empty namespaceSelector with a podSelector selects that pod in every namespace",
			YAML: knp("x", "allow-any-b", `
podSelector: {matchLabels: {pod: a}}
ingress:
- from:
  - namespaceSelector: {}
    podSelector: {matchLabels: {pod: b}}
`),
			DefaultAllow: true,
			Expect:       []Expectation{Deny("*", "x/a"), Allow("*/b", "x/a")},
		},
		{
			Name: "an SCTP port rule allows only SCTP on that port",
			YAML: knp("x", "allow-sctp-80", `
podSelector: {matchLabels: {pod: a}}
ingress:
- ports:
  - {protocol: SCTP, port: 80}
`),
			DefaultAllow: true,
			Expect:       []Expectation{Deny("*", "x/a"), AllowOn("*", "x/a", "SCTP", 80)},
		},
		{
			Name: "egress limited to the own namespace does not restrict ingress",
			YAML: knp("x", "egress-same-ns", `
podSelector: {}
policyTypes: [Egress]
egress:
- to:
  - podSelector: {}
`),
			DefaultAllow: true,
			Expect:       []Expectation{Deny("x/*", "*"), Allow("x/*", "x/*")},
		},
		{
			Name: "a policy in namespace y does not affect the same pod name in x",
			YAML: knp("y", "deny-a", `
podSelector: {matchLabels: {pod: a}}
policyTypes: [Ingress]
`),
			DefaultAllow: true,
			Expect:       []Expectation{Deny("*", "y/a")},
		},
		{
			Name: "a UDP named port allows UDP on the port of that name",
			YAML: knp("x", "allow-named-udp-80", `
podSelector: {matchLabels: {pod: a}}
ingress:
- ports:
  - {port: serve-80-udp, protocol: UDP}
`),
			DefaultAllow: true,
			Expect:       []Expectation{Deny("*", "x/a"), AllowOn("*", "x/a", "UDP", 80)},
		},
		{
			Name: "egress allowed only to z meets a default deny of ingress in z",
			YAML: knp("x", "egress-z", `
podSelector: {}
policyTypes: [Egress]
egress:
- to:
  - namespaceSelector: {matchLabels: {ns: z}}
`) + knp("z", "deny-ingress", `
podSelector: {}
policyTypes: [Ingress]
`),
			DefaultAllow: true,
			Expect:       []Expectation{Deny("x/*", "*"), Allow("x/*", "z/*"), Deny("*", "z/*")},
		},
	}
}
