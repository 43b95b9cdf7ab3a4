package v3

// This file turns a generic document (the map[string]any that YAML or JSON
// decodes to, with json.Number for numbers) into a typed value, the way
// calicoctl's sigs.k8s.io/yaml.UnmarshalStrict would, but reporting every
// problem with the full path of the field:
//
//	generic document ──walk struct fields by json tag──► typed object
//	      │                                                 │
//	      └── unknown key / wrong type ──► fieldProblem{path, reason}
//
// The rules it reproduces from encoding/json and sigs.k8s.io/yaml:
//   - keys match json tag names exactly, else case-insensitively;
//   - anonymous struct fields without a json name (TypeMeta) are inlined;
//   - null leaves non-pointer values alone and clears pointers, maps, slices;
//   - types with their own UnmarshalJSON (Port, Protocol, metav1.Time) are
//     leaves, decoded by that method;
//   - a number or boolean where a string is expected becomes that string,
//     formatted as sigs.k8s.io/yaml formats it (so a label value written as
//     701339712 or yes is accepted, as Calico accepts it).
//
// One deliberate difference: an empty list or map in a field tagged
// omitempty decodes to nil, because that is what the encoder can reproduce;
// this keeps Decode(Encode(Decode(x))) equal to Decode(x).

import (
	"encoding"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// jsonField is one field of a struct as encoding/json sees it.
type jsonField struct {
	name      string
	index     []int
	omitEmpty bool
}

// structFields is the JSON view of a struct type.
type structFields struct {
	list   []jsonField
	byName map[string]int
}

// lookup finds the field for key: an exact match first, then a
// case-insensitive one, as encoding/json does. exact reports which.
func (s *structFields) lookup(key string) (i int, exact, ok bool) {
	if i, ok := s.byName[key]; ok {
		return i, true, true
	}
	for i, f := range s.list {
		if strings.EqualFold(f.name, key) {
			return i, false, true
		}
	}
	return 0, false, false
}

var (
	jsonUnmarshalerType = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// fieldTables holds the JSON field table of every struct type reachable from
// the kinds of this package. It is built once at initialisation and only
// read afterwards.
var fieldTables = buildFieldTables()

func buildFieldTables() map[reflect.Type]*structFields {
	tables := make(map[reflect.Type]*structFields)
	var visit func(t reflect.Type)
	visit = func(t reflect.Type) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || isLeaf(t) || tables[t] != nil {
			return
		}
		sf := computeFields(t)
		tables[t] = sf
		for _, f := range sf.list {
			visit(t.FieldByIndex(f.index).Type)
		}
	}
	for _, k := range kinds {
		visit(reflect.TypeOf(k.New()))
	}
	visit(reflect.TypeFor[listDocument]())
	return tables
}

// fieldsOf returns the field table of struct type t.
func fieldsOf(t reflect.Type) *structFields {
	if sf := fieldTables[t]; sf != nil {
		return sf
	}
	return computeFields(t)
}

// computeFields lists the JSON fields of t, inlining anonymous struct fields
// that have no json name. Shallower fields win over promoted ones of the
// same name, as in encoding/json.
func computeFields(t reflect.Type) *structFields {
	sf := &structFields{byName: make(map[string]int)}
	var walk func(t reflect.Type, prefix []int)
	var promoted []jsonField
	walk = func(t reflect.Type, prefix []int) {
		for i := range t.NumField() {
			f := t.Field(i)
			tag := f.Tag.Get("json")
			if tag == "-" {
				continue
			}
			name, opts, _ := strings.Cut(tag, ",")
			index := append(slices.Clone(prefix), i)
			if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
				walk(f.Type, index)
				continue
			}
			if !f.IsExported() {
				continue
			}
			if name == "" {
				name = f.Name
			}
			jf := jsonField{name: name, index: index, omitEmpty: hasOption(opts, "omitempty")}
			if len(prefix) == 0 {
				sf.add(jf)
			} else {
				promoted = append(promoted, jf)
			}
		}
	}
	walk(t, nil)
	for _, jf := range promoted {
		if _, taken := sf.byName[jf.name]; !taken {
			sf.add(jf)
		}
	}
	return sf
}

func (s *structFields) add(f jsonField) {
	s.byName[f.name] = len(s.list)
	s.list = append(s.list, f)
}

func hasOption(opts, want string) bool {
	for opts != "" {
		var o string
		o, opts, _ = strings.Cut(opts, ",")
		if o == want {
			return true
		}
	}
	return false
}

// isLeaf reports whether values of t decode themselves.
func isLeaf(t reflect.Type) bool {
	pt := reflect.PointerTo(t)
	return pt.Implements(jsonUnmarshalerType) || pt.Implements(textUnmarshalerType)
}

// path is a field path, kept as a linked list so that the string is built
// only when a problem needs it.
type path struct {
	parent *path
	field  string // a struct field or the key of a map
	index  int    // a list index, when isIndex
	kind   pathKind
}

