package analysis

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"

	v3 "github.com/tabby-project/tabby/api/v3"
	"github.com/tabby-project/tabby/k8s"
)

// File is one input of Decode: the name messages give it (a path, or
// "stdin") and its content.
type File struct {
	Name string
	Data []byte
}

// Problem is one thing wrong with one document of the input.
type Problem struct {
	File string
	// Document is the 1-based position of the document in the file, 0 for
	// a problem with the file as a whole.
	Document int
	// Resource names the resource as far as the document says
	// ("NetworkPolicy prod/deny"), or is empty.
	Resource string
	Err      error
}

// Error prints the problem on one line:
// "FILE: document N (RESOURCE): problem".
func (p *Problem) Error() string {
	return where(p.File, p.Document, p.Resource) + ": " + p.Err.Error()
}

// Unwrap returns the cause.
func (p *Problem) Unwrap() error { return p.Err }

// LoadError lists every problem Decode found, in input order.
type LoadError struct {
	Problems []*Problem
}

// Error prints one problem per line.
func (e *LoadError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns the problems, so that errors.Is and errors.As see each.
func (e *LoadError) Unwrap() []error {
	errs := make([]error, len(e.Problems))
	for i, p := range e.Problems {
		errs[i] = p
	}
	return errs
}

// ErrKubernetesInList is the cause of a Problem for a Kubernetes object
// given as an item of a JSON array or stream, which Decode cannot convert.
var ErrKubernetesInList = errors.New("analysis: a Kubernetes object must be a document of its own, not an item of a JSON array or stream")

// Decode reads the resources of files, in order: projectcalico.org/v3
// documents of any kind, defaulted and validated as calicoctl apply does
// (a namespaced resource without a namespace is in "default"), and
// Kubernetes Namespaces, Pods, ServiceAccounts and NetworkPolicies,
// converted into the profiles, workload endpoints and policies Calico makes
// of them.
//
// The notes say what Decode did that changes the picture without being an
// error: a document of another Kubernetes kind skipped, a pod that gets no
// endpoint (host network, not scheduled, no address) skipped, a conversion
// warning, a resource replaced by a later definition with the same kind,
// namespace and name (the later one is kept, as applying the files in order
// would keep it).
//
// If any document does not decode, convert or validate, Decode returns a
// *LoadError with every problem and no objects.
func Decode(files []File) (objs []v3.Object, notes []string, err error) {
	d := decoder{seen: map[v3.Key]origin{}}
	for _, f := range files {
		d.file(f)
	}
	if len(d.problems) > 0 {
		return nil, d.notes, &LoadError{Problems: d.problems}
	}
	return d.objs, d.notes, nil
}

// origin is where a resource was read: file and document.
type origin struct {
	file string
	doc  int
	at   int // index in decoder.objs
}

type decoder struct {
	objs     []v3.Object
	seen     map[v3.Key]origin
	notes    []string
	problems []*Problem
}

func (d *decoder) problem(file string, doc int, resource string, err error) {
	d.problems = append(d.problems, &Problem{File: file, Document: doc, Resource: resource, Err: err})
}

func (d *decoder) note(file string, doc int, resource, text string) {
	d.notes = append(d.notes, where(file, doc, resource)+": "+text)
}

// file reads one file document by document. Kubernetes objects are
// recognised per YAML document; everything else goes to the v3 codec,
// which also reads JSON arrays and streams (numbered as it numbers them).
func (d *decoder) file(f File) {
	chunks := k8s.SplitYAML(f.Data)
	if len(chunks) == 0 {
		d.note(f.Name, 0, "", "no resources")
		return
	}
	n := 0
	for _, chunk := range chunks {
		kobjs, isKubernetes, err := k8s.DecodeKubernetes(chunk)
		if isKubernetes {
			n++
			if err != nil {
				d.problem(f.Name, n, "", err)
				continue
			}
			d.kubernetes(f.Name, n, kobjs)
			continue
		}
		n = d.calico(f.Name, n, chunk)
	}
}

// calico decodes a chunk of projectcalico.org/v3 documents numbered from
// base+1 and returns the number of the last one.
func (d *decoder) calico(file string, base int, chunk []byte) int {
	docs, err := v3.DecodeDocuments(chunk)
	last := base + 1
	var de *v3.DecodeError
	switch {
	case errors.As(err, &de):
		for _, p := range de.Problems {
			n := base + p.Document
			last = max(last, n)
			resource := v3.ResourceID(p.Kind, p.Namespace, p.Name)
			if !errors.Is(p, v3.ErrKubernetesResource) {
				d.problem(file, n, resource, documentError{p})
				continue
			}
			switch {
			case isConverted(p.Kind) && inList(chunk, docs, de):
				d.problem(file, n, resource, ErrKubernetesInList)
				continue
			case isConverted(p.Kind):
				d.problem(file, n, resource, fmt.Errorf("a Kubernetes %s of an API version analysis does not read: Namespace, Pod and ServiceAccount are v1, NetworkPolicy is networking.k8s.io/v1", p.Kind))
				continue
			}
			d.note(file, n, resource, "skipped: analysis reads Kubernetes Namespaces, Pods, ServiceAccounts and NetworkPolicies, not "+p.Kind)
		}
	case err != nil:
		d.problem(file, base+1, "", err)
	}
	for _, doc := range docs {
		n := base + doc.Index
		last = max(last, n)
		obj := doc.Object
		resource := v3.ResourceID(v3.KindOf(obj), obj.GetNamespace(), obj.GetName())
		if info, ok := v3.LookupKind(v3.KindOf(obj)); ok && info.Namespaced && obj.GetNamespace() == "" {
			obj.SetNamespace(defaultNamespace)
		}
		v3.Default(obj)
		var ve *v3.ValidationError
		switch err := v3.Validate(obj); {
		case errors.As(err, &ve):
			for _, fe := range ve.Errors {
				d.problem(file, n, resource, fe)
			}
			continue
		case err != nil:
			d.problem(file, n, resource, err)
			continue
		}
		d.add(file, n, obj)
	}
	return last
}

// documentError is a v3.DocumentError printed without its document number
// and resource, which the Problem around it gives.
type documentError struct{ *v3.DocumentError }

func (e documentError) Error() string {
	if e.Path != "" {
		return e.Path + ": " + e.Reason
	}
	return e.Reason
}

func (e documentError) Unwrap() error { return e.DocumentError }

// inList reports whether a chunk the v3 codec read holds several
// documents: a JSON array or stream.
func inList(chunk []byte, docs []v3.Document, de *v3.DecodeError) bool {
	if bytes.HasPrefix(bytes.TrimSpace(chunk), []byte("[")) {
		return true
	}
	for _, d := range docs {
		if d.Index > 1 {
			return true
		}
	}
	for _, p := range de.Problems {
		if p.Document > 1 {
			return true
		}
	}
	return false
}

// isConverted reports whether Decode converts Kubernetes objects of kind.
func isConverted(kind string) bool {
	switch kind {
	case "Namespace", "Pod", "ServiceAccount", "NetworkPolicy", "List":
		return true
	}
	return false
}

// kubernetes converts the Kubernetes objects of document n.
func (d *decoder) kubernetes(file string, n int, kobjs []runtime.Object) {
	res := k8s.Convert(kobjs)
	failed := false
	for _, r := range res.Reports {
		resource := v3.ResourceID(r.Kind, r.Namespace, r.Name)
		switch {
		case r.Warning != "":
			d.note(file, n, resource, "warning: "+r.Warning)
		case errors.Is(r.Err, k8s.ErrNotEndpoint):
			d.note(file, n, resource, "skipped: "+r.Err.Error())
		default:
			d.problem(file, n, resource, r.Err)
			failed = true
		}
	}
	if failed {
		return
	}
	for _, obj := range res.Objects {
		d.add(file, n, obj)
	}
}

// add records obj, replacing an earlier resource with its key.
func (d *decoder) add(file string, n int, obj v3.Object) {
	key := v3.KeyOf(obj)
	if prev, ok := d.seen[key]; ok {
		d.note(file, n, resourceID(key), fmt.Sprintf("replaces the definition in %s: the last one is used", where(prev.file, prev.doc, "")))
		d.objs[prev.at] = obj
		d.seen[key] = origin{file: file, doc: n, at: prev.at}
		return
	}
	d.seen[key] = origin{file: file, doc: n, at: len(d.objs)}
	d.objs = append(d.objs, obj)
}

// where names a place in the input as messages do.
func where(file string, doc int, resource string) string {
	s := file
	if doc > 0 {
		s += fmt.Sprintf(": document %d", doc)
	}
	if resource != "" {
		s += " (" + resource + ")"
	}
	return s
}

// resourceID names a resource as the v3 package's messages do.
func resourceID(k v3.Key) string { return v3.ResourceID(k.Kind, k.Namespace, k.Name) }

// defaultNamespace is where calicoctl puts namespaced resources that name
// no namespace.
const defaultNamespace = "default"
