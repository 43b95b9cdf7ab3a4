package conformance

import (
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/runtime"

	v3 "github.com/tabby-project/tabby/api/v3"
	"github.com/tabby-project/tabby/k8s"
)

// Resources returns the projectcalico.org/v3 objects a cluster running Calico
// holds for the model with the case applied: the model's namespaces and pods
// converted as Calico converts them (profiles kns.<ns>, WorkloadEndpoints),
// then the case's documents in order. A case document is either a Kubernetes
// one (converted likewise, so a NetworkPolicy becomes knp.default.<name>) or
// a projectcalico.org/v3 one, which is defaulted and validated as calicoctl
// does before applying it, a namespaced kind without a namespace landing in
// "default".
//
// Objects come in the order they are to be applied: a later object with the
// key of an earlier one (a case's own Profile kns.z, say) replaces it.
// Converted objects are exactly what k8s.Convert makes, and they too must
// pass v3.Validate, so a conversion can never produce what calicoctl would
// refuse. Resources fails, naming the document, on
// anything that does not decode, convert without a warning or validate: a
// case must mean exactly what it says.
func Resources(m Model, c Case) ([]v3.Object, error) {
	model, err := Decode([]byte(m.KubernetesYAML()))
	if err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	objs, err := Decode([]byte(c.YAML))
	if err != nil {
		return nil, fmt.Errorf("case %q: %w", c.Name, err)
	}
	return append(model, objs...), nil
}

// Decode reads a stream of YAML (or JSON) documents, each either a
// Kubernetes object k8s.DecodeKubernetes reads or a projectcalico.org/v3
// one, into the Calico objects they stand for, in document order, exactly as
// Resources reads a case. The error names the 1-based document at fault.
func Decode(data []byte) ([]v3.Object, error) {
	var out []v3.Object
	for i, doc := range k8s.SplitYAML(data) {
		objs, err := decodeDocument(doc)
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i+1, err)
		}
		out = append(out, objs...)
	}
	return out, nil
}

func decodeDocument(doc []byte) ([]v3.Object, error) {
	kobjs, ok, err := k8s.DecodeKubernetes(doc)
	if err != nil {
		return nil, err
	}
	if ok {
		return convert(kobjs)
	}
	objs, err := v3.Decode(doc)
	if err != nil {
		return nil, err
	}
	for _, o := range objs {
		if info, known := v3.LookupKind(v3.KindOf(o)); known && info.Namespaced && o.GetNamespace() == "" {
			o.SetNamespace("default")
		}
		v3.Default(o)
		if err := v3.Validate(o); err != nil {
			return nil, err
		}
	}
	return objs, nil
}

func convert(kobjs []runtime.Object) ([]v3.Object, error) {
	res := k8s.Convert(kobjs)
	if len(res.Reports) > 0 {
		errs := make([]error, len(res.Reports))
		for i, r := range res.Reports {
			errs[i] = fmt.Errorf("%s %s/%s: %s", r.Kind, r.Namespace, r.Name, r)
		}
		return nil, errors.Join(errs...)
	}
	for _, o := range res.Objects {
		if err := v3.Validate(o); err != nil {
			return nil, fmt.Errorf("converted: %w", err)
		}
	}
	return res.Objects, nil
}