type pathKind uint8

const (
	pathField pathKind = iota
	pathIndex
	pathKey
)

func (p *path) child(field string) *path { return &path{parent: p, field: field} }
func (p *path) at(i int) *path           { return &path{parent: p, index: i, kind: pathIndex} }
func (p *path) key(k string) *path       { return &path{parent: p, field: k, kind: pathKey} }

// String prints the path as "spec.ingress[0].ports[1]" or
// `metadata.labels["app"]`.
func (p *path) String() string {
	var b strings.Builder
	p.write(&b)
	return b.String()
}

func (p *path) write(b *strings.Builder) {
	if p == nil {
		return
	}
	p.parent.write(b)
	switch p.kind {
	case pathIndex:
		b.WriteByte('[')
		b.WriteString(strconv.Itoa(p.index))
		b.WriteByte(']')
	case pathKey:
		b.WriteByte('[')
		b.WriteString(strconv.Quote(p.field))
		b.WriteByte(']')
	default:
		if !isPlainFieldName(p.field) {
			// A key the user wrote that is no field name (it has spaces,
			// dots, line breaks or nothing at all) is printed quoted, so
			// that the path stays unambiguous and on one line.
			b.WriteByte('[')
			b.WriteString(strconv.Quote(p.field))
			b.WriteByte(']')
			return
		}
		if p.parent != nil {
			b.WriteByte('.')
		}
		b.WriteString(p.field)
	}
}

// isPlainFieldName reports whether s can be printed bare in a path: ASCII
// letters, digits, '_' and '-', as every JSON field name of the kinds is.
func isPlainFieldName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return s != ""
}

// fieldProblem is one thing wrong with one field of a document.
type fieldProblem struct {
	path   string
	reason string
	err    error // ErrUnknownField or ErrFieldValue
}

// builder fills typed values from generic documents and records problems.
type builder struct {
	problems []fieldProblem
}

func (b *builder) fail(p *path, err error, format string, args ...any) {
	b.problems = append(b.problems, fieldProblem{path: p.String(), reason: fmt.Sprintf(format, args...), err: err})
}

func (b *builder) typeError(p *path, want string, raw any) {
	b.fail(p, ErrFieldValue, "expected %s, got %s", want, describe(raw))
}

// set decodes raw into v, which must be settable.
func (b *builder) set(p *path, raw any, v reflect.Value) {
	t := v.Type()
	switch t.Kind() {
	case reflect.Pointer:
		if raw == nil {
			v.SetZero()
			return
		}
		e := reflect.New(t.Elem())
		b.set(p, raw, e.Elem())
		v.Set(e)
		return
	case reflect.Interface:
		if raw == nil {
			v.SetZero()
			return
		}
		v.Set(reflect.ValueOf(raw))
		return
	}
	if isLeaf(t) {
		b.leaf(p, raw, v)
		return
	}
	if raw == nil {
		if t.Kind() == reflect.Map || t.Kind() == reflect.Slice {
			v.SetZero()
		}
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		b.setStruct(p, raw, v)
	case reflect.Slice:
		list, ok := raw.([]any)
		if !ok {
			b.typeError(p, "a list", raw)
			return
		}
		s := reflect.MakeSlice(t, len(list), len(list))
		for i, e := range list {
			b.set(p.at(i), e, s.Index(i))
		}
		v.Set(s)
	case reflect.Map:
		m, ok := raw.(map[string]any)
		if !ok {
			b.typeError(p, "an object", raw)
			return
		}
		if t.Key().Kind() != reflect.String {
			b.fail(p, ErrFieldValue, "maps with %s keys are not supported", t.Key())
			return
		}
		out := reflect.MakeMapWithSize(t, len(m))
		for _, k := range sortedKeys(m) {
			e := reflect.New(t.Elem()).Elem()
			b.set(p.key(k), m[k], e)
			out.SetMapIndex(reflect.ValueOf(k).Convert(t.Key()), e)
		}
		v.Set(out)
	case reflect.String:
		s, ok := asString(raw)
		if !ok {
			b.typeError(p, "a string", raw)
			return
		}
		v.SetString(s)
	case reflect.Bool:
		x, ok := raw.(bool)
		if !ok {
			b.typeError(p, "true or false", raw)
			return
		}
		v.SetBool(x)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, ok := raw.(json.Number)
		if !ok {
			b.typeError(p, "an integer", raw)
			return
		}
		x, err := strconv.ParseInt(string(n), 10, t.Bits())
		if err != nil {
			b.numberError(p, n, err, "an integer", t)
			return
		}
		v.SetInt(x)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, ok := raw.(json.Number)
		if !ok {
			b.typeError(p, "a non-negative integer", raw)
			return
		}
		x, err := strconv.ParseUint(string(n), 10, t.Bits())
		if err != nil {
			b.numberError(p, n, err, "a non-negative integer", t)
			return
		}
		v.SetUint(x)
	case reflect.Float32, reflect.Float64:
		n, ok := raw.(json.Number)
		if !ok {
			b.typeError(p, "a number", raw)
			return
		}
		x, err := strconv.ParseFloat(string(n), t.Bits())
		if err != nil {
			b.fail(p, ErrFieldValue, "%s is out of range for a number", n)
			return
		}
		v.SetFloat(x)
	default:
		b.fail(p, ErrFieldValue, "fields of Go type %s are not supported", t)
	}
}

