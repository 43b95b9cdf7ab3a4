package analysis

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	v3 "github.com/tabby-project/tabby/api/v3"
	"github.com/tabby-project/tabby/engine"
)

// Sentinel errors callers may branch on with errors.Is.
var (
	// ErrUnknownEndpoint: no endpoint has the name or address given.
	ErrUnknownEndpoint = errors.New("analysis: no such endpoint")
	// ErrUnknownPolicy: no policy has the name given.
	ErrUnknownPolicy = errors.New("analysis: no such policy")
	// ErrAmbiguous: a name given matches several endpoints or policies.
	ErrAmbiguous = errors.New("analysis: ambiguous name")
	// ErrInvalidFlow: a flow's protocol, port or ICMP fields make no sense.
	ErrInvalidFlow = errors.New("analysis: invalid flow")
)

// Model is a set of resources loaded into the policy engine, with the
// endpoints named as commands name them. It never changes after New, so its
// methods may be called concurrently.
type Model struct {
	eng       *engine.Engine
	objs      []v3.Object
	endpoints []Endpoint
	// workloads[i] is the resource of endpoints[i] if it is a workload
	// endpoint, else nil.
	workloads []*v3.WorkloadEndpoint
	byKey     map[v3.Key]int
	byName    map[string]int
	byAddr    map[netip.Addr][]int
}

// Endpoint is a workload or host endpoint of the model.
type Endpoint struct {
	// Name is how commands name the endpoint: "namespace/pod" (or
	// "namespace/workload", or "namespace/endpoint-name" when a workload
	// has several endpoints) for a workload endpoint, the name of a host
	// endpoint.
	Name string `json:"name"`
	// Key identifies the resource.
	Key v3.Key `json:"key"`
	// Addrs are the endpoint's addresses, from ipNetworks or expectedIPs.
	Addrs []netip.Addr `json:"addrs,omitempty"`
}

// New loads objs into a fresh engine. objs are resources as a datastore
// holds them: already defaulted and validated (Decode does both for files).
// A later object with the key of an earlier one replaces it; kinds the
// engine does not evaluate (FelixConfiguration) are kept but play no part.
// The model keeps references into objs: the caller must not modify them.
func New(objs []v3.Object) (*Model, error) {
	m := &Model{eng: engine.New(), byKey: map[v3.Key]int{}, byName: map[string]int{}, byAddr: map[netip.Addr][]int{}}
	at := map[v3.Key]int{}
	for _, o := range objs {
		key := v3.KeyOf(o)
		if err := m.eng.Upsert(o); err != nil && !errors.Is(err, engine.ErrUnsupportedKind) {
			return nil, fmt.Errorf("analysis: load %s: %w", resourceID(key), err)
		}
		if i, ok := at[key]; ok {
			m.objs[i] = o
			continue
		}
		at[key] = len(m.objs)
		m.objs = append(m.objs, o)
	}
	m.nameEndpoints()
	return m, nil
}

// Objects returns the resources of the model, one per key, in the order
// they were first given.
func (m *Model) Objects() []v3.Object { return slices.Clone(m.objs) }

// Engine returns the engine holding the model. The caller must only query
// it: changing it would break the model's names and addresses.
func (m *Model) Engine() *engine.Engine { return m.eng }

// Endpoints returns every endpoint, sorted by name.
func (m *Model) Endpoints() []Endpoint { return slices.Clone(m.endpoints) }

// nameEndpoints gives every endpoint its name and indexes the names and
// addresses.
func (m *Model) nameEndpoints() {
	type workload struct{ ns, name string }
	perWorkload := map[workload]int{}
	for _, o := range m.objs {
		if w, ok := o.(*v3.WorkloadEndpoint); ok {
			perWorkload[workload{w.Namespace, workloadName(w)}]++
		}
	}
	type record struct {
		ep Endpoint
		w  *v3.WorkloadEndpoint
	}
	var recs []record
	for _, o := range m.objs {
		switch r := o.(type) {
		case *v3.WorkloadEndpoint:
			name := workloadName(r)
			if perWorkload[workload{r.Namespace, name}] > 1 {
				name = r.Name
			}
			recs = append(recs, record{Endpoint{Name: r.Namespace + "/" + name, Key: v3.KeyOf(r), Addrs: addrs(r.Spec.IPNetworks)}, r})
		case *v3.HostEndpoint:
			recs = append(recs, record{Endpoint{Name: r.Name, Key: v3.KeyOf(r), Addrs: addrs(r.Spec.ExpectedIPs)}, nil})
		}
	}
	slices.SortFunc(recs, func(a, b record) int { return strings.Compare(a.ep.Name, b.ep.Name) })
	for _, r := range recs {
		m.endpoints = append(m.endpoints, r.ep)
		m.workloads = append(m.workloads, r.w)
	}
	for i, ep := range m.endpoints {
		m.byKey[ep.Key] = i
		m.byName[ep.Name] = i
		for _, a := range ep.Addrs {
			m.byAddr[a] = append(m.byAddr[a], i)
		}
	}
}

