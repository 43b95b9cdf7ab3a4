package datastore

import (
	"context"
	"fmt"

	v3 "github.com/tabby-project/tabby/api/v3"
)

// Store is a revisioned store of projectcalico.org/v3 resources.
//
// Every method is safe for concurrent use. Objects passed in are never
// modified or retained: the store encodes them, and every object it returns
// is a fresh copy the caller owns. Kinds may be given by name or by any
// calicoctl alias (see v3.LookupKind); keys and objects carry the canonical
// kind name. A key names a namespaced kind with a non-empty namespace and a
// global kind with an empty one.
//
// Errors that concern one resource are *ResourceError values that print as Calico
// prints them; match them with errors.Is against ErrNotFound,
// ErrAlreadyExists, ErrConflict, ErrInvalid or ErrNotSupported. A datastore
// that does not answer within the backend's timeout gives an error matching
// ErrUnavailable.
type Store interface {
	// Get returns the resource named by key, or ErrNotFound.
	Get(ctx context.Context, key v3.Key) (v3.Object, error)

	// List returns the resources of kind in namespace, sorted by namespace
	// then name, and the store revision they were read at. Namespace ""
	// means every namespace, and is ignored for global kinds. Kind "" means
	// every kind, sorted as v3.SortObjects sorts, with namespace filtering
	// the namespaced kinds only. The items and the revision form a
	// consistent snapshot: Watch(ctx, kind, Revision) continues from it.
	List(ctx context.Context, kind, namespace string) (ListResult, error)

	// Create stores a new resource and returns it as stored, with a new
	// uid (unless set), creationTimestamp (unless set) and resourceVersion.
	// It fails with ErrAlreadyExists if the resource exists and with
	// ErrInvalid if obj has a resourceVersion.
	Create(ctx context.Context, obj v3.Object) (v3.Object, error)

	// Update replaces an existing resource if its resourceVersion is still
	// obj's. It fails with ErrInvalid if obj has no resourceVersion, with
	// ErrConflict if the resource changed since, and with ErrNotFound if it
	// does not exist. An empty uid or creationTimestamp in obj keeps the
	// stored one.
	Update(ctx context.Context, obj v3.Object) (v3.Object, error)

	// Apply creates the resource or replaces it whatever its current
	// version. obj's resourceVersion is ignored; an empty uid or
	// creationTimestamp keeps the stored one.
	Apply(ctx context.Context, obj v3.Object) (v3.Object, error)

	// Delete removes the resource named by key and returns its last stored
	// state. With a non-empty resourceVersion it deletes only that version
	// (else ErrConflict); it fails with ErrNotFound if there is nothing to
	// delete.
	Delete(ctx context.Context, key v3.Key, resourceVersion string) (v3.Object, error)

	// Txn applies ops atomically: either every operation takes effect, at
	// one revision, or none does. Each operation has the semantics and
	// errors of the method of the same name; the error of a failed Txn
	// names the first operation that could not be applied. It returns, for
	// each op in order, what that method would return. Two ops on the same
	// resource are ErrInvalid. A backend may refuse a transaction too large
	// for one request with ErrTooLarge.
	Txn(ctx context.Context, ops []Op) ([]v3.Object, error)

	// Watch streams the changes to resources of kind ("" for every kind)
	// made after fromRevision, in revision order; fromRevision 0 means
	// changes from now on. The channel closes when ctx is done or the store
	// is closed. If the changes since fromRevision are no longer available
	// (ErrCompacted) or the stream breaks, the last event has type Error
	// and the caller must List again and Watch from the new revision.
	Watch(ctx context.Context, kind string, fromRevision int64) (<-chan Event, error)

	// Close releases the store's resources and ends its watches.
	Close() error
}

// ListResult is the answer of List.
type ListResult struct {
	// Items holds the resources, sorted.
	Items []v3.Object
	// Revision is the store revision the list reflects.
	Revision int64
}

// EventType says what happened to a resource.
type EventType int

// The event types.
const (
	// Added: the resource was created.
	Added EventType = iota + 1
	// Modified: the resource was replaced.
	Modified
	// Deleted: the resource was removed.
	Deleted
	// Error: the watch ended abnormally (Event.Err says why); the consumer
	// must resynchronise with List.
	Error
)

// String returns the name of the event type.
func (t EventType) String() string {
	switch t {
	case Added:
		return "Added"
	case Modified:
		return "Modified"
	case Deleted:
		return "Deleted"
	case Error:
		return "Error"
	}
	return fmt.Sprintf("EventType(%d)", int(t))
}

// Event is one change seen by Watch.
type Event struct {
	Type EventType
	// Key names the resource that changed (zero for Error events).
	Key v3.Key
	// Object is the resource after the change for Added and Modified (its
	// resourceVersion is Revision), the last state before the deletion for
	// Deleted (its resourceVersion is that state's), and nil for Error.
	Object v3.Object
	// Revision is the store revision of the change. Events of one
	// transaction share a revision.
	Revision int64
	// Err is why the watch ended, for Error events only.
	Err error
}

// OpType is the kind of a Txn operation.
type OpType int

// The operation types, each with the semantics of the Store method of the
// same name.
const (
	OpCreate OpType = iota + 1
	OpUpdate
	OpApply
	OpDelete
)

// String returns the name of the Store method the operation mirrors.
func (t OpType) String() string {
	switch t {
	case OpCreate:
		return "Create"
	case OpUpdate:
		return "Update"
	case OpApply:
		return "Apply"
	case OpDelete:
		return "Delete"
	}
	return fmt.Sprintf("OpType(%d)", int(t))
}

// Op is one operation of a Txn; build it with CreateOp, UpdateOp, ApplyOp or
// DeleteOp.
type Op struct {
	Type OpType
	// Object is the resource to write (Create, Update, Apply).
	Object v3.Object
	// Key names the resource to delete (Delete).
	Key v3.Key
	// ResourceVersion is the version to delete, "" for any (Delete).
	ResourceVersion string
}

// CreateOp returns a Txn operation that creates obj.
func CreateOp(obj v3.Object) Op { return Op{Type: OpCreate, Object: obj} }

// UpdateOp returns a Txn operation that updates obj.
func UpdateOp(obj v3.Object) Op { return Op{Type: OpUpdate, Object: obj} }

// ApplyOp returns a Txn operation that applies obj.
func ApplyOp(obj v3.Object) Op { return Op{Type: OpApply, Object: obj} }

// DeleteOp returns a Txn operation that deletes key, at resourceVersion if
// it is not empty.
func DeleteOp(key v3.Key, resourceVersion string) Op {
	return Op{Type: OpDelete, Key: key, ResourceVersion: resourceVersion}
}

// Target returns the key of the resource the operation acts on.
func (o Op) Target() v3.Key {
	if o.Type == OpDelete || o.Object == nil {
		return o.Key
	}
	return v3.KeyOf(o.Object)
}
