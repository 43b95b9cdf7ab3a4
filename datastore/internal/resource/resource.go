// Package resource holds what every datastore backend does the same way:
// checking keys and Txn operations, copying objects through their JSON
// encoding, and stamping uid and creationTimestamp.
package resource

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/uuid"

	v3 "github.com/tabby-project/tabby/api/v3"
	"github.com/tabby-project/tabby/datastore"
)

// staticReason explains why writes to the default-allow profile fail.
const staticReason = "the profile is built into the datastore and cannot be changed"

// Kind resolves a kind name or alias to its KindInfo.
func Kind(name string) (v3.KindInfo, error) {
	info, ok := v3.LookupKind(name)
	if !ok {
		return v3.KindInfo{}, fmt.Errorf("%w: unknown kind %q", datastore.ErrInvalid, name)
	}
	return info, nil
}

// CheckKey validates key and returns it with the canonical kind name.
func CheckKey(key v3.Key) (v3.Key, v3.KindInfo, error) {
	info, err := Kind(key.Kind)
	if err != nil {
		return key, info, err
	}
	key.Kind = info.Kind
	switch {
	case info.Namespaced && key.Namespace == "":
		return key, info, &datastore.ResourceError{Code: datastore.ErrInvalid, Key: key,
			Reason: "insufficient identifiers, missing 'namespace'"}
	case !info.Namespaced && key.Namespace != "":
		return key, info, datastore.InvalidFieldError(key, "Metadata.Namespace", key.Namespace,
			"namespace must be empty for a global resource")
	case key.Name == "":
		return key, info, &datastore.ResourceError{Code: datastore.ErrInvalid, Key: key,
			Reason: "insufficient identifiers, missing 'name'"}
	case strings.Contains(key.Namespace, "/"):
		return key, info, datastore.InvalidFieldError(key, "Metadata.Namespace", key.Namespace, "must not contain '/'")
	case strings.Contains(key.Name, "/"):
		return key, info, datastore.InvalidFieldError(key, "Metadata.Name", key.Name, "must not contain '/'")
	}
	return key, info, nil
}

// Write is a checked Txn operation.
type Write struct {
	Type datastore.OpType
	Key  v3.Key
	Info v3.KindInfo
	// Object is a private copy of the object to store, with TypeMeta set
	// and resourceVersion and selfLink cleared (nil for Delete).
	Object v3.Object
	// Rev is the resourceVersion given (Update, and Delete when not 0).
	Rev int64
}

// CheckOps validates ops and copies their objects. Errors are the *datastore.ResourceError of
// the first bad operation, wrapped with its position when there are several.
func CheckOps(ops []datastore.Op) ([]Write, error) {
	if len(ops) == 0 {
		return nil, nil
	}
	writes := make([]Write, len(ops))
	seen := make(map[v3.Key]bool, len(ops))
	for i, op := range ops {
		w, err := checkOp(op)
		if err == nil && seen[w.Key] {
			err = &datastore.ResourceError{Code: datastore.ErrInvalid, Key: w.Key,
				Reason: fmt.Sprintf("%v appears more than once in the transaction", w.Key)}
		}
		if err != nil {
			return nil, OpError(i, len(ops), err)
		}
		seen[w.Key] = true
		writes[i] = w
	}
	return writes, nil
}

// OpError adds the position of operation i of n to err when n > 1.
func OpError(i, n int, err error) error {
	if n == 1 {
		return err
	}
	return fmt.Errorf("transaction operation %d of %d: %w", i+1, n, err)
}