// workloadName is the name people know a workload endpoint by: its pod,
// else its workload, else its own name.
func workloadName(w *v3.WorkloadEndpoint) string {
	switch {
	case w.Spec.Pod != "":
		return w.Spec.Pod
	case w.Spec.Workload != "":
		return w.Spec.Workload
	}
	return w.Name
}

// addrs parses addresses written as "a.b.c.d", "a.b.c.d/32" or IPv6
// equivalents; validation has refused anything else.
func addrs(ss []string) []netip.Addr {
	var out []netip.Addr
	for _, s := range ss {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Addr().Unmap())
		} else if a, err := netip.ParseAddr(s); err == nil {
			out = append(out, a.Unmap())
		}
	}
	return out
}

// Endpoint finds the endpoint a command names: "namespace/name" for a
// workload endpoint, where name is its pod, its workload or its own name;
// a bare name for a host endpoint or, failing that, a workload endpoint of
// namespace ("default" if empty); or an address one endpoint holds. It
// fails with ErrUnknownEndpoint or ErrAmbiguous.
func (m *Model) Endpoint(spec, namespace string) (Endpoint, error) {
	if a, err := netip.ParseAddr(spec); err == nil {
		switch held := m.byAddr[a.Unmap()]; len(held) {
		case 0:
			return Endpoint{}, fmt.Errorf("%w: no endpoint has address %s", ErrUnknownEndpoint, a)
		case 1:
			return m.endpoints[held[0]], nil
		default:
			return Endpoint{}, fmt.Errorf("%w: address %s is held by %s", ErrAmbiguous, a, m.names(held))
		}
	}
	ns, name, qualified := strings.Cut(spec, "/")
	if !qualified {
		if i, ok := m.byName[spec]; ok {
			return m.endpoints[i], nil
		}
		ns, name = namespace, spec
		if ns == "" {
			ns = defaultNamespace
		}
	}
	if i, ok := m.byName[ns+"/"+name]; ok {
		return m.endpoints[i], nil
	}
	var found []int
	for i, w := range m.workloads {
		if w != nil && w.Namespace == ns && (w.Name == name || w.Spec.Pod == name || w.Spec.Workload == name) {
			found = append(found, i)
		}
	}
	switch len(found) {
	case 0:
		return Endpoint{}, fmt.Errorf("%w: %q (endpoints are named namespace/pod for workloads and by name for host endpoints: %s)",
			ErrUnknownEndpoint, spec, m.someNames())
	case 1:
		return m.endpoints[found[0]], nil
	}
	return Endpoint{}, fmt.Errorf("%w: %q is %s", ErrAmbiguous, spec, m.names(found))
}

// names lists some endpoints by name.
func (m *Model) names(idx []int) string {
	names := make([]string, len(idx))
	for i, j := range idx {
		names[i] = m.endpoints[j].Name
	}
	return strings.Join(names, ", ")
}

// someNames lists the first endpoints, for error messages.
func (m *Model) someNames() string {
	const most = 10
	if len(m.endpoints) == 0 {
		return "the model has no endpoints"
	}
	idx := make([]int, min(most, len(m.endpoints)))
	for i := range idx {
		idx[i] = i
	}
	s := m.names(idx)
	if len(m.endpoints) > most {
		s += fmt.Sprintf(", ... (%d in all)", len(m.endpoints))
	}
	return s
}

// endpointName names the endpoint with key, or prints the key of a
// resource that is not an endpoint (a network set).
func (m *Model) endpointName(k v3.Key) string {
	if i, ok := m.byKey[k]; ok {
		return m.endpoints[i].Name
	}
	return resourceID(k)
}

// keyNames replaces endpoint keys, as the engine prints them in its
// messages, with endpoint names.
func (m *Model) keyNames() *strings.Replacer {
	pairs := make([]string, 0, 2*len(m.endpoints))
	for _, ep := range m.endpoints {
		pairs = append(pairs, ep.Key.String(), ep.Name)
	}
	return strings.NewReplacer(pairs...)
}
