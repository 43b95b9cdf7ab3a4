package v3

// The codec reads what calicoctl reads and writes what calicoctl writes:
//
//	bytes ─► split into documents ─► generic value per document
//	      (YAML: "---" lines; JSON: a stream of objects and arrays)
//	      ─► check apiVersion and kind ─► build the typed object
//	         (build.go: strict, every problem with its field path)
//
// Encoding marshals with encoding/json (struct field order) and, for YAML,
// converts with sigs.k8s.io/yaml, which sorts keys: the same bytes calicoctl
// prints, minus the "creationTimestamp: null" that metav1.ObjectMeta emits
// for objects that were never stored.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"

	yamlv2 "go.yaml.in/yaml/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"
)

// Errors a DocumentError wraps, for callers that branch on the kind of
// problem.
var (
	// ErrSyntax: the input is not YAML or JSON, or a document is not an
	// object.
	ErrSyntax = errors.New("v3: malformed YAML or JSON")
	// ErrAPIVersion: a document's apiVersion is not projectcalico.org/v3.
	ErrAPIVersion = errors.New("v3: apiVersion is not " + APIVersion)
	// ErrKubernetesResource: the document belongs to a Kubernetes API group
	// (networking.k8s.io/v1 NetworkPolicy, a v1 Namespace...). Errors that
	// wrap it also wrap ErrAPIVersion.
	ErrKubernetesResource = errors.New("v3: Kubernetes resource, not a Calico one")
	// ErrUnknownKind: the kind is missing, unknown or not supported.
	ErrUnknownKind = errors.New("v3: unknown kind")
	// ErrUnknownField: a key matches no field of the resource.
	ErrUnknownField = errors.New("v3: unknown field")
	// ErrFieldValue: a value has the wrong type or is out of range for its
	// field.
	ErrFieldValue = errors.New("v3: bad field value")
)

// Document is one resource read by DecodeDocuments, with its place in the
// input.
type Document struct {
	// Index is the 1-based position of the document among the input's
	// resource documents: YAML documents and JSON objects, not counting
	// empty ones, with each element of a top-level list counted.
	Index int
	// Item is the 0-based position of the resource in the items of a
	// "<Kind>List" document, or -1 if the document is the resource itself.
	Item int
	// Object is the decoded resource.
	Object Object
}

// String names the document as error messages do: "document 3", or
// "document 1 items[2]" for an item of a list.
func (d Document) String() string {
	if d.Item >= 0 {
		return fmt.Sprintf("document %d items[%d]", d.Index, d.Item)
	}
	return fmt.Sprintf("document %d", d.Index)
}

// DocumentError is one problem with one document of the input.
type DocumentError struct {
	// Document is the 1-based document number, as in Document.Index.
	Document int
	// Kind, Namespace and Name identify the resource as far as the
	// document says; any of them may be empty.
	Kind, Namespace, Name string
	// Path is the field the problem is in, such as "spec.ingress[0].bogus",
	// or empty for a problem with the document as a whole.
	Path string
	// Reason says what is wrong.
	Reason string
	// Err is one of the sentinel errors of this package.
	Err error
}

// Error prints the problem on one line:
// `document 2 (NetworkPolicy default/x): spec.ingress[0].bogus: unknown field`.
func (e *DocumentError) Error() string {
	var b strings.Builder
	b.WriteString("document ")
	b.WriteString(strconv.Itoa(e.Document))
	if id := ResourceID(e.Kind, e.Namespace, e.Name); id != "" {
		b.WriteString(" (")
		b.WriteString(id)
		b.WriteByte(')')
	}
	b.WriteString(": ")
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Reason)
	return b.String()
}

// Unwrap returns the sentinel error that classifies the problem.
func (e *DocumentError) Unwrap() error { return e.Err }

// ResourceID names a resource as the messages of this package do:
// "Kind namespace/name", "Kind name" or "Kind", skipping what is empty, or
// "" without a kind. A part holding spaces or unprintable characters is
// quoted, so that the result is one unambiguous line.
func ResourceID(kind, namespace, name string) string {
	if kind == "" {
		return ""
	}
	kind, namespace, name = idPart(kind), idPart(namespace), idPart(name)
	id := kind
	switch {
	case name != "" && namespace != "":
		id += " " + namespace + "/" + name
	case name != "":
		id += " " + name
	}
	return id
}

