package conformance

// calico returns a projectcalico.org/v3 document; spec is YAML indented from
// column 0. ns is empty for global kinds.
func calico(kind, ns, name, spec string) string {
	meta := "metadata:\n  name: " + name + "\n"
	if ns != "" {
		meta += "  namespace: " + ns + "\n"
	}
	return "---\napiVersion: projectcalico.org/v3\nkind: " + kind + "\n" + meta + "spec:\n" + indent(spec, "  ")
}

// CalicoCases cover what Calico adds to Kubernetes policy: Deny, order,
// tiers with Pass and default actions, Log, global policy, notSelector,
// network sets, profiles and staged policies. The model's pods carry the
// namespace profiles kns.<ns> Calico gives Kubernetes pods, which allow all,
// so a pod that no tier decides for is open. Truth tables follow the
// evaluation order of calico-facts §5.
func CalicoCases() []Case {
	denyYbThenAllowY := func(denyName, denyOrder, allowName, allowOrder string) string {
		return calico("NetworkPolicy", "x", denyName, denyOrder+`
selector: pod == 'a'
ingress:
- action: Deny
  source:
    selector: pod == 'b'
    namespaceSelector: ns == 'y'
`) + calico("NetworkPolicy", "x", allowName, allowOrder+`
selector: pod == 'a'
ingress:
- action: Allow
  source:
    namespaceSelector: ns == 'y'
`)
	}
	denyYbFirst := []Expectation{Deny("*", "x/a"), Allow("y/*", "x/a"), Deny("y/b", "x/a")}
	allowYFirst := []Expectation{Deny("*", "x/a"), Allow("y/*", "x/a")}
	return []Case{
		{
			Name: "a global Deny rule blocks namespace y from every pod a",
			YAML: calico("GlobalNetworkPolicy", "", "deny-y-to-a", `
selector: pod == 'a'
ingress:
- action: Deny
  source:
    namespaceSelector: ns == 'y'
- action: Allow
`),
			DefaultAllow: true,
			Expect:       []Expectation{Deny("y/*", "*/a")},
		},
		{
			Name:         "the policy with the lower order is evaluated first so its Deny wins",
			YAML:         denyYbThenAllowY("deny-yb", "order: 100", "allow-y", "order: 200"),
			DefaultAllow: true,
			Expect:       denyYbFirst,
		},
		{
			Name:         "an Allow in a lower-ordered policy wins over a later Deny",
			YAML:         denyYbThenAllowY("deny-yb", "order: 200", "allow-y", "order: 100"),
			DefaultAllow: true,
			Expect:       allowYFirst,
		},
		{
			Name:         "policies of equal order are evaluated by name so a-deny comes first",
			YAML:         denyYbThenAllowY("a-deny", "order: 100", "b-allow", "order: 100"),
			DefaultAllow: true,
			Expect:       denyYbFirst,
		},
		{
			Name:         "policies of equal order are evaluated by name so a-allow comes first",
			YAML:         denyYbThenAllowY("b-deny", "order: 100", "a-allow", "order: 100"),
			DefaultAllow: true,
			Expect:       allowYFirst,
		},
		{
			Name:         "a policy without an order comes after every numbered one",
			YAML:         denyYbThenAllowY("deny-yb", "", "allow-y", "order: 1000"),
			DefaultAllow: true,
			Expect:       allowYFirst,
		},
		{
			Name: "Pass hands traffic from y to the next tier where the end-of-tier deny or the profile decides",
			YAML: calico("Tier", "", "security", "order: 100\n") + calico("GlobalNetworkPolicy", "", "security.pass-y", `
tier: security
selector: pod == 'a'
ingress:
- action: Pass
  source:
    namespaceSelector: ns == 'y'
- action: Deny
`) + calico("NetworkPolicy", "x", "allow-yb", `
selector: pod == 'a'
ingress:
- action: Allow
  source:
    selector: pod == 'b'
    namespaceSelector: ns == 'y'
`),
			DefaultAllow: true,
			Expect: []Expectation{Deny("*", "*/a"),
				Allow("y/*", "y/a"), Allow("y/*", "z/a"), Allow("y/b", "x/a")},
		},
		{
			Name: "a tier whose default action is Pass lets traffic no rule matched reach the profiles",
			YAML: calico("Tier", "", "open", "order: 100\ndefaultAction: Pass\n") + calico("GlobalNetworkPolicy", "", "open.allow-z", `
tier: open
selector: pod == 'a'
ingress:
- action: Allow
  source:
    namespaceSelector: ns == 'z'
`),
			DefaultAllow: true,
		},
		{
			Name: "a tier with the default Deny action denies traffic no rule matched",
			YAML: calico("Tier", "", "closed", "order: 100\n") + calico("GlobalNetworkPolicy", "", "closed.allow-z", `
tier: closed
selector: pod == 'a'
ingress:
- action: Allow
  source:
    namespaceSelector: ns == 'z'
`),
			DefaultAllow: true,
			Expect:       []Expectation{Deny("*", "*/a"), Allow("z/*", "*/a")},
		},
		{
			Name: "a tier whose policies only Log ends in the implicit deny",
			YAML: calico("Tier", "", "audit", "order: 100\n") + calico("GlobalNetworkPolicy", "", "audit.log-all", `
tier: audit
selector: all()
ingress:
- action: Log
`),
			DefaultAllow: true,
			Expect:       []Expectation{Deny("*", "*")},
		},
		{
			Name: "a Log rule records and evaluation continues to the next rule",
			YAML: calico("GlobalNetworkPolicy", "", "log-then-allow-y", `
selector: pod == 'a'
ingress:
- action: Log
- action: Allow
  source:
    namespaceSelector: ns == 'y'
`),
			DefaultAllow: true,
			Expect:       []Expectation{Deny("*", "*/a"), Allow("y/*", "*/a")},
		},
		{
			Name: "notSelector removes the pods it matches from a rule",
			YAML: calico("NetworkPolicy", "x", "allow-not-b", `
selector: pod == 'a'
ingress:
- action: Allow
  source:
    selector: has(pod)
    notSelector: pod == 'b'
`),
			DefaultAllow: true,
			Expect:       []Expectation{Deny("*", "x/a"), Allow("x/c", "x/a")},
		},
		{
			Name: "a global policy's namespaceSelector limits it to the selected namespace",
			YAML: calico("GlobalNetworkPolicy", "", "x-deny-y", `
selector: all()
namespaceSelector: ns == 'x'
ingress:
- action: Deny
  source:
    namespaceSelector: ns == 'y'
- action: Allow
`),
			DefaultAllow: true,
			Expect:       []Expectation{Deny("y/*", "x/*")},
		},
		{
			Name: "a policy with the Ingress type and no rules denies all ingress",
			YAML: calico("GlobalNetworkPolicy", "", "deny-c", `
selector: pod == 'c'
types: [Ingress]
`),
			DefaultAllow: true,
			Expect:       []Expectation{Deny("*", "*/c")},
		},
		{
			Name: "a namespace profile that denies ingress closes the namespace when no policy decides",
			YAML: calico("Profile", "", "kns.z", `
labelsToApply:
  pcns.ns: z
  pcns.kubernetes.io/metadata.name: z
  pcns.projectcalico.org/name: z
ingress:
- action: Deny
egress:
- action: Allow
`),
			DefaultAllow: true,
			Expect:       []Expectation{Deny("*", "z/*")},
		},
		{
			Name: "a staged deny-all policy never changes what is enforced",
			YAML: calico("StagedGlobalNetworkPolicy", "", "deny-everything", `
selector: all()
types: [Ingress, Egress]
`),
			DefaultAllow: true,
		},
		{
			Name: "a Deny on source nets blocks a namespace's subnet",
			YAML: calico("GlobalNetworkPolicy", "", "deny-z-net", `
selector: pod == 'b'
ingress:
- action: Deny
  source:
    nets: [10.100.3.0/24]
- action: Allow
`),
			DefaultAllow: true,
			Expect:       []Expectation{Deny("z/*", "*/b")},
		},
		{
			Name: "an egress Deny on one port blocks only that port",
			YAML: calico("GlobalNetworkPolicy", "", "x-no-81", `
selector: projectcalico.org/namespace == 'x'
types: [Egress]
egress:
- action: Deny
  protocol: TCP
  destination:
    ports: [81]
- action: Allow
`),
			DefaultAllow: true,
			Expect:       []Expectation{DenyOn("x/*", "*", "TCP", 81)},
		},
		{
			Name: "notPorts and notProtocol exclude what they name",
			YAML: calico("GlobalNetworkPolicy", "", "a-tcp-not-80", `
selector: pod == 'a'
ingress:
- action: Allow
  protocol: TCP
  destination:
    notPorts: [80]
`) + calico("GlobalNetworkPolicy", "", "b-not-udp", `
selector: pod == 'b'
ingress:
- action: Allow
  notProtocol: UDP
`),
			DefaultAllow: true,
			Expect: []Expectation{Deny("*", "*/a"), AllowOn("*", "*/a", "TCP", 81),
				DenyOn("*", "*/b", "UDP", 0)},
		},
		{
			Name: "a rule selector matches the addresses of a labelled global network set",
			YAML: `---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkSet
metadata:
  name: y-subnet
  labels:
    role: y-net
spec:
  nets: [10.100.2.0/24]
` + calico("GlobalNetworkPolicy", "", "c-deny-y-net", `
selector: pod == 'c'
ingress:
- action: Deny
  source:
    selector: role == 'y-net'
- action: Allow
`),
			DefaultAllow: true,
			Expect:       []Expectation{Deny("y/*", "*/c")},
		},
		{
			Name: "a global egress Deny between pod labels applies across namespaces",
			YAML: calico("GlobalNetworkPolicy", "", "b-not-to-c", `
selector: pod == 'b'
types: [Egress]
egress:
- action: Deny
  destination:
    selector: pod == 'c'
- action: Allow
`),
			DefaultAllow: true,
			Expect:       []Expectation{Deny("*/b", "*/c")},
		},
		{
			Name: "a Calico named port is resolved on the destination endpoint",
			YAML: calico("NetworkPolicy", "x", "udp-81-by-name", `
selector: all()
ingress:
- action: Allow
  protocol: UDP
  destination:
    ports: [serve-81-udp]
`),
			DefaultAllow: true,
			Expect:       []Expectation{Deny("*", "x/*"), AllowOn("*", "x/*", "UDP", 81)},
		},
	}
}
