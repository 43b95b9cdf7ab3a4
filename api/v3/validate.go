package v3

// Validation follows Calico's rules (libcalico-go's Go validators plus the
// CRD/CEL rules of Calico HEAD; calico-facts §3), with Tabby's own wording:
// every message names the field path, quotes the bad value when there is
// one, and says what would be valid. Where Calico versions differ, HEAD
// wins (for example a rule without a protocol may use named ports).

import (
	"fmt"
	"math"
	"net"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/api/validate/content"
	k8svalidation "k8s.io/apimachinery/pkg/util/validation"
)

// FieldError is one problem with one field of a resource.
type FieldError struct {
	// Path is the field, as in "spec.ingress[0].destination.ports[1]" or
	// `metadata.labels["app"]`.
	Path string
	// Value is the offending value, or nil when the problem is not about a
	// value (a missing field, a combination of fields).
	Value any
	// Reason says what is wrong and, where it can, what would be right.
	Reason string
}

// Error prints `<path>: <quoted value> <reason>`, or `<path>: <reason>` when
// Value is nil. Long values are shortened.
func (e FieldError) Error() string {
	if e.Value == nil {
		return e.Path + ": " + e.Reason
	}
	return e.Path + ": " + quoteShort(formatValue(e.Value)) + " " + e.Reason
}

// formatValue prints a value as the user would have written it.
func formatValue(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return formatFloat(x)
	case int:
		return strconv.Itoa(x)
	case bool:
		return strconv.FormatBool(x)
	case fmt.Stringer:
		return x.String()
	}
	return fmt.Sprint(v)
}

func formatFloat(f float64) string {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return strconv.FormatFloat(f, 'g', -1, 64)
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}

// ValidationError lists every problem of one resource.
type ValidationError struct {
	// Kind, Namespace and Name identify the resource; Namespace is empty
	// for global kinds.
	Kind, Namespace, Name string
	// Errors holds the problems in field order; it is never empty.
	Errors []FieldError
}

// Error prints one line per problem:
// `<Kind> <namespace>/<name>: <path>: <quoted value> <reason>`, without the
// namespace for global kinds.
func (e *ValidationError) Error() string {
	prefix := ResourceID(e.Kind, e.Namespace, e.Name)
	if prefix != "" {
		prefix += ": "
	}
	lines := make([]string, len(e.Errors))
	for i, fe := range e.Errors {
		lines[i] = prefix + fe.Error()
	}
	return strings.Join(lines, "\n")
}