// idPart returns one part of a resource identifier as it is, or quoted if
// it holds spaces or unprintable characters, which would make a message
// ambiguous or break it across lines.
func idPart(s string) string {
	if strings.IndexFunc(s, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }) >= 0 {
		return strconv.Quote(s)
	}
	return s
}

// DecodeError lists every problem Decode found, in input order.
type DecodeError struct {
	Problems []*DocumentError
}

// Error prints one problem per line.
func (e *DecodeError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns the problems, so that errors.Is and errors.As see each.
func (e *DecodeError) Unwrap() []error {
	errs := make([]error, len(e.Problems))
	for i, p := range e.Problems {
		errs[i] = p
	}
	return errs
}

// Decode reads every resource in data: multi-document YAML ("---"
// separated), or JSON (an object, an array of objects, or several
// concatenated). One input may mix kinds. "<Kind>List" documents give their
// items. Empty documents are skipped.
//
// Decoding is strict: apiVersion must be projectcalico.org/v3, the kind must
// be one of Kinds, and every key must be a field of the resource. The error,
// if any, is a *DecodeError naming each problem's document and field path;
// the objects returned are then those of the documents without problems, in
// input order, so a caller that needs all or nothing must check the error.
//
// Decode neither defaults nor validates: see Default and Validate.
func Decode(data []byte) ([]Object, error) {
	docs, err := DecodeDocuments(data)
	if len(docs) == 0 {
		return nil, err
	}
	objs := make([]Object, len(docs))
	for i, d := range docs {
		objs[i] = d.Object
	}
	return objs, err
}

// DecodeDocuments is Decode, also saying which document each object came
// from.
func DecodeDocuments(data []byte) ([]Document, error) {
	var d decoder
	for _, v := range parse(data) {
		d.top(v)
	}
	if len(d.problems) > 0 {
		return d.docs, &DecodeError{Problems: d.problems}
	}
	return d.docs, nil
}

// rawValue is one top-level value of the input, or the syntax error that
// stopped it from being read, or the field problems that did.
type rawValue struct {
	value any
	err   string
	// problems, with ctx, are set when a YAML document parsed but holds
	// values JSON cannot carry (see nonFiniteProblems).
	problems []fieldProblem
	ctx      docContext
}

// failed reports whether the value could not be read.
func (v rawValue) failed() bool { return v.err != "" || len(v.problems) > 0 }

var utf8BOM = []byte("\xef\xbb\xbf")

// parse splits data into its top-level values. Input that starts like JSON
// is read as a JSON stream; if that fails but it reads as YAML (flow style
// looks like JSON), or its first value was not JSON at all, the YAML reading
// wins.
func parse(data []byte) []rawValue {
	data = bytes.TrimPrefix(data, utf8BOM)
	trimmed := bytes.TrimLeftFunc(data, unicode.IsSpace)
	if len(trimmed) == 0 || (trimmed[0] != '{' && trimmed[0] != '[') {
		return parseYAML(data)
	}
	values, jsonErr := parseJSON(data)
	if jsonErr == nil {
		return values
	}
	fromYAML := parseYAML(data)
	if len(values) == 0 || !slices.ContainsFunc(fromYAML, rawValue.failed) {
		return fromYAML
	}
	return append(values, rawValue{err: jsonErr.Error()})
}

func parseJSON(data []byte) ([]rawValue, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var values []rawValue
	for {
		var v any
		err := dec.Decode(&v)
		if err == io.EOF {
			return values, nil
		}
		if err != nil {
			var se *json.SyntaxError
			if errors.As(err, &se) {
				return values, fmt.Errorf("line %d: %s", lineOf(data, se.Offset), se.Error())
			}
			return values, err
		}
		if v != nil {
			values = append(values, rawValue{value: v})
		}
	}
}

func lineOf(data []byte, offset int64) int {
	if offset > int64(len(data)) {
		offset = int64(len(data))
	}
	return bytes.Count(data[:offset], []byte("\n")) + 1
}

// yamlChunk is the text of one YAML document and the line it starts on.
type yamlChunk struct {
	text []byte
	line int
}

// splitYAML cuts data at document separators: lines that start with "---"
// or "..." followed by nothing, a space or a tab. Text after "--- " on the
// same line belongs to the next document.
func splitYAML(data []byte) []yamlChunk {
	var chunks []yamlChunk
	cur := yamlChunk{line: 1}
	lineNo := 0
	for len(data) > 0 {
		lineNo++
		line, rest, _ := bytes.Cut(data, []byte("\n"))
		data = rest
		if marker, after, ok := documentMarker(line); ok {
			chunks = append(chunks, cur)
			cur = yamlChunk{line: lineNo + 1}
			if marker == "---" && len(bytes.TrimSpace(after)) > 0 {
				cur = yamlChunk{text: append(append([]byte(nil), after...), '\n'), line: lineNo}
			}
			continue
		}
		cur.text = append(cur.text, line...)
		cur.text = append(cur.text, '\n')
	}
	return append(chunks, cur)
}

func documentMarker(line []byte) (marker string, after []byte, ok bool) {
	for _, m := range []string{"---", "..."} {
		if !bytes.HasPrefix(line, []byte(m)) {
			continue
		}
		after = line[len(m):]
		if len(after) == 0 || after[0] == ' ' || after[0] == '\t' || after[0] == '\r' {
			return m, after, true
		}
	}
	return "", nil, false
}

var yamlLineRE = regexp.MustCompile(`line (\d+)`)

func parseYAML(data []byte) []rawValue {
	var values []rawValue
	for _, c := range splitYAML(data) {
		if len(bytes.TrimSpace(c.text)) == 0 {
			continue
		}
		j, err := yaml.YAMLToJSONStrict(c.text)
		if err != nil {
			if ctx, problems, ok := nonFiniteProblems(c.text, err); ok {
				values = append(values, rawValue{ctx: ctx, problems: problems})
				continue
			}
			values = append(values, rawValue{err: yamlError(err, c.line)})
			continue
		}
		if trailingContent(c.text) {
			values = append(values, rawValue{err: fmt.Sprintf(
				"line %d: more content follows the first {...} or [...] value: separate documents with a \"---\" line", c.line)})
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(j))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			values = append(values, rawValue{err: err.Error()})
			continue
		}
		if v != nil {
			values = append(values, rawValue{value: v})
		}
	}
	return values
}

