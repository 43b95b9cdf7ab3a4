package k8s

import (
	"bytes"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"
)

// header is what DecodeKubernetes reads of a document before choosing a
// type for it.
type header struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	// id names the object in errors: "<namespace>/<name>", "<name>" or "".
	id string
}

// readHeader reads the apiVersion and kind of a document, and its name and
// namespace where they are strings.
func readHeader(doc []byte) (header, error) {
	var h header
	if err := yaml.Unmarshal(doc, &h); err != nil {
		return header{}, err
	}
	var m struct {
		Metadata struct {
			Name      string `json:"name"`
			Namespace string `json:"namespace"`
		} `json:"metadata"`
	}
	if yaml.Unmarshal(doc, &m) == nil {
		h.id = m.Metadata.Name
		if m.Metadata.Namespace != "" {
			h.id = m.Metadata.Namespace + "/" + h.id
		}
	}
	return h, nil
}

func (h header) String() string {
	return strings.TrimSpace(h.APIVersion + " " + h.Kind + " " + h.id)
}

// DecodeKubernetes decodes one YAML or JSON document holding a Kubernetes
// object this package converts: apiVersion v1 Namespace, Pod,
// ServiceAccount or List (whose items must all be such objects), or
// networking.k8s.io/v1 NetworkPolicy. Seed 003 of Calico's documentation
// writes NetworkPolicy as extensions/v1beta1, the same schema under its old
// group; it is accepted and returned as networking.k8s.io/v1.
//
// ok is false, with no error, for a document of any other apiVersion and
// kind, so that the caller can hand it to another decoder (projectcalico.org/v3
// documents to api/v3's). Decoding is strict, as sigs.k8s.io/yaml's
// UnmarshalStrict is: an unknown or duplicate field is an error wrapping
// ErrInvalid naming the document. A List item of another kind is an error
// wrapping ErrUnsupportedKind. A document that is not a YAML mapping at all is
// an error with ok false.
func DecodeKubernetes(doc []byte) (objs []runtime.Object, ok bool, err error) {
	h, err := readHeader(doc)
	if err != nil {
		return nil, false, fmt.Errorf("k8s: read document header: %w", err)
	}
	if h.APIVersion == "v1" && h.Kind == "List" {
		objs, err := decodeList(doc, h)
		return objs, true, err
	}
	obj, ok, err := decodeObject(doc, h)
	if !ok || err != nil {
		return nil, ok, err
	}
	return []runtime.Object{obj}, true, nil
}

// decodeObject decodes a document of a single-object kind; ok is false for
// a kind this package does not convert.
func decodeObject(doc []byte, h header) (runtime.Object, bool, error) {
	var obj runtime.Object
	switch {
	case h.APIVersion == "v1" && h.Kind == "Namespace":
		obj = &corev1.Namespace{}
	case h.APIVersion == "v1" && h.Kind == "Pod":
		obj = &corev1.Pod{}
	case h.APIVersion == "v1" && h.Kind == "ServiceAccount":
		obj = &corev1.ServiceAccount{}
	case h.Kind == "NetworkPolicy" && (h.APIVersion == "networking.k8s.io/v1" || h.APIVersion == "extensions/v1beta1"):
		obj = &networkingv1.NetworkPolicy{}
	default:
		return nil, false, nil
	}
	if err := yaml.UnmarshalStrict(doc, obj); err != nil {
		return nil, true, fmt.Errorf("%w: decode %s: %w", ErrInvalid, h, err)
	}
	if np, isPolicy := obj.(*networkingv1.NetworkPolicy); isPolicy {
		np.APIVersion = networkingv1.SchemeGroupVersion.String()
	}
	return obj, true, nil
}

func decodeList(doc []byte, h header) ([]runtime.Object, error) {
	var list corev1.List
	if err := yaml.UnmarshalStrict(doc, &list); err != nil {
		return nil, fmt.Errorf("%w: decode %s: %w", ErrInvalid, h, err)
	}
	objs := make([]runtime.Object, 0, len(list.Items))
	for i, item := range list.Items {
		ih, err := readHeader(item.Raw)
		if err != nil || len(item.Raw) == 0 {
			return nil, fmt.Errorf("%w: List item %d is not an object", ErrInvalid, i)
		}
		obj, ok, err := decodeObject(item.Raw, ih)
		if err != nil {
			return nil, fmt.Errorf("decode List item %d: %w", i, err)
		}
		if !ok {
			return nil, fmt.Errorf("%w: List item %d: %s", ErrUnsupportedKind, i, ih)
		}
		objs = append(objs, obj)
	}
	return objs, nil
}

// SplitYAML splits a stream of YAML (or JSON) documents at the lines that
// are a document marker "---" (alone, or followed by blanks or a comment),
// and drops the documents that hold nothing but blanks and comments. YAML
// forbids such a line inside a document, block scalars included, so
// splitting on lines is exact.
func SplitYAML(data []byte) [][]byte {
	var docs [][]byte
	var cur []byte
	flush := func() {
		if !blank(cur) {
			docs = append(docs, cur)
		}
		cur = nil
	}
	for len(data) > 0 {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i+1], data[i+1:]
		} else {
			data = nil
		}
		if isMarker(line) {
			flush()
			continue
		}
		cur = append(cur, line...)
	}
	flush()
	return docs
}

func isMarker(line []byte) bool {
	rest, ok := bytes.CutPrefix(bytes.TrimRight(line, " \t\r\n"), []byte("---"))
	if !ok {
		return false
	}
	if len(rest) == 0 {
		return true
	}
	if rest[0] != ' ' && rest[0] != '\t' {
		return false
	}
	return bytes.HasPrefix(bytes.TrimLeft(rest, " \t"), []byte("#"))
}

func blank(doc []byte) bool {
	for _, line := range bytes.Split(doc, []byte("\n")) {
		l := bytes.TrimSpace(line)
		if len(l) > 0 && l[0] != '#' {
			return false
		}
	}
	return true
}
