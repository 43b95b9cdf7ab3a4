package agent

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"

	v3 "github.com/tabby-project/tabby/api/v3"
	"github.com/tabby-project/tabby/dataplane/nft"
	"github.com/tabby-project/tabby/datastore"
	"github.com/tabby-project/tabby/engine"
)

// state is what one list-and-watch session knows: the engine fed with
// every resource, and the dataplane Input of this host kept up to date
// from it. A resync starts a new state from scratch.
type state struct {
	node    string
	eng     *engine.Engine
	in      *nft.Input
	resolve func(context.Context, []netip.Addr) (string, error)
	log     *slog.Logger
	// endpoints are the workload and host endpoints of every node, as
	// stored: the local ones become Input.Endpoints, the remote ones'
	// named ports Input.RemotePorts.
	endpoints map[v3.Key]v3.Object
	// felix holds the FelixConfiguration specs by name.
	felix map[string]*v3.FelixConfigurationSpec
	// touched are the endpoints changed since the last flush: their
	// Input entries are rebuilt even if their policy is unchanged (an
	// interface or address change).
	touched map[v3.Key]struct{}
}

func newState(node string, resolve func(context.Context, []netip.Addr) (string, error), log *slog.Logger) *state {
	return &state{
		node:    node,
		eng:     engine.New(),
		resolve: resolve,
		log:     log,
		in: &nft.Input{
			Endpoints:   map[v3.Key]nft.Endpoint{},
			Profiles:    map[string]nft.Profile{},
			Sets:        map[string][]engine.SetMember{},
			RemotePorts: map[v3.Key]nft.EndpointPorts{},
		},
		endpoints: map[v3.Key]v3.Object{},
		felix:     map[string]*v3.FelixConfigurationSpec{},
		touched:   map[v3.Key]struct{}{},
	}
}

// apply feeds one watch event (not an Error) to the state.
func (s *state) apply(ev datastore.Event) {
	switch ev.Type {
	case datastore.Added, datastore.Modified:
		s.upsert(ev.Object)
	case datastore.Deleted:
		s.delete(ev.Key)
	}
}

// upsert adds or replaces a resource. A resource the engine refuses (one
// that went into the datastore without validation) is logged and treated
// as absent, as Calico's syncer drops resources that fail validation, so
// that what is programmed depends only on what the datastore holds: a
// refused policy or profile applies nowhere, and a refused local endpoint
// (its addresses or ports do not parse, so it cannot be rendered either)
// is left out, and the dataplane drops the traffic of a workload
// interface it does not know.
func (s *state) upsert(obj v3.Object) {
	v3.Default(obj)
	key := v3.KeyOf(obj)
	switch o := obj.(type) {
	case *v3.FelixConfiguration:
		s.felix[o.Name] = &o.Spec
		return
	case *v3.WorkloadEndpoint, *v3.HostEndpoint:
		s.endpoints[key] = obj
		s.touched[key] = struct{}{}
	}
	if err := s.eng.Upsert(obj); err != nil {
		if !errors.Is(err, engine.ErrUnsupportedKind) {
			s.log.Error("resource refused by the engine; treated as absent", "resource", key.String(), "error", err)
			s.eng.Delete(key)
			if key.Kind == v3.KindProfile {
				delete(s.in.Profiles, key.Name)
			}
		}
		return
	}
	if p, ok := obj.(*v3.Profile); ok {
		in, eg, _ := s.eng.ProfileRules(p.Name)
		s.in.Profiles[p.Name] = nft.Profile{Ingress: in, Egress: eg}
	}
}

func (s *state) delete(key v3.Key) {
	switch key.Kind {
	case v3.KindFelixConfiguration:
		delete(s.felix, key.Name)
		return
	case v3.KindProfile:
		delete(s.in.Profiles, key.Name)
	case v3.KindWorkloadEndpoint, v3.KindHostEndpoint:
		delete(s.endpoints, key)
		s.touched[key] = struct{}{}
	}
	s.eng.Delete(key)
}

// flush brings the Input up to date with the engine: the rule selector
// sets that changed, then the endpoints whose policy or object changed.
func (s *state) flush(ctx context.Context) {
	for _, su := range s.eng.DrainSets() {
		if su.Deleted {
			delete(s.in.Sets, su.ID)
			continue
		}
		s.in.Sets[su.ID], _ = s.eng.SetMembers(su.ID)
	}
	drained := map[v3.Key]*engine.EndpointPolicy{}
	for _, u := range s.eng.Drain() {
		drained[u.Endpoint] = u.Policy
		s.touched[u.Endpoint] = struct{}{}
	}
	for key := range s.touched {
		pol, ok := drained[key]
		if !ok {
			pol, _ = s.eng.PoliciesFor(key)
		}
		s.refresh(ctx, key, pol)
	}
	s.touched = map[v3.Key]struct{}{}
}

// refresh rebuilds the Input entry of one endpoint.
func (s *state) refresh(ctx context.Context, key v3.Key, pol *engine.EndpointPolicy) {
	delete(s.in.Endpoints, key)
	delete(s.in.RemotePorts, key)
	switch o := s.endpoints[key].(type) {
	case *v3.WorkloadEndpoint:
		if o.Spec.Node != s.node {
			if ports, err := nft.PortsOf(o); err == nil && len(ports.Ports) > 0 {
				s.in.RemotePorts[key] = ports
			}
			return
		}
		ep, err := nft.WorkloadEndpointOf(o, pol)
		if err != nil {
			s.log.Error("local workload endpoint cannot be programmed", "resource", key.String(), "error", err)
			return
		}
		s.in.Endpoints[key] = ep
	case *v3.HostEndpoint:
		ep, err := nft.HostEndpointOf(o, pol)
		if o.Spec.Node != s.node {
			if len(ep.Ports) > 0 {
				s.in.RemotePorts[key] = nft.EndpointPorts{Addrs: ep.Addrs, Ports: ep.Ports}
			}
			return
		}
		if errors.Is(err, nft.ErrNoInterface) {
			ep.Interface, err = s.resolve(ctx, ep.Addrs)
		}
		if err != nil {
			s.log.Error("local host endpoint cannot be programmed", "resource", key.String(), "error", err)
			return
		}
		s.in.Endpoints[key] = ep
	}
}