// trailingContent reports whether a YAML document whose root is a flow
// collection ({...} or [...]) is followed by more content. The YAML parser
// reads one document and ignores what comes after it, which would drop
// resources silently; block-style roots cannot end early, so only flow
// roots need the second look.
func trailingContent(doc []byte) bool {
	for _, line := range bytes.Split(doc, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		if line[0] != '{' && line[0] != '[' {
			return false
		}
		break
	}
	dec := yamlv2.NewDecoder(bytes.NewReader(doc))
	var first, second any
	if err := dec.Decode(&first); err != nil {
		return false
	}
	return dec.Decode(&second) != io.EOF
}

// nonFiniteProblems explains a YAML document that could not be converted to
// JSON because it holds .inf, -.inf or .nan, numbers YAML has and JSON (and
// so Calico's datastore) cannot carry. It names each such value by its field
// path, as the builder names any other bad value, and returns the
// document's context for the message. ok is false if convErr has another
// cause or the document is not a mapping.
func nonFiniteProblems(doc []byte, convErr error) (c docContext, problems []fieldProblem, ok bool) {
	var uve *json.UnsupportedValueError
	if !errors.As(convErr, &uve) {
		return docContext{}, nil, false
	}
	var root any
	if err := yamlv2.Unmarshal(doc, &root); err != nil {
		return docContext{}, nil, false
	}
	m, isMap := stringKeys(root).(map[string]any)
	if !isMap {
		return docContext{}, nil, false
	}
	c = contextOf(m)
	if info, ok := kindByName(c.kind); ok {
		findNonFinite(m, reflect.TypeOf(info.New()).Elem(), nil, &problems)
	} else if base, isList := strings.CutSuffix(c.kind, "List"); isList {
		// The items of a list are typed by the list's kind, not by
		// listDocument, which leaves them generic.
		itemType := reflect.Type(nil)
		if info, ok := kindByName(base); ok {
			itemType = reflect.TypeOf(info.New()).Elem()
		}
		for _, k := range sortedKeys(m) {
			if items, isItems := m[k].([]any); isItems && strings.EqualFold(k, "items") {
				for i, item := range items {
					findNonFinite(item, itemType, (&path{field: k}).at(i), &problems)
				}
				continue
			}
			findNonFinite(m[k], nil, &path{field: k}, &problems)
		}
	} else {
		findNonFinite(m, nil, nil, &problems)
	}
	return c, problems, len(problems) > 0
}