// Validate checks o against Calico's rules for its kind and returns nil or a
// *ValidationError listing every problem. Call Default first, as Calico's
// client does: Validate does not fill anything in, so a policy without
// types, for example, is checked as written.
//
// Validate checks one resource on its own; whether a policy's tier exists is
// the datastore's concern.
func Validate(o Object) error {
	if o == nil {
		return &ValidationError{Errors: []FieldError{{Path: "kind", Reason: "nil object"}}}
	}
	kind := KindOf(o)
	v := &validator{}
	info, known := kindByName(kind)
	if !known {
		v.add("kind", kind, "is not a kind Tabby knows")
	} else {
		v.typeMeta(o, kind)
		v.objectMeta(o, info)
	}
	switch r := o.(type) {
	case *NetworkPolicy:
		v.policy(policyView{
			tier: r.Spec.Tier, order: r.Spec.Order, ingress: r.Spec.Ingress, egress: r.Spec.Egress,
			selector: r.Spec.Selector, types: r.Spec.Types, serviceAccountSelector: r.Spec.ServiceAccountSelector,
			performanceHints: r.Spec.PerformanceHints,
		})
	case *GlobalNetworkPolicy:
		s := &r.Spec
		v.policy(policyView{
			global: true, tier: s.Tier, order: s.Order, ingress: s.Ingress, egress: s.Egress,
			selector: s.Selector, types: s.Types, serviceAccountSelector: s.ServiceAccountSelector,
			namespaceSelector: s.NamespaceSelector, doNotTrack: s.DoNotTrack, preDNAT: s.PreDNAT,
			applyOnForward: s.ApplyOnForward, performanceHints: s.PerformanceHints,
		})
	case *StagedNetworkPolicy:
		s := &r.Spec
		v.policy(policyView{
			staged: true, stagedAction: s.StagedAction, tier: s.Tier, order: s.Order, ingress: s.Ingress,
			egress: s.Egress, selector: s.Selector, types: s.Types,
			serviceAccountSelector: s.ServiceAccountSelector, performanceHints: s.PerformanceHints,
		})
	case *StagedGlobalNetworkPolicy:
		s := &r.Spec
		v.policy(policyView{
			global: true, staged: true, stagedAction: s.StagedAction, tier: s.Tier, order: s.Order,
			ingress: s.Ingress, egress: s.Egress, selector: s.Selector, types: s.Types,
			serviceAccountSelector: s.ServiceAccountSelector, namespaceSelector: s.NamespaceSelector,
			doNotTrack: s.DoNotTrack, preDNAT: s.PreDNAT, applyOnForward: s.ApplyOnForward,
			performanceHints: s.PerformanceHints,
		})
	case *Tier:
		v.tier(r)
	case *NetworkSet:
		v.networkSet(o, r.Spec.Nets)
	case *GlobalNetworkSet:
		v.networkSet(o, r.Spec.Nets)
	case *Profile:
		v.profile(r)
	case *HostEndpoint:
		v.hostEndpoint(r)
	case *WorkloadEndpoint:
		v.workloadEndpoint(r)
	case *FelixConfiguration:
		v.felixConfiguration(r)
	}
	if len(v.errs) == 0 {
		return nil
	}
	return &ValidationError{Kind: kind, Namespace: o.GetNamespace(), Name: o.GetName(), Errors: v.errs}
}

// validator collects the problems of one resource.
type validator struct {
	errs []FieldError
}

func (v *validator) add(path string, value any, reason string) {
	v.errs = append(v.errs, FieldError{Path: path, Value: value, Reason: reason})
}

func (v *validator) addf(path string, value any, format string, args ...any) {
	v.add(path, value, fmt.Sprintf(format, args...))
}

// Name formats (calico-facts §3.1).
const (
	nameLabelFmt     = `[a-z0-9]([-a-z0-9]*[a-z0-9])?`
	nameSubdomainFmt = nameLabelFmt + `(\.` + nameLabelFmt + `)*`

	maxNameLength     = 253
	maxTierNameLength = 63
	maxAnnotationSize = 256 * 1024
)

var (
	nameRE                = regexp.MustCompile(`^` + nameSubdomainFmt + `$`)
	tierNameRE            = regexp.MustCompile(`^` + nameLabelFmt + `$`)
	networkPolicyNameRE   = regexp.MustCompile(`^((` + nameLabelFmt + `)(\.` + nameLabelFmt + `)?|((?:knp|ossg)\.default\.(` + nameSubdomainFmt + `)))$`)
	globalPolicyNameRE    = regexp.MustCompile(`^(` + nameLabelFmt + `\.)?` + nameLabelFmt + `$`)
	interfaceNameRE       = regexp.MustCompile(`^[a-zA-Z0-9_.-]{1,15}$`)
	containerIDRE         = regexp.MustCompile(`^[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?$`)
	logPrefixRE           = regexp.MustCompile(`^[a-zA-Z0-9%: /_-]*$`)
	subdomainNameReason   = "is not a valid name: must consist of lower case alphanumeric characters, '-' or '.', and start and end with an alphanumeric character"
	networkPolicyNameHelp = "is not a valid policy name: must be a lower case DNS label (a-z, 0-9, '-'), " +
		`optionally followed by '.' and a second label, or start with "knp.default." or "ossg.default."`
	globalPolicyNameHelp = "is not a valid policy name: must be a lower case DNS label (a-z, 0-9, '-'), " +
		"optionally preceded by a label and '.'"
	tierNameHelp = "is not a valid tier name: must consist of lower case alphanumeric characters or '-', " +
		"and start and end with an alphanumeric character"
)

