package datastore

import (
	"errors"
	"fmt"

	v3 "github.com/tabby-project/tabby/api/v3"
)

// Sentinel errors. Match them with errors.Is; the errors a Store returns
// wrap them with the resource and operation concerned.
var (
	// ErrNotFound: the resource does not exist.
	ErrNotFound = errors.New("datastore: resource does not exist")
	// ErrAlreadyExists: Create of a resource that exists.
	ErrAlreadyExists = errors.New("datastore: resource already exists")
	// ErrConflict: the resource changed since the resourceVersion given.
	ErrConflict = errors.New("datastore: update conflict")
	// ErrInvalid: the request itself is malformed (missing identifiers, a
	// resourceVersion where none is allowed or missing where one is
	// needed, an unknown kind). Retrying it cannot succeed.
	ErrInvalid = errors.New("datastore: invalid request")
	// ErrNotSupported: the operation is refused for this resource, such as
	// a write to the static default-allow profile.
	ErrNotSupported = errors.New("datastore: operation not supported")
	// ErrCompacted: a Watch asked for changes older than the history the
	// store keeps.
	ErrCompacted = errors.New("datastore: required revision has been compacted")
	// ErrUnavailable: the datastore could not be reached or did not answer
	// in time.
	ErrUnavailable = errors.New("datastore: unavailable")
	// ErrTooLarge: a Txn exceeds what the backend accepts in one request;
	// split it.
	ErrTooLarge = errors.New("datastore: transaction too large")
)

// ResourceError is a failed operation on one resource. Its message has the format
// of the corresponding Calico (libcalico-go) error so that tools print what
// calicoctl prints. errors.Is(err, Code) holds, and Unwrap returns Err.
type ResourceError struct {
	// Code is the sentinel this error is an instance of.
	Code error
	// Key is the resource concerned.
	Key v3.Key
	// Op is the refused operation (ErrNotSupported only).
	Op string
	// Field, Value and Reason describe a malformed request (ErrInvalid
	// only); Value nil means no value is shown.
	Field  string
	Value  any
	Reason string
	// Err is the underlying cause, if any.
	Err error
}

// NotFoundError returns the ErrNotFound error for key with an optional cause.
func NotFoundError(key v3.Key, cause error) *ResourceError {
	return &ResourceError{Code: ErrNotFound, Key: key, Err: cause}
}

// AlreadyExistsError returns the ErrAlreadyExists error for key.
func AlreadyExistsError(key v3.Key, cause error) *ResourceError {
	return &ResourceError{Code: ErrAlreadyExists, Key: key, Err: cause}
}

// ConflictError returns the ErrConflict error for key.
func ConflictError(key v3.Key) *ResourceError {
	return &ResourceError{Code: ErrConflict, Key: key}
}

// NotSupportedError returns the ErrNotSupported error for operation op on
// key, with the reason it is refused.
func NotSupportedError(op string, key v3.Key, reason string) *ResourceError {
	return &ResourceError{Code: ErrNotSupported, Key: key, Op: op, Reason: reason}
}

// InvalidFieldError returns the ErrInvalid error for a bad field of the
// request about key. value nil means the field is missing.
func InvalidFieldError(key v3.Key, field string, value any, reason string) *ResourceError {
	return &ResourceError{Code: ErrInvalid, Key: key, Field: field, Value: value, Reason: reason}
}

// Error prints the error as libcalico-go's errors package does.
func (e *ResourceError) Error() string {
	switch e.Code {
	case ErrNotFound:
		return fmt.Sprintf("resource does not exist: %v with error: %v", e.Key, e.Err)
	case ErrAlreadyExists:
		return fmt.Sprintf("resource already exists: %v with error: %v", e.Key, e.Err)
	case ErrConflict:
		return fmt.Sprintf("update conflict: %v", e.Key)
	case ErrNotSupported:
		if e.Reason == "" {
			return fmt.Sprintf("operation %s is not supported on %v", e.Op, e.Key)
		}
		return fmt.Sprintf("operation %s is not supported on %v: %s", e.Op, e.Key, e.Reason)
	case ErrInvalid:
		if e.Field == "" {
			return e.Reason
		}
		f := e.Field
		if e.Value != nil {
			f = fmt.Sprintf("%s = '%v'", e.Field, e.Value)
		}
		if e.Reason != "" {
			f = fmt.Sprintf("%s (%s)", f, e.Reason)
		}
		return "error with field " + f
	}
	if e.Err != nil {
		return fmt.Sprintf("%v: %v: %v", e.Code, e.Key, e.Err)
	}
	return fmt.Sprintf("%v: %v", e.Code, e.Key)
}

// Is reports whether target is e's Code.
func (e *ResourceError) Is(target error) bool { return target == e.Code }

// Unwrap returns the underlying cause.
func (e *ResourceError) Unwrap() error { return e.Err }