// stringKeys turns the maps the YAML parser gives (with keys of any type)
// into maps with string keys, as JSON objects have.
func stringKeys(v any) any {
	switch x := v.(type) {
	case map[any]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[fmt.Sprint(k)] = stringKeys(e)
		}
		return m
	case []any:
		for i, e := range x {
			x[i] = stringKeys(e)
		}
		return x
	}
	return v
}

// findNonFinite walks v, a value of Go type t (nil when unknown), and
// reports each infinite or NaN number with its path. Knowing the type lets
// it print map keys as the builder does: metadata.labels["x"].
func findNonFinite(v any, t reflect.Type, p *path, out *[]fieldProblem) {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t != nil && isLeaf(t) {
		t = nil
	}
	switch x := v.(type) {
	case float64:
		if math.IsInf(x, 0) || math.IsNaN(x) {
			*out = append(*out, fieldProblem{path: p.String(), err: ErrFieldValue,
				reason: yamlFloat(x) + " is not a finite number"})
		}
	case map[string]any:
		for _, k := range sortedKeys(x) {
			cp, ct := p.child(k), reflect.Type(nil)
			switch {
			case t != nil && t.Kind() == reflect.Struct:
				sf := fieldsOf(t)
				if i, _, ok := sf.lookup(k); ok {
					ct = t.FieldByIndex(sf.list[i].index).Type
				}
			case t != nil && t.Kind() == reflect.Map:
				cp, ct = p.key(k), t.Elem()
			}
			findNonFinite(x[k], ct, cp, out)
		}
	case []any:
		var et reflect.Type
		if t != nil && t.Kind() == reflect.Slice {
			et = t.Elem()
		}
		for i, e := range x {
			findNonFinite(e, et, p.at(i), out)
		}
	}
}

// yamlFloat spells a non-finite number as YAML does.
func yamlFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return ".nan"
	case f < 0:
		return "-.inf"
	}
	return ".inf"
}

// yamlError rewrites a YAML parser error on one line, with line numbers
// counted from the start of the input rather than of the document.
func yamlError(err error, firstLine int) string {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	msg = strings.TrimPrefix(msg, "unmarshal errors:\n")
	msg = strings.Join(strings.Fields(strings.ReplaceAll(msg, "\n", "; ")), " ")
	return yamlLineRE.ReplaceAllStringFunc(msg, func(m string) string {
		n, err := strconv.Atoi(strings.TrimPrefix(m, "line "))
		if err != nil {
			return m
		}
		return "line " + strconv.Itoa(n+firstLine-1)
	})
}

// decoder turns top-level values into documents.
type decoder struct {
	docs     []Document
	problems []*DocumentError
	n        int // number of the last document seen
}

func (d *decoder) top(v rawValue) {
	if len(v.problems) > 0 {
		// A document of a kind Tabby does not read is refused for that,
		// whatever its values.
		d.n++
		if _, _, ok := d.identify(v.ctx); ok {
			for _, p := range v.problems {
				d.fail(v.ctx, p)
			}
		}
		return
	}
	if v.err != "" {
		d.n++
		d.problems = append(d.problems, &DocumentError{Document: d.n, Reason: v.err, Err: ErrSyntax})
		return
	}
	if list, ok := v.value.([]any); ok {
		for _, e := range list {
			if e != nil {
				d.n++
				d.document(e)
			}
		}
		return
	}
	d.n++
	d.document(v.value)
}

// docContext is what a document says about itself, for error messages.
type docContext struct {
	apiVersion, kind, namespace, name string
}

func contextOf(m map[string]any) docContext {
	c := docContext{apiVersion: foldString(m, "apiVersion"), kind: foldString(m, "kind")}
	if meta, ok := foldGet(m, "metadata").(map[string]any); ok {
		c.namespace = foldString(meta, "namespace")
		c.name = foldString(meta, "name")
	}
	return c
}

// foldGet finds key in m as encoding/json would match a field name.
func foldGet(m map[string]any, key string) any {
	if v, ok := m[key]; ok {
		return v
	}
	for k, v := range m {
		if strings.EqualFold(k, key) {
			return v
		}
	}
	return nil
}

