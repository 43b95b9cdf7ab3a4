package v3

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestDefaultPolicyTypes(t *testing.T) {
	in, eg := []Rule{{Action: Allow}}, []Rule{{Action: Deny}}
	tests := []struct {
		name            string
		ingress, egress []Rule
		types           []PolicyType
		want            []PolicyType
	}{
		{name: "a policy without rules defaults to Ingress", want: []PolicyType{PolicyTypeIngress}},
		{name: "a policy with ingress rules only defaults to Ingress", ingress: in, want: []PolicyType{PolicyTypeIngress}},
		{name: "a policy with egress rules only defaults to Egress", egress: eg, want: []PolicyType{PolicyTypeEgress}},
		{name: "a policy with rules both ways defaults to Ingress and Egress", ingress: in, egress: eg,
			want: []PolicyType{PolicyTypeIngress, PolicyTypeEgress}},
		{name: "types given are kept even if no rule goes that way", egress: eg, types: []PolicyType{PolicyTypeIngress},
			want: []PolicyType{PolicyTypeIngress}},
		{name: "types given are kept in their order", ingress: in, types: []PolicyType{PolicyTypeEgress, PolicyTypeIngress},
			want: []PolicyType{PolicyTypeEgress, PolicyTypeIngress}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs := []Object{
				&NetworkPolicy{Spec: NetworkPolicySpec{Ingress: tt.ingress, Egress: tt.egress, Types: tt.types}},
				&GlobalNetworkPolicy{Spec: GlobalNetworkPolicySpec{Ingress: tt.ingress, Egress: tt.egress, Types: tt.types}},
				&StagedNetworkPolicy{Spec: StagedNetworkPolicySpec{Ingress: tt.ingress, Egress: tt.egress, Types: tt.types}},
				&StagedGlobalNetworkPolicy{Spec: StagedGlobalNetworkPolicySpec{Ingress: tt.ingress, Egress: tt.egress, Types: tt.types}},
			}
			for _, o := range objs {
				Default(o)
				if diff := cmp.Diff(tt.want, policyTypes(o)); diff != "" {
					t.Errorf("%s: types mismatch (-want +got):\n%s", KindOf(o), diff)
				}
			}
		})
	}
}

func policyTypes(o Object) []PolicyType {
	switch p := o.(type) {
	case *NetworkPolicy:
		return p.Spec.Types
	case *GlobalNetworkPolicy:
		return p.Spec.Types
	case *StagedNetworkPolicy:
		return p.Spec.Types
	case *StagedGlobalNetworkPolicy:
		return p.Spec.Types
	}
	return nil
}