func (b *builder) numberError(p *path, n json.Number, err error, want string, t reflect.Type) {
	if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
		lo, hi := intRange(t)
		b.fail(p, ErrFieldValue, "%s is out of range: must be between %s and %s", n, lo, hi)
		return
	}
	b.typeError(p, want, n)
}

func intRange(t reflect.Type) (lo, hi string) {
	bits := t.Bits()
	switch t.Kind() {
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "0", strconv.FormatUint(1<<bits-1, 10)
	}
	return strconv.FormatInt(-1<<(bits-1), 10), strconv.FormatInt(1<<(bits-1)-1, 10)
}

func (b *builder) setStruct(p *path, raw any, v reflect.Value) {
	m, ok := raw.(map[string]any)
	if !ok {
		b.typeError(p, "an object", raw)
		return
	}
	sf := fieldsOf(v.Type())
	var foldUsed []int
	for _, k := range sortedKeys(m) {
		cp := p.child(k)
		i, exact, ok := sf.lookup(k)
		if !ok {
			b.fail(cp, ErrUnknownField, "unknown field")
			continue
		}
		f := sf.list[i]
		if !exact {
			// Two keys that differ only in case would both land in this
			// field, the later one silently winning; refuse instead.
			if _, both := m[f.name]; both || slices.Contains(foldUsed, i) {
				b.fail(cp, ErrUnknownField, "duplicate of field %q (keys differ only in case)", f.name)
				continue
			}
			foldUsed = append(foldUsed, i)
		}
		fv := v.FieldByIndex(f.index)
		val := m[k]
		if f.omitEmpty && isEmptyCollection(val) && (fv.Kind() == reflect.Slice || fv.Kind() == reflect.Map) {
			continue
		}
		b.set(cp, val, fv)
	}
}

// leaf decodes raw with the type's own UnmarshalJSON, exactly as
// encoding/json would.
func (b *builder) leaf(p *path, raw any, v reflect.Value) {
	data, err := json.Marshal(raw)
	if err != nil {
		b.fail(p, ErrFieldValue, "%v", err)
		return
	}
	if err := json.Unmarshal(data, v.Addr().Interface()); err != nil {
		b.fail(p, ErrFieldValue, "%v", err)
	}
}

func isEmptyCollection(raw any) bool {
	switch x := raw.(type) {
	case []any:
		return len(x) == 0
	case map[string]any:
		return len(x) == 0
	}
	return false
}

// asString returns raw as a string, converting numbers and booleans the way
// sigs.k8s.io/yaml does when the target field is a string: integers as
// written, other numbers in the shortest float32 form, booleans as
// "true"/"false".
func asString(raw any) (string, bool) {
	switch x := raw.(type) {
	case string:
		return x, true
	case bool:
		return strconv.FormatBool(x), true
	case json.Number:
		s := string(x)
		if !strings.ContainsAny(s, ".eE") {
			return s, true
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return "", false
		}
		return strconv.FormatFloat(f, 'g', -1, 32), true
	}
	return "", false
}

// describe names the JSON type and value of raw for an error message.
func describe(raw any) string {
	switch x := raw.(type) {
	case nil:
		return "null"
	case string:
		return "string " + quoteShort(x)
	case json.Number:
		return "number " + string(x)
	case bool:
		return "boolean " + strconv.FormatBool(x)
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	}
	return fmt.Sprintf("%T", raw)
}

// quoteShort quotes s, shortening it so that one bad value cannot flood an
// error message.
func quoteShort(s string) string {
	const max = 80
	if len(s) > max {
		return strconv.Quote(s[:max]) + "..."
	}
	return strconv.Quote(s)
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// truncateTimes cuts the timestamps of o to whole seconds: metav1.Time's
// wire form carries no more, so this is what any re-encoding would give.
func truncateTimes(o Object) {
	if ts := o.GetCreationTimestamp(); !ts.IsZero() {
		o.SetCreationTimestamp(metav1.NewTime(ts.Truncate(time.Second)))
	}
	if ts := o.GetDeletionTimestamp(); ts != nil {
		t := metav1.NewTime(ts.Truncate(time.Second))
		o.SetDeletionTimestamp(&t)
	}
	for i := range o.GetManagedFields() {
		mf := &o.GetManagedFields()[i]
		if mf.Time != nil {
			t := metav1.NewTime(mf.Time.Truncate(time.Second))
			mf.Time = &t
		}
	}
}