func foldString(m map[string]any, key string) string {
	s, _ := foldGet(m, key).(string)
	return s
}

func (d *decoder) fail(c docContext, p fieldProblem) {
	d.problems = append(d.problems, &DocumentError{
		Document: d.n, Kind: c.kind, Namespace: c.namespace, Name: c.name,
		Path: p.path, Reason: p.reason, Err: p.err,
	})
}

func (d *decoder) document(raw any) {
	m, ok := raw.(map[string]any)
	if !ok {
		d.fail(docContext{}, fieldProblem{reason: "a resource must be an object, not " + describe(raw), err: ErrSyntax})
		return
	}
	c := contextOf(m)
	info, list, ok := d.identify(c)
	switch {
	case !ok:
	case list:
		d.list(c, m, info)
	default:
		d.object(c, m, info, nil, -1)
	}
}

// identify finds the kind of a document, and whether the document is a
// list of that kind, or reports why it has none Tabby reads.
func (d *decoder) identify(c docContext) (info KindInfo, list, ok bool) {
	if p, ok := checkAPIVersion(c); !ok {
		d.fail(docContext{kind: c.kind, namespace: c.namespace, name: c.name}, p)
		return KindInfo{}, false, false
	}
	if info, ok := kindByName(c.kind); ok {
		return info, false, true
	}
	if base, ok := strings.CutSuffix(c.kind, "List"); ok {
		if info, ok := kindByName(base); ok {
			return info, true, true
		}
	}
	if c.kind == "" {
		d.fail(c, fieldProblem{path: "kind", reason: "must be specified", err: ErrUnknownKind})
		return KindInfo{}, false, false
	}
	d.fail(c, fieldProblem{reason: unknownKindReason(c.kind), err: ErrUnknownKind})
	return KindInfo{}, false, false
}

// object builds one resource of kind info from m, found at p in the
// document.
func (d *decoder) object(c docContext, m map[string]any, info KindInfo, p *path, item int) {
	obj := info.New()
	var b builder
	b.set(p, m, reflect.ValueOf(obj).Elem())
	for _, fp := range b.problems {
		d.fail(c, fp)
	}
	if len(b.problems) > 0 {
		return
	}
	truncateTimes(obj)
	gvk := obj.GetObjectKind().GroupVersionKind()
	if gvk.Kind == "" || gvk.Version == "" {
		obj.GetObjectKind().SetGroupVersionKind(schema.GroupVersionKind{Group: Group, Version: Version, Kind: info.Kind})
	}
	d.docs = append(d.docs, Document{Index: d.n, Item: item, Object: obj})
}

// listDocument is the shape of a "<Kind>List" document; its items are
// decoded one by one against the item kind.
type listDocument struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []any `json:"items"`
}

func (d *decoder) list(c docContext, m map[string]any, info KindInfo) {
	var l listDocument
	var b builder
	b.set(nil, m, reflect.ValueOf(&l).Elem())
	for _, fp := range b.problems {
		d.fail(c, fp)
	}
	if len(b.problems) > 0 {
		return
	}
	items := (&path{field: "items"})
	for i, raw := range l.Items {
		p := items.at(i)
		im, ok := raw.(map[string]any)
		if !ok {
			d.fail(c, fieldProblem{path: p.String(), reason: "expected an object, got " + describe(raw), err: ErrFieldValue})
			continue
		}
		ic := contextOf(im)
		if ic.apiVersion != "" && ic.apiVersion != APIVersion {
			d.fail(c, fieldProblem{path: p.child("apiVersion").String(),
				reason: fmt.Sprintf("%q does not match the list's apiVersion %s", ic.apiVersion, APIVersion), err: ErrAPIVersion})
			continue
		}
		if ic.kind != "" && ic.kind != info.Kind {
			d.fail(c, fieldProblem{path: p.child("kind").String(),
				reason: fmt.Sprintf("%q does not match the list kind %s", ic.kind, c.kind), err: ErrUnknownKind})
			continue
		}
		d.object(c, im, info, p, i)
	}
}

