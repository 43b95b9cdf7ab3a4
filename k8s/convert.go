package k8s

import (
	"fmt"
	"reflect"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	v3 "github.com/tabby-project/tabby/api/v3"
)

// Result is what Convert made of a batch of Kubernetes objects.
type Result struct {
	// Objects holds the Calico objects, in the order of their inputs.
	Objects []v3.Object
	// Reports holds one entry per input that was not converted and one per
	// warning about an input that was, in input order.
	Reports []Report
}

// Report tells what became of one input object that did not convert
// cleanly. Exactly one of Err and Warning is set.
type Report struct {
	// Kind, Namespace and Name identify the input (Namespace is empty for
	// cluster-scoped kinds).
	Kind      string
	Namespace string
	Name      string
	// Err says why no Calico object came of the input. It wraps one of the
	// package's sentinels: ErrNotEndpoint (through the specific reason),
	// ErrInvalid or ErrUnsupportedKind.
	Err error
	// Warning describes an input that was converted but may not do what it
	// seems to.
	Warning string
}

// Skipped reports whether the input produced no Calico object.
func (r Report) Skipped() bool { return r.Err != nil }

// String returns the report as one line that names the object.
func (r Report) String() string {
	if r.Err != nil {
		return "skipped: " + r.Err.Error()
	}
	return "warning: " + r.Warning
}

// Convert converts Namespaces (to profiles), ServiceAccounts (to
// profiles), Pods (to workload endpoints) and NetworkPolicies (to Calico
// network policies), as the functions of the same purpose do. Every input
// yields a Calico object, a Report saying why not, or both when the
// conversion came with a warning; nothing is dropped silently. Other kinds
// are reported with ErrUnsupportedKind.
func Convert(objs []runtime.Object) Result {
	var res Result
	for _, obj := range objs {
		out, warnings, err := convertOne(obj)
		kind, ns, name := identify(obj)
		if err != nil {
			res.Reports = append(res.Reports, Report{Kind: kind, Namespace: ns, Name: name, Err: err})
			continue
		}
		res.Objects = append(res.Objects, out)
		for _, w := range warnings {
			res.Reports = append(res.Reports, Report{Kind: kind, Namespace: ns, Name: name, Warning: w})
		}
	}
	return res
}

func convertOne(obj runtime.Object) (v3.Object, []string, error) {
	switch o := obj.(type) {
	case *corev1.Namespace:
		if o == nil {
			return nil, nil, fmt.Errorf("%w: nil Namespace", ErrInvalid)
		}
		if errs := validateNamespace(o); len(errs) > 0 {
			return nil, nil, invalid("Namespace", "", o.Name, errs)
		}
		return NamespaceProfile(o), nil, nil
	case *corev1.ServiceAccount:
		if o == nil {
			return nil, nil, fmt.Errorf("%w: nil ServiceAccount", ErrInvalid)
		}
		ns := namespaceOrDefault(o.Namespace)
		if errs := validateServiceAccount(o, ns); len(errs) > 0 {
			return nil, nil, invalid("ServiceAccount", ns, o.Name, errs)
		}
		return ServiceAccountProfile(o), nil, nil
	case *corev1.Pod:
		wep, err := WorkloadEndpoint(o)
		if err != nil {
			return nil, nil, err
		}
		return wep, nil, nil
	case *networkingv1.NetworkPolicy:
		np, warnings, err := NetworkPolicy(o)
		if err != nil {
			return nil, nil, err
		}
		return np, warnings, nil
	}
	kind, ns, name := identify(obj)
	id := name
	if ns != "" {
		id = ns + "/" + name
	}
	return nil, nil, fmt.Errorf("%w: %s %s", ErrUnsupportedKind, kind, id)
}

// identify names an object for a Report, from its Go type where it is one
// this package knows (TypeMeta is often empty on objects built in code).
func identify(obj runtime.Object) (kind, ns, name string) {
	switch o := obj.(type) {
	case *corev1.Namespace:
		if o != nil {
			name = o.Name
		}
		return "Namespace", "", name
	case *corev1.ServiceAccount:
		if o != nil {
			ns, name = namespaceOrDefault(o.Namespace), o.Name
		}
		return "ServiceAccount", ns, name
	case *corev1.Pod:
		if o != nil {
			ns, name = namespaceOrDefault(o.Namespace), o.Name
		}
		return "Pod", ns, name
	case *networkingv1.NetworkPolicy:
		if o != nil {
			ns, name = namespaceOrDefault(o.Namespace), o.Name
		}
		return "NetworkPolicy", ns, name
	}
	if obj == nil {
		return "<nil>", "", ""
	}
	if v := reflect.ValueOf(obj); v.Kind() == reflect.Pointer && v.IsNil() {
		return fmt.Sprintf("%T", obj), "", ""
	}
	kind = obj.GetObjectKind().GroupVersionKind().Kind
	if kind == "" {
		kind = fmt.Sprintf("%T", obj)
	}
	if m, ok := obj.(metav1.Object); ok {
		ns, name = m.GetNamespace(), m.GetName()
	}
	return kind, ns, name
}
