package engine

import (
	"errors"
	"fmt"

	v3 "github.com/tabby-project/tabby/api/v3"
)

// Sentinel errors callers may branch on with errors.Is.
var (
	// ErrUnsupportedKind is returned by Upsert for a kind the engine does
	// not evaluate (FelixConfiguration, for example).
	ErrUnsupportedKind = errors.New("engine: unsupported kind")
	// ErrUnknownEndpoint is returned by Evaluate and the queries for an
	// endpoint key the engine does not hold.
	ErrUnknownEndpoint = errors.New("engine: unknown endpoint")
	// ErrUnknownPolicy is returned by RulePeers for a policy the engine
	// does not hold.
	ErrUnknownPolicy = errors.New("engine: unknown policy")
	// ErrNoPeer is returned by Evaluate for a peer with neither an endpoint
	// nor an address.
	ErrNoPeer = errors.New("engine: peer has neither endpoint nor IP")
	// ErrNoRule is returned by RulePeers for a rule index out of range.
	ErrNoRule = errors.New("engine: no such rule")
)

// errBadValue is the cause of a FieldError for a value outside its domain.
var errBadValue = errors.New("invalid value")

// FieldError reports a field of an upserted resource the engine cannot
// compile. Upsert returns it (possibly wrapped) and leaves the engine as it
// was.
type FieldError struct {
	Key   v3.Key
	Field string // path in the resource, e.g. spec.ingress[0].source.selector
	Value string // the offending value as written
	Err   error
}

// Error formats the error as "engine: <key>: <field> <value>: <cause>".
func (e *FieldError) Error() string {
	return fmt.Sprintf("engine: %s: %s %q: %v", e.Key, e.Field, e.Value, e.Err)
}

// Unwrap returns the cause.
func (e *FieldError) Unwrap() error { return e.Err }