func checkAPIVersion(c docContext) (fieldProblem, bool) {
	switch av := c.apiVersion; {
	case av == APIVersion:
		return fieldProblem{}, true
	case av == "":
		return fieldProblem{path: "apiVersion", reason: "must be " + APIVersion, err: ErrAPIVersion}, false
	case av == "v1" && c.kind != "" && unicode.IsLower(rune(c.kind[0])):
		return fieldProblem{path: "apiVersion", err: ErrAPIVersion, reason: fmt.Sprintf(
			"%q with kind %q is Calico's old v1 API, which Tabby does not read: rewrite it as %s", av, c.kind, APIVersion)}, false
	case isKubernetesAPIVersion(av):
		return fieldProblem{path: "apiVersion", err: fmt.Errorf("%w: %w", ErrAPIVersion, ErrKubernetesResource), reason: fmt.Sprintf(
			"%q is a Kubernetes API, not %s: Kubernetes resources are applied with kubectl", av, APIVersion)}, false
	}
	return fieldProblem{path: "apiVersion", reason: fmt.Sprintf("%q is not supported: want %s", c.apiVersion, APIVersion), err: ErrAPIVersion}, false
}

// isKubernetesAPIVersion reports whether apiVersion belongs to the core
// Kubernetes API or one of its groups.
func isKubernetesAPIVersion(apiVersion string) bool {
	group, _, grouped := strings.Cut(apiVersion, "/")
	if !grouped {
		return apiVersion == "v1"
	}
	switch group {
	case "apps", "batch", "extensions", "policy", "autoscaling":
		return true
	}
	return group == "k8s.io" || strings.HasSuffix(group, ".k8s.io")
}

// calicoOnlyKinds are projectcalico.org/v3 kinds that Tabby does not
// implement; naming them gives a clearer error than "unknown kind".
var calicoOnlyKinds = []string{
	"BGPConfiguration", "BGPFilter", "BGPPeer", "BlockAffinity", "CalicoNodeStatus",
	"ClusterInformation", "IPAMConfiguration", "IPPool", "IPReservation",
	"KubeControllersConfiguration", "Node", "StagedKubernetesNetworkPolicy",
}

func unknownKindReason(kind string) string {
	for _, k := range calicoOnlyKinds {
		if k == kind {
			return fmt.Sprintf("kind %q is a Calico kind that Tabby does not support", kind)
		}
	}
	if info, ok := LookupKind(kind); ok {
		return fmt.Sprintf("unknown kind %q (did you mean %s?)", kind, info.Kind)
	}
	return fmt.Sprintf("unknown kind %q", kind)
}

// kindByName finds a kind by its exact name, as documents must spell it.
func kindByName(name string) (KindInfo, bool) {
	for _, k := range kinds {
		if k.Kind == name {
			return k, true
		}
	}
	return KindInfo{}, false
}

// Format is an output format of Encode.
type Format int

// The output formats.
const (
	// FormatYAML prints objects as calicoctl -o yaml does: keys sorted,
	// several objects as a "---" separated stream.
	FormatYAML Format = iota
	// FormatJSON prints objects as calicoctl -o json does: fields in struct
	// order, indented by two spaces, several objects as an array.
	FormatJSON
)

// String returns "yaml" or "json".
func (f Format) String() string {
	switch f {
	case FormatYAML:
		return "yaml"
	case FormatJSON:
		return "json"
	}
	return "Format(" + strconv.Itoa(int(f)) + ")"
}

// Encode writes objs to w in format. One object prints as itself, several as
// a YAML stream or a JSON array; pass a *List to print them as calicoctl get
// prints a list. Objects without apiVersion or kind are printed with them
// filled in; objs are not modified. "creationTimestamp: null" is left out.
func Encode(w io.Writer, format Format, objs ...Object) error {
	docs := make([][]byte, len(objs))
	for i, o := range objs {
		j, err := marshalObject(o)
		if err != nil {
			return fmt.Errorf("encode %s: %w", describeObject(o), err)
		}
		docs[i] = j
	}
	var out bytes.Buffer
	switch format {
	case FormatYAML:
		for i, j := range docs {
			y, err := yaml.JSONToYAML(j)
			if err != nil {
				return fmt.Errorf("encode %s as YAML: %w", describeObject(objs[i]), err)
			}
			if i > 0 {
				out.WriteString("---\n")
			}
			out.Write(y)
		}
	case FormatJSON:
		var j []byte
		switch len(docs) {
		case 0:
			j = []byte("[]")
		case 1:
			j = docs[0]
		default:
			j = append(append([]byte("["), bytes.Join(docs, []byte(","))...), ']')
		}
		if err := json.Indent(&out, j, "", "  "); err != nil {
			return fmt.Errorf("encode as JSON: %w", err)
		}
		out.WriteByte('\n')
	default:
		return fmt.Errorf("encode: unknown format %v", format)
	}
	_, err := w.Write(out.Bytes())
	return err
}