func (v *validator) typeMeta(o Object, kind string) {
	gvk := o.GetObjectKind().GroupVersionKind()
	if av := gvk.GroupVersion().String(); gvk.Version != "" && av != APIVersion {
		v.addf("apiVersion", av, "must be %s", APIVersion)
	}
	if gvk.Kind != "" && gvk.Kind != kind {
		v.addf("kind", gvk.Kind, "does not match the resource type %s", kind)
	}
}

func (v *validator) objectMeta(o Object, info KindInfo) {
	name := o.GetName()
	switch info.Kind {
	case KindNetworkPolicy, KindStagedNetworkPolicy:
		v.name("metadata.name", name, maxNameLength, networkPolicyNameRE, networkPolicyNameHelp)
	case KindGlobalNetworkPolicy, KindStagedGlobalNetworkPolicy:
		v.name("metadata.name", name, maxNameLength, globalPolicyNameRE, globalPolicyNameHelp)
	case KindTier:
		v.name("metadata.name", name, maxTierNameLength, tierNameRE, tierNameHelp)
	default:
		v.name("metadata.name", name, maxNameLength, nameRE, subdomainNameReason)
	}
	ns := o.GetNamespace()
	switch {
	case info.Namespaced && ns == "":
		v.addf("metadata.namespace", nil, "must be specified: %s is namespaced", info.Kind)
	case info.Namespaced:
		if errs := content.IsDNS1123Label(ns); len(errs) > 0 {
			v.add("metadata.namespace", ns, "is not a valid namespace: "+strings.Join(errs, "; "))
		}
	case ns != "":
		v.addf("metadata.namespace", ns, "must be empty: %s is not namespaced", info.Kind)
	}
	v.labels("metadata.labels", o.GetLabels())
	v.annotations("metadata.annotations", o.GetAnnotations())
}

// name checks a resource name against its length limit and format.
func (v *validator) name(path, name string, maxLen int, re *regexp.Regexp, help string) {
	switch {
	case name == "":
		v.add(path, nil, "must be specified")
	case len(name) > maxLen:
		v.addf(path, name, "is too long: %d bytes, more than the maximum of %d", len(name), maxLen)
	case !re.MatchString(name):
		v.add(path, name, help)
	}
}

// objectName checks an optional reference to another resource by name.
func (v *validator) objectName(path, name string) {
	if name != "" {
		v.name(path, name, maxNameLength, nameRE, subdomainNameReason)
	}
}

func (v *validator) labels(path string, labels map[string]string) {
	for _, k := range sortedStringKeys(labels) {
		p := path + "[" + strconv.Quote(k) + "]"
		if errs := content.IsLabelKey(k); len(errs) > 0 {
			v.add(p, k, "is not a valid label key: "+strings.Join(errs, "; "))
		}
		if errs := content.IsLabelValue(labels[k]); len(errs) > 0 {
			v.add(p, labels[k], "is not a valid label value: "+strings.Join(errs, "; "))
		}
	}
}

func (v *validator) annotations(path string, annotations map[string]string) {
	size := 0
	for _, k := range sortedStringKeys(annotations) {
		if errs := content.IsLabelKey(strings.ToLower(k)); len(errs) > 0 {
			v.add(path+"["+strconv.Quote(k)+"]", k, "is not a valid annotation key: "+strings.Join(errs, "; "))
		}
		size += len(k) + len(annotations[k])
	}
	if size > maxAnnotationSize {
		v.addf(path, nil, "total size is %d bytes, more than the maximum of %d", size, maxAnnotationSize)
	}
}

func sortedStringKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// policyView is the part of the four policy kinds that validation reads.
type policyView struct {
	global, staged                      bool
	stagedAction                        StagedAction
	tier                                string
	order                               *float64
	ingress, egress                     []Rule
	selector, serviceAccountSelector    string
	namespaceSelector                   string
	types                               []PolicyType
	doNotTrack, preDNAT, applyOnForward bool
	performanceHints                    []PolicyPerformanceHint
}

const maxRules = 1024