func checkOp(op datastore.Op) (Write, error) {
	w := Write{Type: op.Type}
	var rv string
	switch op.Type {
	case datastore.OpCreate, datastore.OpUpdate, datastore.OpApply:
		if op.Object == nil {
			return w, fmt.Errorf("%w: %s of a nil object", datastore.ErrInvalid, op.Type)
		}
		w.Key = v3.KeyOf(op.Object)
		rv = op.Object.GetResourceVersion()
	case datastore.OpDelete:
		w.Key = op.Key
		rv = op.ResourceVersion
	default:
		return w, fmt.Errorf("%w: unknown operation %v", datastore.ErrInvalid, op.Type)
	}
	var err error
	if w.Key, w.Info, err = CheckKey(w.Key); err != nil {
		return w, err
	}
	if datastore.IsStatic(w.Key) {
		return w, datastore.NotSupportedError(op.Type.String(), w.Key, staticReason)
	}
	switch {
	case op.Type == datastore.OpCreate && rv != "":
		return w, datastore.InvalidFieldError(w.Key, "Metadata.ResourceVersion", rv,
			"field must not be set for a Create request")
	case op.Type == datastore.OpUpdate && rv == "":
		return w, datastore.InvalidFieldError(w.Key, "Metadata.ResourceVersion", nil,
			"field must be set for an Update request")
	case op.Type == datastore.OpUpdate || (op.Type == datastore.OpDelete && rv != ""):
		if w.Rev, err = ParseRevision(w.Key, rv); err != nil {
			return w, err
		}
	}
	if op.Type != datastore.OpDelete {
		if w.Object, err = prepare(op.Object, w.Info); err != nil {
			return w, fmt.Errorf("%s %v: %w", op.Type, w.Key, err)
		}
	}
	return w, nil
}

// ParseRevision parses a resourceVersion as Calico does: a decimal etcd
// revision.
func ParseRevision(key v3.Key, rv string) (int64, error) {
	rev, err := strconv.ParseInt(rv, 10, 64)
	if err != nil || rev <= 0 {
		return 0, datastore.InvalidFieldError(key, "ResourceVersion", rv, "")
	}
	return rev, nil
}

// prepare returns a copy of obj ready to be encoded for storage.
func prepare(obj v3.Object, info v3.KindInfo) (v3.Object, error) {
	c, err := Clone(obj, info)
	if err != nil {
		return nil, err
	}
	c.GetObjectKind().SetGroupVersionKind(schema.GroupVersionKind{Group: v3.Group, Version: v3.Version, Kind: info.Kind})
	c.SetResourceVersion("")
	c.SetSelfLink("")
	return c, nil
}

// Clone returns a deep copy of obj made through its JSON encoding, so the
// copy is exactly what a reader of the stored value would see.
func Clone(obj v3.Object, info v3.KindInfo) (v3.Object, error) {
	data, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", info.Kind, err)
	}
	return Decode(info, data)
}

// Decode parses a stored JSON value of kind info. Unknown fields are
// ignored, as Calico's reader ignores them: values written by newer
// software still load.
func Decode(info v3.KindInfo, data []byte) (v3.Object, error) {
	obj := info.New()
	if err := json.Unmarshal(data, obj); err != nil {
		return nil, fmt.Errorf("decode %s: %w", info.Kind, err)
	}
	return obj, nil
}

// Stamp gives obj a uid and a creationTimestamp (truncated to the second,
// the precision JSON keeps) where it has none, as Calico does on create.
func Stamp(obj v3.Object, now time.Time) {
	if obj.GetUID() == "" {
		obj.SetUID(uuid.NewUUID())
	}
	if ct := obj.GetCreationTimestamp(); ct.IsZero() {
		obj.SetCreationTimestamp(metav1.NewTime(now.Truncate(time.Second)))
	}
}

// Inherit copies uid and creationTimestamp from the stored object old where
// obj has none, so that an update need not repeat them.
func Inherit(obj, old v3.Object) {
	if obj.GetUID() == "" {
		obj.SetUID(old.GetUID())
	}
	if ct := obj.GetCreationTimestamp(); ct.IsZero() {
		obj.SetCreationTimestamp(old.GetCreationTimestamp())
	}
}

// Encode returns the JSON value stored for obj.
func Encode(obj v3.Object) ([]byte, error) {
	data, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("encode %v: %w", v3.KeyOf(obj), err)
	}
	return data, nil
}