func describeObject(o Object) string {
	if o == nil || reflect.ValueOf(o).IsNil() {
		return "nil object"
	}
	return ResourceID(KindOf(o), o.GetNamespace(), o.GetName())
}

// marshalObject is json.Marshal of o with apiVersion and kind filled in and
// without a null creationTimestamp.
func marshalObject(o Object) ([]byte, error) {
	if o == nil || reflect.ValueOf(o).IsNil() {
		return nil, errors.New("nil object")
	}
	j, err := json.Marshal(withTypeMeta(o))
	if err != nil {
		return nil, err
	}
	return stripNullCreationTimestamp(j), nil
}

// withTypeMeta returns o, or a shallow copy of o with the missing parts of
// its apiVersion and kind filled in.
func withTypeMeta(o Object) Object {
	gvk := o.GetObjectKind().GroupVersionKind()
	if gvk.Kind != "" && gvk.Version != "" {
		return o
	}
	kind := KindOf(o)
	if kind == "" {
		return o
	}
	v := reflect.ValueOf(o)
	if v.Kind() != reflect.Pointer {
		return o
	}
	cp := reflect.New(v.Elem().Type())
	cp.Elem().Set(v.Elem())
	c, ok := cp.Interface().(Object)
	if !ok {
		return o
	}
	if gvk.Version == "" {
		gvk.Group, gvk.Version = Group, Version
	}
	if gvk.Kind == "" {
		gvk.Kind = kind
	}
	c.GetObjectKind().SetGroupVersionKind(gvk)
	return c
}

// stripNullCreationTimestamp removes `"creationTimestamp":null` members from
// compact JSON. The pattern cannot occur inside a JSON string, where quotes
// are escaped, so only real members are removed.
func stripNullCreationTimestamp(j []byte) []byte {
	const member = `"creationTimestamp":null`
	for {
		i := bytes.Index(j, []byte(member))
		if i < 0 {
			return j
		}
		end := i + len(member)
		switch {
		case i > 0 && j[i-1] == ',':
			i--
		case end < len(j) && j[end] == ',':
			end++
		}
		j = append(j[:i], j[end:]...)
	}
}

// List is a list of objects of one kind, printed as calicoctl get prints
// several resources: apiVersion, kind "<Kind>List", metadata with the list's
// resourceVersion, and items. Decode reads such documents back as their
// items.
//
// List implements Object only so that Encode can print it; its name,
// namespace, labels and other object metadata are always empty and never
// printed, while GetResourceVersion and SetResourceVersion use ListMeta.
type List struct {
	metav1.TypeMeta `json:",inline"`
	ListMeta        metav1.ListMeta `json:"metadata"`
	Items           []Object        `json:"items"`

	objectMeta `json:"-"`
}

type objectMeta = metav1.ObjectMeta

// NewList returns a list of items, whose kind is kind (such as
// "NetworkPolicy"), with no resourceVersion.
func NewList(kind string, items []Object) *List {
	return &List{
		TypeMeta: metav1.TypeMeta{APIVersion: APIVersion, Kind: kind + "List"},
		Items:    items,
	}
}

// GetResourceVersion returns the list's resourceVersion.
func (l *List) GetResourceVersion() string { return l.ListMeta.ResourceVersion }

// SetResourceVersion sets the list's resourceVersion.
func (l *List) SetResourceVersion(v string) { l.ListMeta.ResourceVersion = v }

// MarshalJSON encodes the list with each item encoded as Encode would.
func (l *List) MarshalJSON() ([]byte, error) {
	items := make([]json.RawMessage, len(l.Items))
	for i, o := range l.Items {
		j, err := marshalObject(o)
		if err != nil {
			return nil, fmt.Errorf("item %d: %w", i, err)
		}
		items[i] = j
	}
	return json.Marshal(struct {
		metav1.TypeMeta `json:",inline"`
		Metadata        metav1.ListMeta   `json:"metadata"`
		Items           []json.RawMessage `json:"items"`
	}{l.TypeMeta, l.ListMeta, items})
}