func TestDefault(t *testing.T) {
	deny, pass := Deny, Pass
	tests := []struct {
		name string
		in   Object
		want Object
	}{
		{
			name: "a policy without a tier is in the default tier and labelled so",
			in:   &NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", Labels: map[string]string{"a": "b"}}},
			want: &NetworkPolicy{TypeMeta: tm(KindNetworkPolicy),
				ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", Labels: map[string]string{"a": "b", LabelTier: "default"}},
				Spec:       NetworkPolicySpec{Tier: "default", Types: []PolicyType{PolicyTypeIngress}}},
		},
		{
			name: "a policy's tier label follows its tier, overriding a stale label",
			in: &GlobalNetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "security.p", Labels: map[string]string{LabelTier: "default"}},
				Spec: GlobalNetworkPolicySpec{Tier: "security", Egress: []Rule{{Action: Allow}}}},
			want: &GlobalNetworkPolicy{TypeMeta: tm(KindGlobalNetworkPolicy),
				ObjectMeta: metav1.ObjectMeta{Name: "security.p", Labels: map[string]string{LabelTier: "security"}},
				Spec:       GlobalNetworkPolicySpec{Tier: "security", Egress: []Rule{{Action: Allow}}, Types: []PolicyType{PolicyTypeEgress}}},
		},
		{
			name: "a policy's name is kept as given, with or without a tier prefix (Calico 3.32 and later)",
			in:   &StagedGlobalNetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "default.p"}},
			want: &StagedGlobalNetworkPolicy{TypeMeta: tm(KindStagedGlobalNetworkPolicy),
				ObjectMeta: metav1.ObjectMeta{Name: "default.p", Labels: map[string]string{LabelTier: "default"}},
				Spec:       StagedGlobalNetworkPolicySpec{Tier: "default", Types: []PolicyType{PolicyTypeIngress}}},
		},
		{
			name: "a staged deletion gets its tier but no types, since its spec must stay empty",
			in: &StagedNetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns"},
				Spec: StagedNetworkPolicySpec{StagedAction: StagedActionDelete}},
			want: &StagedNetworkPolicy{TypeMeta: tm(KindStagedNetworkPolicy),
				ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", Labels: map[string]string{LabelTier: "default"}},
				Spec:       StagedNetworkPolicySpec{StagedAction: StagedActionDelete, Tier: "default"}},
		},
		{
			name: "a staged global deletion gets no types either",
			in:   &StagedGlobalNetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: StagedGlobalNetworkPolicySpec{StagedAction: StagedActionDelete, Tier: "t"}},
			want: &StagedGlobalNetworkPolicy{TypeMeta: tm(KindStagedGlobalNetworkPolicy),
				ObjectMeta: metav1.ObjectMeta{Name: "p", Labels: map[string]string{LabelTier: "t"}},
				Spec:       StagedGlobalNetworkPolicySpec{StagedAction: StagedActionDelete, Tier: "t"}},
		},
		{
			name: "a tier without a default action denies",
			in:   &Tier{ObjectMeta: metav1.ObjectMeta{Name: "t"}},
			want: &Tier{TypeMeta: tm(KindTier), ObjectMeta: metav1.ObjectMeta{Name: "t"}, Spec: TierSpec{DefaultAction: &deny}},
		},
		{
			name: "a tier's default action is kept",
			in:   &Tier{ObjectMeta: metav1.ObjectMeta{Name: "t"}, Spec: TierSpec{DefaultAction: &pass}},
			want: &Tier{TypeMeta: tm(KindTier), ObjectMeta: metav1.ObjectMeta{Name: "t"}, Spec: TierSpec{DefaultAction: &pass}},
		},
		{
			name: "a workload endpoint is labelled with its namespace and orchestrator",
			in: &WorkloadEndpoint{ObjectMeta: metav1.ObjectMeta{Name: "w", Namespace: "ns", Labels: map[string]string{"app": "x"}},
				Spec: WorkloadEndpointSpec{Orchestrator: OrchestratorKubernetes}},
			want: &WorkloadEndpoint{TypeMeta: tm(KindWorkloadEndpoint), ObjectMeta: metav1.ObjectMeta{Name: "w", Namespace: "ns",
				Labels: map[string]string{"app": "x", LabelNamespace: "ns", LabelOrchestrator: OrchestratorKubernetes}},
				Spec: WorkloadEndpointSpec{Orchestrator: OrchestratorKubernetes}},
		},
		{
			name: "a workload endpoint without namespace or orchestrator gets no labels",
			in:   &WorkloadEndpoint{ObjectMeta: metav1.ObjectMeta{Name: "w"}},
			want: &WorkloadEndpoint{TypeMeta: tm(KindWorkloadEndpoint), ObjectMeta: metav1.ObjectMeta{Name: "w"}},
		},
		{
			name: "a failsafe port without a protocol is TCP",
			in: &FelixConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "default"}, Spec: FelixConfigurationSpec{
				FailsafeInboundHostPorts:  &[]ProtoPort{{Port: 22}, {Protocol: ProtocolUDP, Port: 68}},
				FailsafeOutboundHostPorts: &[]ProtoPort{{Port: 2379}}}},
			want: &FelixConfiguration{TypeMeta: tm(KindFelixConfiguration), ObjectMeta: metav1.ObjectMeta{Name: "default"}, Spec: FelixConfigurationSpec{
				FailsafeInboundHostPorts:  &[]ProtoPort{{Protocol: ProtocolTCP, Port: 22}, {Protocol: ProtocolUDP, Port: 68}},
				FailsafeOutboundHostPorts: &[]ProtoPort{{Protocol: ProtocolTCP, Port: 2379}}}},
		},
		{
			name: "a network set gets its type and nothing else",
			in:   &NetworkSet{ObjectMeta: metav1.ObjectMeta{Name: "s"}, Spec: NetworkSetSpec{Nets: []string{"10.0.0.0/8"}}},
			want: &NetworkSet{TypeMeta: tm(KindNetworkSet), ObjectMeta: metav1.ObjectMeta{Name: "s"}, Spec: NetworkSetSpec{Nets: []string{"10.0.0.0/8"}}},
		},
		{
			name: "an apiVersion already set is kept",
			in:   &Profile{TypeMeta: metav1.TypeMeta{APIVersion: APIVersion, Kind: KindProfile}, ObjectMeta: metav1.ObjectMeta{Name: "p"}},
			want: &Profile{TypeMeta: tm(KindProfile), ObjectMeta: metav1.ObjectMeta{Name: "p"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			Default(tt.in)
			if diff := cmp.Diff(tt.want, tt.in); diff != "" {
				t.Errorf("Default mismatch (-want +got):\n%s", diff)
			}
			Default(tt.in)
			if diff := cmp.Diff(tt.want, tt.in); diff != "" {
				t.Errorf("Default is not idempotent (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDefaultNil(t *testing.T) {
	Default(nil)
}

// TestDefaultIsIdempotentOnFixtures checks that defaulting twice gives
// what defaulting once gives, on every fixture.
func TestDefaultIsIdempotentOnFixtures(t *testing.T) {
	for _, file := range fixtureFiles(t) {
		t.Run(file+" defaults to a fixed point", func(t *testing.T) {
			objs := mustDecode(t, string(readFile(t, file)))
			for _, o := range objs {
				Default(o)
			}
			again := mustDecode(t, string(readFile(t, file)))
			for _, o := range again {
				Default(o)
				Default(o)
			}
			if diff := cmp.Diff(objs, again); diff != "" {
				t.Errorf("defaulting twice differs from once (-once +twice):\n%s", diff)
			}
		})
	}
}

func TestTierOrDefault(t *testing.T) {
	got := []string{TierOrDefault(""), TierOrDefault("default"), TierOrDefault("security")}
	if diff := cmp.Diff([]string{"default", "default", "security"}, got); diff != "" {
		t.Errorf("TierOrDefault mismatch (-want +got):\n%s", diff)
	}
}

// TestLegacyPolicyName checks the names Calico 3.29 to 3.31 gave policies
// in etcd (calico-facts §1.5).
func TestLegacyPolicyName(t *testing.T) {
	tests := []struct {
		name       string
		policy     string
		tier, want string
	}{
		{"a default-tier name without a dot gets the default. prefix", "foo", "default", "default.foo"},
		{"an empty tier means the default tier", "foo", "", "default.foo"},
		{"a name without a dot in another tier gets that tier as prefix", "foo", "security", "security.foo"},
		{"a name that already has its tier prefix is unchanged", "security.foo", "security", "security.foo"},
		{"a default-tier name that already has the prefix is unchanged", "default.foo", "default", "default.foo"},
		{"any name with a dot is unchanged", "other.foo", "security", "other.foo"},
		{"a Kubernetes NetworkPolicy name is unchanged", "knp.default.web", "default", "knp.default.web"},
		{"a Kubernetes AdminNetworkPolicy name is unchanged", "kanp.adminnetworkpolicy.x", "adminnetworkpolicy", "kanp.adminnetworkpolicy.x"},
		{"a Kubernetes BaselineAdminNetworkPolicy name is unchanged", "kbanp.baselineadminnetworkpolicy.x", "", "kbanp.baselineadminnetworkpolicy.x"},
		{"an OpenStack security group name is unchanged", "ossg.default.sg1", "", "ossg.default.sg1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := LegacyPolicyName(tt.policy, tt.tier); got != tt.want {
				t.Errorf("LegacyPolicyName(%q, %q) = %q, want %q", tt.policy, tt.tier, got, tt.want)
			}
		})
	}
}

// TestPolicyNameFromStored checks how a stored policy's name is read back,
// whichever Calico release wrote it (calico-facts §1.2, §1.5).
func TestPolicyNameFromStored(t *testing.T) {
	annotated := func(name string) map[string]string {
		return map[string]string{AnnotationMetadata: PolicyMetadataAnnotation(name), "other": "x"}
	}
	tests := []struct {
		name        string
		stored      string
		tier        string
		annotations map[string]string
		want        string
	}{
		{"the annotated name wins over the stored name", "default.foo", "default", annotated("foo"), "foo"},
		{"the annotated name wins even when it has a tier prefix", "security.foo", "security", annotated("security.foo"), "security.foo"},
		{"the annotated name wins even when it starts with default.", "default.default.x", "default", annotated("default.x"), "default.x"},
		{"without the annotation a default-tier name loses its default. prefix", "default.foo", "default", nil, "foo"},
		{"without the annotation an empty tier counts as the default tier", "default.foo", "", nil, "foo"},
		{"the default. prefix is kept in another tier", "default.foo", "security", nil, "default.foo"},
		{"another tier's prefix is kept", "security.foo", "security", nil, "security.foo"},
		{"a name that is only the prefix is kept", "default.", "default", nil, "default."},
		{"a name without a prefix is kept", "foo", "default", nil, "foo"},
		{"a malformed annotation is ignored", "default.foo", "default", map[string]string{AnnotationMetadata: "{"}, "foo"},
		{"an annotation without a name is ignored", "default.foo", "default", map[string]string{AnnotationMetadata: "{}"}, "foo"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := PolicyNameFromStored(tt.stored, tt.tier, tt.annotations); got != tt.want {
				t.Errorf("PolicyNameFromStored(%q, %q, %v) = %q, want %q", tt.stored, tt.tier, tt.annotations, got, tt.want)
			}
		})
	}
}

// TestLegacyNamesReadBack checks that the name a 3.29-3.31 Calico stored is
// read back as the name the user gave, in every tier.
func TestLegacyNamesReadBack(t *testing.T) {
	for _, c := range []struct{ name, tier string }{{"foo", ""}, {"foo", "default"}, {"security.foo", "security"}, {"knp.default.web", "default"}} {
		t.Run(c.name+" in tier "+TierOrDefault(c.tier)+" survives the legacy name", func(t *testing.T) {
			stored := LegacyPolicyName(c.name, c.tier)
			if got := PolicyNameFromStored(stored, c.tier, map[string]string{AnnotationMetadata: PolicyMetadataAnnotation(c.name)}); got != c.name {
				t.Errorf("with the annotation: read back %q from %q, want %q", got, stored, c.name)
			}
			if TierOrDefault(c.tier) != DefaultTierName || c.name == "knp.default.web" {
				return
			}
			if got := PolicyNameFromStored(stored, c.tier, nil); got != c.name {
				t.Errorf("without the annotation: read back %q from %q, want %q", got, stored, c.name)
			}
		})
	}
}

func TestPolicyMetadataAnnotation(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"a plain name", "foo", `{"name":"foo"}`},
		{"a name with a tier prefix", "security.foo", `{"name":"security.foo"}`},
		{"characters JSON escapes", `a"b\c<`, `{"name":"a\"b\\c\u003c"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := PolicyMetadataAnnotation(tt.in); got != tt.want {
				t.Errorf("PolicyMetadataAnnotation(%q) = %s, want %s", tt.in, got, tt.want)
			}
		})
	}
}

func TestTierFromPolicyName(t *testing.T) {
	tests := []struct{ name, policy, want string }{
		{"a name without a dot is in the default tier", "foo", "default"},
		{"a name with a dot is in the tier before it", "security.foo", "security"},
		{"only the first dot counts", "a.b.c", "a"},
		{"Kubernetes NetworkPolicies are in the default tier", "knp.default.web", "default"},
		{"OpenStack security groups are in the default tier", "ossg.default.sg", "default"},
		{"AdminNetworkPolicies are in the adminnetworkpolicy tier", "kanp.adminnetworkpolicy.x", "adminnetworkpolicy"},
		{"BaselineAdminNetworkPolicies are in the baselineadminnetworkpolicy tier", "kbanp.baselineadminnetworkpolicy.x", "baselineadminnetworkpolicy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := TierFromPolicyName(tt.policy); got != tt.want {
				t.Errorf("TierFromPolicyName(%q) = %q, want %q", tt.policy, got, tt.want)
			}
		})
	}
}