func (v *validator) policy(p policyView) {
	if p.staged {
		switch p.stagedAction {
		case "", StagedActionSet, StagedActionLearn, StagedActionIgnore:
		case StagedActionDelete:
			v.stagedDelete(p)
			return
		default:
			v.add("spec.stagedAction", string(p.stagedAction), "must be Set, Delete, Learn or Ignore")
		}
	}
	if p.tier != "" {
		v.name("spec.tier", p.tier, maxTierNameLength, tierNameRE, tierNameHelp)
	}
	v.order("spec.order", p.order)
	v.selector("spec.selector", p.selector, false)
	v.selector("spec.serviceAccountSelector", p.serviceAccountSelector, false)
	v.selector("spec.namespaceSelector", p.namespaceSelector, false)
	seen := make(map[PolicyType]bool, 2)
	for i, t := range p.types {
		path := fmt.Sprintf("spec.types[%d]", i)
		switch {
		case t != PolicyTypeIngress && t != PolicyTypeEgress:
			v.add(path, string(t), "is not a valid policy type: must be Ingress or Egress")
		case seen[t]:
			v.add(path, string(t), "is listed more than once")
		case t == PolicyTypeEgress && p.preDNAT:
			v.add(path, nil, "a preDNAT policy cannot have the Egress type")
		}
		seen[t] = true
	}
	v.ruleCount("spec.ingress", len(p.ingress))
	v.ruleCount("spec.egress", len(p.egress))
	for i := range p.ingress {
		v.rule(fmt.Sprintf("spec.ingress[%d]", i), &p.ingress[i], ruleContext{inPolicy: true, global: p.global})
	}
	for i := range p.egress {
		v.rule(fmt.Sprintf("spec.egress[%d]", i), &p.egress[i], ruleContext{inPolicy: true, global: p.global, egress: true})
	}
	if p.doNotTrack && p.preDNAT {
		v.add("spec.preDNAT", nil, "preDNAT and doNotTrack cannot both be true")
	}
	if p.preDNAT && len(p.egress) > 0 {
		v.add("spec.egress", nil, "a preDNAT policy cannot have egress rules")
	}
	if (p.doNotTrack || p.preDNAT) && !p.applyOnForward {
		v.add("spec.applyOnForward", nil, "must be true when preDNAT or doNotTrack is true")
	}
	v.performanceHints(p.performanceHints)
}

// stagedDelete checks that a staged deletion carries nothing but its tier.
func (v *validator) stagedDelete(p policyView) {
	const reason = "must be empty when stagedAction is Delete"
	if p.tier != "" {
		v.name("spec.tier", p.tier, maxTierNameLength, tierNameRE, tierNameHelp)
	}
	if p.order != nil {
		v.add("spec.order", *p.order, reason)
	}
	for _, f := range []struct {
		path string
		set  bool
	}{
		{"spec.ingress", len(p.ingress) > 0},
		{"spec.egress", len(p.egress) > 0},
		{"spec.selector", p.selector != ""},
		{"spec.types", len(p.types) > 0},
		{"spec.doNotTrack", p.doNotTrack},
		{"spec.preDNAT", p.preDNAT},
		{"spec.applyOnForward", p.applyOnForward},
		{"spec.serviceAccountSelector", p.serviceAccountSelector != ""},
		{"spec.namespaceSelector", p.namespaceSelector != ""},
		{"spec.performanceHints", len(p.performanceHints) > 0},
	} {
		if f.set {
			v.add(f.path, nil, reason)
		}
	}
}

func (v *validator) ruleCount(path string, n int) {
	if n > maxRules {
		v.addf(path, nil, "has %d rules, more than the maximum of %d", n, maxRules)
	}
}

func (v *validator) order(path string, order *float64) {
	if order != nil && (math.IsNaN(*order) || math.IsInf(*order, 0)) {
		v.add(path, *order, "must be a finite number")
	}
}

