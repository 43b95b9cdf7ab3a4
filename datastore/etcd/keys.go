package etcd

import (
	"encoding/json"
	"strings"
	"sync"

	"go.etcd.io/etcd/api/v3/mvccpb"

	v3 "github.com/tabby-project/tabby/api/v3"
	"github.com/tabby-project/tabby/datastore/internal/resource"
)

// Prefix is the root of every key Tabby reads and writes: Calico's
// projectcalico.org/v3 resource prefix.
const Prefix = "/calico/resources/v3/projectcalico.org/"

// legacyPrefix is the tier prefix Calico 3.29-3.31 gave default-tier policy
// names in their keys.
const legacyPrefix = v3.DefaultTierName + "."

// kindByPlural maps an etcd plural to its kind. It is built once and never
// modified.
var kindByPlural = sync.OnceValue(func() map[string]v3.KindInfo {
	m := make(map[string]v3.KindInfo)
	for _, k := range v3.Kinds() {
		m[k.Plural] = k
	}
	return m
})

// KeyPath returns the etcd key of a resource as Calico lays it out:
// Prefix + <plural>/[<namespace>/]<name>. The name is used as given, as
// Calico 3.32 and later do.
func KeyPath(key v3.Key) (string, error) {
	key, info, err := resource.CheckKey(key)
	if err != nil {
		return "", err
	}
	return path(info, key.Namespace, key.Name), nil
}

func path(info v3.KindInfo, ns, name string) string {
	if info.Namespaced {
		return Prefix + info.Plural + "/" + ns + "/" + name
	}
	return Prefix + info.Plural + "/" + name
}

// kindPrefix returns the prefix of every key of kind (every kind for the
// zero KindInfo), restricted to namespace ns when the kind is namespaced
// and ns is not empty. It ends with "/" so that no plural is a prefix of
// another's keys.
func kindPrefix(info v3.KindInfo, ns string) string {
	switch {
	case info.Kind == "":
		return Prefix
	case info.Namespaced && ns != "":
		return Prefix + info.Plural + "/" + ns + "/"
	}
	return Prefix + info.Plural + "/"
}

// parsePath maps an etcd key back to its kind, namespace and name (the name
// in the key, before any policy-name translation). Keys of kinds Tabby does
// not model, such as Calico's IP pools or nodes, give ok false.
func parsePath(p string) (info v3.KindInfo, ns, name string, ok bool) {
	rest, found := strings.CutPrefix(p, Prefix)
	if !found {
		return info, "", "", false
	}
	parts := strings.Split(rest, "/")
	info, ok = kindByPlural()[parts[0]]
	switch {
	case !ok:
		return info, "", "", false
	case info.Namespaced && len(parts) == 3 && parts[1] != "" && parts[2] != "":
		return info, parts[1], parts[2], true
	case !info.Namespaced && len(parts) == 2 && parts[1] != "":
		return info, "", parts[1], true
	}
	return info, "", "", false
}

// isPolicyKind reports whether Calico applies its policy-name rules to the
// kind: the metadata annotation and, in 3.29-3.31, the tier prefix.
func isPolicyKind(kind string) bool {
	switch kind {
	case v3.KindNetworkPolicy, v3.KindGlobalNetworkPolicy,
		v3.KindStagedNetworkPolicy, v3.KindStagedGlobalNetworkPolicy:
		return true
	}
	return false
}

// legacyName returns the name under which Calico 3.29-3.31 stored the
// policy called name, if it differs: those versions prefixed a name without
// a dot with "default." (a policy of another tier had to be named
// "<tier>.<name>" already, and is stored under that name).
func legacyName(info v3.KindInfo, name string) (string, bool) {
	if !isPolicyKind(info.Kind) || strings.Contains(name, ".") {
		return "", false
	}
	return legacyPrefix + name, true
}

// policyTier returns spec.tier of a policy object.
func policyTier(obj v3.Object) string {
	switch p := obj.(type) {
	case *v3.NetworkPolicy:
		return p.Spec.Tier
	case *v3.GlobalNetworkPolicy:
		return p.Spec.Tier
	case *v3.StagedNetworkPolicy:
		return p.Spec.Tier
	case *v3.StagedGlobalNetworkPolicy:
		return p.Spec.Tier
	}
	return ""
}

// policyMetadata is the value of the projectcalico.org/metadata annotation.
type policyMetadata struct {
	Name string `json:"name"`
}

// encodeValue returns the stored JSON of obj, a private copy prepared by
// resource.CheckOps, stored under storedName. The value is the whole object
// without resourceVersion; a policy also records name, its name as the
// user knows it, in the projectcalico.org/metadata annotation, as every
// Calico since 3.29 does.
func encodeValue(obj v3.Object, name, storedName string) ([]byte, error) {
	if isPolicyKind(v3.KindOf(obj)) {
		md, err := json.Marshal(policyMetadata{Name: name})
		if err != nil {
			return nil, err
		}
		ann := make(map[string]string, len(obj.GetAnnotations())+1)
		for k, v := range obj.GetAnnotations() {
			ann[k] = v
		}
		ann[v3.AnnotationMetadata] = string(md)
		obj.SetAnnotations(ann)
	}
	obj.SetName(storedName)
	return resource.Encode(obj)
}

// decodeValue turns a stored key-value into the object users see, with its
// mod revision as resourceVersion. For a policy the name is the one in the
// projectcalico.org/metadata annotation, which is then removed; without the
// annotation a "default." prefix is stripped from the name of a
// default-tier policy. These are Calico's rules, so data written by Calico
// 3.29-3.31 and by 3.32+ reads back under the names their users gave.
func decodeValue(info v3.KindInfo, kv *mvccpb.KeyValue) (v3.Object, error) {
	obj, err := resource.Decode(info, kv.Value)
	if err != nil {
		return nil, err
	}
	_, ns, name, _ := parsePath(string(kv.Key))
	if obj.GetName() == "" {
		obj.SetName(name)
	}
	if info.Namespaced && obj.GetNamespace() == "" {
		obj.SetNamespace(ns)
	}
	if isPolicyKind(info.Kind) {
		obj.SetName(policyName(obj))
	}
	obj.SetResourceVersion(formatRev(kv.ModRevision))
	return obj, nil
}

// policyName returns a stored policy's user-visible name and removes the
// metadata annotation it came from.
func policyName(obj v3.Object) string {
	ann := obj.GetAnnotations()
	if raw, ok := ann[v3.AnnotationMetadata]; ok {
		var md policyMetadata
		if err := json.Unmarshal([]byte(raw), &md); err == nil && md.Name != "" {
			delete(ann, v3.AnnotationMetadata)
			if len(ann) == 0 {
				ann = nil
			}
			obj.SetAnnotations(ann)
			return md.Name
		}
	}
	if t := policyTier(obj); t == "" || t == v3.DefaultTierName {
		return strings.TrimPrefix(obj.GetName(), legacyPrefix)
	}
	return obj.GetName()
}
