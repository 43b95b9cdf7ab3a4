package v3

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// sentinels are the errors every DocumentError wraps one of.
var sentinels = []error{ErrSyntax, ErrAPIVersion, ErrKubernetesResource, ErrUnknownKind, ErrUnknownField, ErrFieldValue}

// FuzzDecode feeds arbitrary bytes to the codec. Its seed corpus is
// testdata/fuzz/FuzzDecode: the fixtures and inputs chosen to reach the
// codec's corners (flow style, JSON streams, lists, non-finite numbers,
// odd keys). For any input:
//
//   - Decode does not panic, and its error is a *DecodeError whose every
//     problem is one line, numbered within the input and classified by a
//     sentinel error;
//   - what it decodes encodes, as YAML and as JSON, to input that decodes
//     without error to equal objects (decode, encode, decode is stable);
//   - Default and Validate do not panic on it, and Validate's error has one
//     line per field error.
func FuzzDecode(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		docs, err := DecodeDocuments(data)
		if err != nil {
			checkDecodeError(t, err)
		}
		last := 0
		objs := make([]Object, len(docs))
		for i, d := range docs {
			if d.Index < last || d.Index < 1 {
				t.Fatalf("document numbers out of order: %d after %d", d.Index, last)
			}
			last = d.Index
			objs[i] = d.Object
		}
		if len(objs) == 0 {
			return
		}
		for _, format := range []Format{FormatYAML, FormatJSON} {
			var buf bytes.Buffer
			if err := Encode(&buf, format, objs...); err != nil {
				t.Fatalf("Encode %s of decoded objects: %v", format, err)
			}
			again, err := Decode(buf.Bytes())
			if err != nil {
				t.Fatalf("Decode of the %s encoding: %v\n%s", format, err, buf.Bytes())
			}
			if diff := cmp.Diff(objs, again); diff != "" {
				t.Fatalf("decode, encode %s, decode is not stable (-first +second):\n%s\n%s", format, diff, buf.Bytes())
			}
		}
		for _, o := range objs {
			Default(o)
			err := Validate(o)
			if err == nil {
				continue
			}
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("Validate returned %T, want *ValidationError", err)
			}
			if n := len(strings.Split(err.Error(), "\n")); n != len(ve.Errors) || len(ve.Errors) == 0 {
				t.Fatalf("Validate error has %d lines for %d field errors:\n%s", n, len(ve.Errors), err)
			}
		}
	})
}

func checkDecodeError(t *testing.T, err error) {
	t.Helper()
	var de *DecodeError
	if !errors.As(err, &de) {
		t.Fatalf("Decode returned %T, want *DecodeError", err)
	}
	if len(de.Problems) == 0 {
		t.Fatal("DecodeError without problems")
	}
	last := 0
	for _, p := range de.Problems {
		if p.Document < 1 || p.Document < last {
			t.Fatalf("problem numbered %d after %d: %v", p.Document, last, p)
		}
		last = p.Document
		if msg := p.Error(); strings.Contains(msg, "\n") || p.Reason == "" {
			t.Fatalf("problem is not one non-empty line: %q", msg)
		}
		if !isSentinel(p.Err) {
			t.Fatalf("problem %q wraps %v, which is no sentinel of the package", p, p.Err)
		}
	}
}

func isSentinel(err error) bool {
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}