func (v *validator) performanceHints(hints []PolicyPerformanceHint) {
	for i, h := range hints {
		path := fmt.Sprintf("spec.performanceHints[%d]", i)
		switch {
		case h != AssumeNeededOnEveryNode:
			v.addf(path, string(h), "is not a valid performance hint: must be %s", AssumeNeededOnEveryNode)
		case slices.Contains(hints[:i], h):
			v.add(path, string(h), "is listed more than once")
		}
	}
}

// wellKnownTiers are the tiers whose settings Calico fixes.
var wellKnownTiers = map[string]struct {
	order  float64
	action Action
}{
	DefaultTierName:      {DefaultTierOrder, Deny},
	KubeAdminTierName:    {KubeAdminTierOrder, Pass},
	KubeBaselineTierName: {KubeBaselineTierOrder, Pass},
}

func (v *validator) tier(t *Tier) {
	v.order("spec.order", t.Spec.Order)
	action := Deny
	if t.Spec.DefaultAction != nil {
		action = *t.Spec.DefaultAction
		if action != Deny && action != Pass {
			v.add("spec.defaultAction", string(action), "must be Deny or Pass")
		}
	}
	wk, ok := wellKnownTiers[t.Name]
	if !ok {
		return
	}
	switch {
	case t.Spec.Order == nil:
		v.addf("spec.order", nil, "must be %s for the %s tier", formatFloat(wk.order), t.Name)
	case *t.Spec.Order != wk.order:
		v.addf("spec.order", *t.Spec.Order, "must be %s for the %s tier", formatFloat(wk.order), t.Name)
	}
	if action != wk.action {
		v.addf("spec.defaultAction", string(action), "must be %s for the %s tier", wk.action, t.Name)
	}
}

func (v *validator) networkSet(o Object, nets []string) {
	if _, ok := o.GetLabels()[LabelNamespace]; ok {
		v.add("metadata.labels["+strconv.Quote(LabelNamespace)+"]", nil,
			"is reserved: Calico sets it from the namespace, and a network set may not carry it")
	}
	for i, n := range nets {
		v.ipOrCIDR(fmt.Sprintf("spec.nets[%d]", i), n)
	}
}

func (v *validator) profile(p *Profile) {
	v.labels("spec.labelsToApply", p.Spec.LabelsToApply)
	v.ruleCount("spec.ingress", len(p.Spec.Ingress))
	v.ruleCount("spec.egress", len(p.Spec.Egress))
	for i := range p.Spec.Ingress {
		v.rule(fmt.Sprintf("spec.ingress[%d]", i), &p.Spec.Ingress[i], ruleContext{})
	}
	for i := range p.Spec.Egress {
		v.rule(fmt.Sprintf("spec.egress[%d]", i), &p.Spec.Egress[i], ruleContext{egress: true})
	}
}

func (v *validator) hostEndpoint(h *HostEndpoint) {
	s := &h.Spec
	if s.Node == "" {
		v.add("spec.node", nil, "must be specified")
	} else {
		v.objectName("spec.node", s.Node)
	}
	if s.InterfaceName == "" && len(s.ExpectedIPs) == 0 {
		v.add("spec", nil, "at least one of interfaceName or expectedIPs must be specified")
	}
	if s.InterfaceName != "" {
		v.interfaceName("spec.interfaceName", s.InterfaceName)
	}
	for i, ip := range s.ExpectedIPs {
		if _, err := netip.ParseAddr(ip); err != nil {
			v.add(fmt.Sprintf("spec.expectedIPs[%d]", i), ip, "is not a valid IP address")
		}
	}
	for i, p := range s.Profiles {
		v.objectName(fmt.Sprintf("spec.profiles[%d]", i), p)
	}
	for i, p := range s.Ports {
		path := fmt.Sprintf("spec.ports[%d]", i)
		if p.Name == "" {
			v.add(path+".name", nil, "must be specified")
		} else {
			v.portName(path+".name", p.Name)
		}
		v.endpointPortProtocol(path+".protocol", p.Protocol)
		if p.Port == 0 {
			v.add(path+".port", 0, "must be between 1 and 65535")
		}
	}
}

