//go:build linux

package testbed

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	v3 "github.com/tabby-project/tabby/api/v3"
	"github.com/tabby-project/tabby/dataplane/nft"
	"github.com/tabby-project/tabby/engine"
	"github.com/tabby-project/tabby/lab"
)

// Prediction is the engine's verdict for a probe.
type Prediction struct {
	Allowed bool `json:"allowed"`
	// Reason says what decided: "allowed", or which direction was denied
	// by what.
	Reason string `json:"reason"`
}

// Snapshot is the engine loaded with the datastore's content at one
// revision, mapped to the lab's workloads.
type Snapshot struct {
	// Revision is the datastore revision of the content.
	Revision int64
	// Problems are the resources the engine refused (the agents refuse
	// them too).
	Problems []string

	e      *engine.Engine
	fabric *lab.Fabric
	keys   map[lab.WorkloadRef]v3.Key
}

// Snapshot reads the whole datastore at one revision into a fresh engine.
func (l *Lab) Snapshot(ctx context.Context) (*Snapshot, error) {
	list, err := l.store.List(ctx, "", "")
	if err != nil {
		return nil, fmt.Errorf("testbed: list the datastore: %w", err)
	}
	s := &Snapshot{Revision: list.Revision, e: engine.New(), fabric: l.fabric}
	for _, o := range list.Items {
		v3.Default(o)
		if err := s.e.Upsert(o); err != nil && !errors.Is(err, engine.ErrUnsupportedKind) {
			s.Problems = append(s.Problems, fmt.Sprintf("%s: %v", v3.KeyOf(o), err))
		}
	}
	s.keys = workloadKeys(l.fabric, list.Items)
	return s, nil
}

// Predict returns the engine's verdict for a probe from a workload. A
// workload with no WorkloadEndpoint for its interface is predicted denied
// when the interface has Calico's workload prefix, as the dataplane drops
// the traffic of unknown workload interfaces; otherwise no policy applies
// on its side.
func (s *Snapshot) Predict(spec lab.ProbeSpec) (Prediction, error) {
	src, ok := s.fabric.Workload(spec.From)
	if !ok {
		return Prediction{}, fmt.Errorf("testbed: predict %s: %w", spec, lab.ErrUnknownSource)
	}
	dst, dstOK := s.workloadAt(spec.To)
	f := engine.Flow{SrcPort: 40000, DstPort: int(spec.Port)}
	if spec.To.Is4() {
		f.IPVersion = 4
	} else {
		f.IPVersion = 6
	}
	switch spec.Protocol {
	case lab.TCP:
		f.Protocol = 6
	case lab.UDP:
		f.Protocol = 17
	case lab.SCTP:
		f.Protocol = 132
	case lab.ICMP:
		f.SrcPort, f.DstPort = 0, 0
		if spec.To.Is4() {
			f.Protocol, f.ICMP = 1, &engine.ICMP{Type: 8}
		} else {
			f.Protocol, f.ICMP = 58, &engine.ICMP{Type: 128}
		}
	default:
		return Prediction{}, fmt.Errorf("testbed: predict %s: unknown protocol", spec)
	}
	srcIP, ok := firstAddr(src.IPs, spec.To)
	if !ok {
		return Prediction{}, fmt.Errorf("testbed: predict %s: the source has no IPv%d address", spec, f.IPVersion)
	}
	f.Src.IP, f.Dst.IP = srcIP, spec.To
	for _, side := range []struct {
		w    lab.WorkloadInfo
		ok   bool
		peer *engine.Peer
	}{{src, true, &f.Src}, {dst, dstOK, &f.Dst}} {
		if !side.ok {
			continue
		}
		if k, ok := s.keys[side.w.Ref]; ok {
			side.peer.Endpoint = k
			continue
		}
		if strings.HasPrefix(side.w.InterfaceName, nft.DefaultWorkloadPrefix) {
			return Prediction{Reason: fmt.Sprintf("%s has no WorkloadEndpoint for interface %s on %s: the dataplane drops traffic of unknown workload interfaces",
				side.w.Ref, side.w.InterfaceName, side.w.Host)}, nil
		}
	}
	r, err := s.e.Evaluate(f)
	if err != nil {
		return Prediction{}, fmt.Errorf("testbed: predict %s: %w", spec, err)
	}
	if r.Verdict == v3.Allow {
		return Prediction{Allowed: true, Reason: "allowed"}, nil
	}
	d, dir := r.Egress, "egress"
	if d.Verdict == v3.Allow {
		d, dir = r.Ingress, "ingress"
	}
	return Prediction{Reason: dir + " denied by " + decider(d)}, nil
}

// workloadAt returns the workload holding addr.
func (s *Snapshot) workloadAt(addr netip.Addr) (lab.WorkloadInfo, bool) {
	for _, w := range s.fabric.Workloads() {
		for _, a := range w.IPs {
			if a == addr {
				return w, true
			}
		}
	}
	return lab.WorkloadInfo{}, false
}

// decider names what decided a direction.
func decider(d engine.DirectionResult) string {
	switch d.Reason {
	case engine.ReasonRule:
		return fmt.Sprintf("%s rule %d", d.Policy, d.Rule)
	case engine.ReasonProfile:
		return fmt.Sprintf("profile %s rule %d", d.Profile, d.Rule)
	case engine.ReasonEndOfTier:
		return fmt.Sprintf("the end of tier %s", d.Tier)
	case engine.ReasonDefaultDeny:
		return "default deny (no policy or profile allowed it)"
	default:
		return string(d.Reason)
	}
}