func (v *validator) interfaceName(path, name string) {
	if name != "*" && !interfaceNameRE.MatchString(name) {
		v.add(path, name, `is not a valid interface name: must be "*" or 1 to 15 of a-z, A-Z, 0-9, '_', '.' and '-'`)
	}
}

func (v *validator) portName(path, name string) {
	if errs := k8svalidation.IsValidPortName(name); len(errs) > 0 {
		v.add(path, name, "is not a valid port name: "+strings.Join(errs, "; "))
	}
}

// endpointPortProtocol checks the protocol of a port an endpoint declares.
// Besides the rule spellings it takes the lower-case "V1" names tcp, udp
// and sctp, because that is how Calico's Kubernetes conversion writes the
// ports of the WorkloadEndpoints it makes from pods.
func (v *validator) endpointPortProtocol(path string, p Protocol) {
	switch p.Name {
	case "tcp", "udp", "sctp":
		return
	}
	if !v.protocol(path, p) {
		return
	}
	if !p.SupportsPorts() {
		v.add(path, p, "does not have ports: must be TCP, UDP or SCTP")
	}
}

func (v *validator) workloadEndpoint(w *WorkloadEndpoint) {
	s := &w.Spec
	if s.Node == "" {
		v.add("spec.node", nil, "must be specified")
	} else {
		v.objectName("spec.node", s.Node)
	}
	for _, f := range []struct{ path, value string }{
		{"spec.orchestrator", s.Orchestrator}, {"spec.workload", s.Workload}, {"spec.pod", s.Pod},
		{"spec.endpoint", s.Endpoint}, {"spec.serviceAccountName", s.ServiceAccountName},
	} {
		v.objectName(f.path, f.value)
	}
	if s.ContainerID != "" && !containerIDRE.MatchString(s.ContainerID) {
		v.add("spec.containerID", s.ContainerID, "is not a valid container ID: must be letters, digits and '-', starting and ending with a letter or digit")
	}
	if s.InterfaceName == "" {
		v.add("spec.interfaceName", nil, "must be specified")
	} else {
		v.interfaceName("spec.interfaceName", s.InterfaceName)
	}
	var networks []netip.Prefix
	for i, n := range s.IPNetworks {
		path := fmt.Sprintf("spec.ipNetworks[%d]", i)
		pfx, ok := parseCIDROrIP(n)
		switch {
		case !ok:
			v.add(path, n, "is not a valid IP address or CIDR")
		case pfx.Bits() != pfx.Addr().BitLen():
			v.add(path, n, "is not a single address: workload networks must be /32 (IPv4) or /128 (IPv6)")
		default:
			networks = append(networks, pfx)
		}
	}
	for i, nat := range s.IPNATs {
		path := fmt.Sprintf("spec.ipNATs[%d]", i)
		in, inOK := v.ipAddr(path+".internalIP", nat.InternalIP)
		ex, exOK := v.ipAddr(path+".externalIP", nat.ExternalIP)
		if inOK && exOK && in.Is4() != ex.Is4() {
			v.add(path+".externalIP", nat.ExternalIP, "is not of the same IP version as internalIP")
		}
		if inOK && !slices.ContainsFunc(networks, func(p netip.Prefix) bool { return p.Contains(in) }) {
			v.add(path+".internalIP", nat.InternalIP, "is not one of the endpoint's ipNetworks")
		}
	}
	if s.IPv4Gateway != "" {
		if a, err := netip.ParseAddr(s.IPv4Gateway); err != nil || !a.Is4() {
			v.add("spec.ipv4Gateway", s.IPv4Gateway, "is not a valid IPv4 address")
		}
	}
	if s.IPv6Gateway != "" {
		if a, err := netip.ParseAddr(s.IPv6Gateway); err != nil || !a.Is6() || a.Is4In6() {
			v.add("spec.ipv6Gateway", s.IPv6Gateway, "is not a valid IPv6 address")
		}
	}
	if s.MAC != "" {
		if _, err := net.ParseMAC(s.MAC); err != nil {
			v.add("spec.mac", s.MAC, "is not a valid MAC address")
		}
	}
	for i, p := range s.Profiles {
		v.objectName(fmt.Sprintf("spec.profiles[%d]", i), p)
	}
	for i, p := range s.Ports {
		path := fmt.Sprintf("spec.ports[%d]", i)
		switch {
		case p.Name != "":
			v.portName(path+".name", p.Name)
		case p.HostPort == 0:
			v.add(path+".name", nil, "must be specified unless hostPort is set")
		}
		v.endpointPortProtocol(path+".protocol", p.Protocol)
		if p.Port == 0 {
			v.add(path+".port", 0, "must be between 1 and 65535")
		}
		if p.HostIP != "" {
			v.ipOrCIDR(path+".hostIP", p.HostIP)
		}
	}
	for i, n := range s.AllowSpoofedSourcePrefixes {
		v.ipOrCIDR(fmt.Sprintf("spec.allowSpoofedSourcePrefixes[%d]", i), n)
	}
}

func (v *validator) ipAddr(path, s string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		v.add(path, s, "is not a valid IP address")
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// parseCIDROrIP reads a CIDR, or an IP address as a full-length prefix.
func parseCIDROrIP(s string) (netip.Prefix, bool) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p, true
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, false
	}
	return netip.PrefixFrom(a, a.BitLen()), true
}

// ipOrCIDR checks a field that takes an IP address or a CIDR, masked or not.
func (v *validator) ipOrCIDR(path, s string) {
	if _, ok := parseCIDROrIP(s); !ok {
		v.add(path, s, "is not a valid IP address or CIDR")
	}
}

// The FelixConfiguration fields Tabby reads, and the values they take.
var (
	endpointToHostActions = []string{"Drop", "Accept", "Return"}
	nftablesModes         = []string{"Enabled", "Disabled", "Auto"}
	dropActionOverrides   = []string{"Drop", "Accept", "LogAndDrop", "LogAndAccept"}
	bpfLogLevels          = []string{"Debug", "Info", "Off"}
	failsafeProtocols     = []string{ProtocolTCP, ProtocolUDP, ProtocolSCTP}
)

func (v *validator) felixConfiguration(f *FelixConfiguration) {
	s := &f.Spec
	v.protoPorts("spec.failsafeInboundHostPorts", s.FailsafeInboundHostPorts)
	v.protoPorts("spec.failsafeOutboundHostPorts", s.FailsafeOutboundHostPorts)
	v.oneOf("spec.defaultEndpointToHostAction", s.DefaultEndpointToHostAction, endpointToHostActions)
	v.oneOf("spec.dropActionOverride", s.DropActionOverride, dropActionOverrides)
	v.oneOf("spec.bpfLogLevel", s.BPFLogLevel, bpfLogLevels)
	if s.NFTablesMode != nil {
		v.oneOf("spec.nftablesMode", *s.NFTablesMode, nftablesModes)
	}
	if !logPrefixRE.MatchString(s.LogPrefix) {
		v.add("spec.logPrefix", s.LogPrefix, "may contain only letters, digits, spaces and '%', ':', '/', '_', '-'")
	}
	if p := s.PrometheusMetricsPort; p != nil && (*p < 1 || *p > 65535) {
		v.add("spec.prometheusMetricsPort", *p, "must be between 1 and 65535")
	}
}

func (v *validator) protoPorts(path string, ports *[]ProtoPort) {
	if ports == nil {
		return
	}
	for i, p := range *ports {
		pp := fmt.Sprintf("%s[%d]", path, i)
		if !slices.Contains(failsafeProtocols, p.Protocol) {
			v.add(pp+".protocol", p.Protocol, "must be TCP, UDP or SCTP")
		}
		if p.Port == 0 {
			v.add(pp+".port", 0, "must be between 1 and 65535")
		}
		if p.Net != "" {
			v.ipOrCIDR(pp+".net", p.Net)
		}
	}
}

// oneOf checks an optional enumerated string.
func (v *validator) oneOf(path, value string, allowed []string) {
	if value != "" && !slices.Contains(allowed, value) {
		v.add(path, value, "must be one of "+strings.Join(allowed, ", "))
	}
}
