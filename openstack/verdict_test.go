package openstack

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	v3 "github.com/tabby-project/tabby/api/v3"
	"github.com/tabby-project/tabby/datastore/memory"
	"github.com/tabby-project/tabby/engine"
)

// seedPolicies reads the GlobalNetworkPolicies of seed 000.
func seedPolicies(t *testing.T) []v3.Object {
	t.Helper()
	var out []v3.Object
	files, err := filepath.Glob(filepath.Join("..", "examples", "seeds", "000-*.yaml"))
	if err != nil || len(files) != 2 {
		t.Fatalf("seed 000 files: %v %v", files, err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		objs, err := v3.Decode(data)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out = append(out, objs...)
	}
	return out
}

// TestSeed000Verdicts syncs two regions into one store, loads what was
// written into the engine with seed 000's GlobalNetworkPolicies, and checks
// the seed's story: operators' Calico policy first, security groups after,
// VMs denied by default.
func TestSeed000Verdicts(t *testing.T) {
	store := memory.New()
	mustSync(t, newSyncer(t, newFakeCloud(t, "region-one", "RegionOne").client(t), store, "one"))
	mustSync(t, newSyncer(t, newFakeCloud(t, "region-two", "RegionTwo").client(t), store, "two"))
	l, err := store.List(context.Background(), "", "")
	if err != nil {
		t.Fatal(err)
	}
	load := func(withSeed bool) *engine.Engine {
		e := engine.New()
		objs := l.Items
		if withSeed {
			objs = append(append([]v3.Object(nil), objs...), seedPolicies(t)...)
		}
		for _, o := range objs {
			if err := e.Upsert(o); err != nil {
				t.Fatalf("upsert %v: %v", v3.KeyOf(o), err)
			}
		}
		return e
	}
	vm := func(ns, host, device, port string) v3.Key {
		return v3.Key{Kind: v3.KindWorkloadEndpoint, Namespace: ns,
			Name: EndpointName(&Port{HostID: host, DeviceID: device, ID: port})}
	}
	var (
		web1    = vm(nsOne, "compute-1", "5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a801", portWeb1)
		web2    = vm(nsOne, "compute-2", "5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a802", portWeb2)
		lex1    = vm(nsOne, "compute-1", "5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a803", portLex1)
		client1 = vm(nsTwo, "compute-3", "5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a806", "5a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d")
		nosg1   = vm(nsTwo, "compute-3", "5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a807", "6a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d")
		lex2    = vm(nsTwo, "compute-4", "5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a808", "7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d")
	)
	gnp := func(name string) v3.Key { return v3.Key{Kind: v3.KindGlobalNetworkPolicy, Name: name} }
	sgPolicy := func(ns, id string) v3.Key {
		return v3.Key{Kind: v3.KindNetworkPolicy, Namespace: ns, Name: PolicyName(id)}
	}
	tests := []struct {
		name       string
		withSeed   bool
		src, dst   v3.Key
		proto      int
		port       int
		icmp       *engine.ICMP
		want       v3.Action
		wantPolicy v3.Key
		wantReason engine.Reason
	}{
		{"without operator policy the tenant's group lets lexluthor reach superman on 443", false, lex1, web1, 6, 443, nil,
			v3.Allow, sgPolicy(nsOne, sgWeb), engine.ReasonRule},
		{"the operator's deny of lexluthor to superman wins over the tenant's group allow", true, lex1, web1, 6, 443, nil,
			v3.Deny, gnp("deny-lexluthor-to-superman"), engine.ReasonRule},
		{"superman cannot reach lexluthor either, though lexluthor's group allows TCP 80", true, client1, lex2, 6, 80, nil,
			v3.Deny, gnp("deny-superman-to-lexluthor"), engine.ReasonRule},
		{"TCP 80 crosses regions from group 85cc to group a773", true, client1, web1, 6, 80, nil,
			v3.Allow, gnp("allow-tcp-80"), engine.ReasonRule},
		{"another port across regions ends the tier denied", true, client1, web1, 6, 8080, nil,
			v3.Deny, v3.Key{}, engine.ReasonEndOfTier},
		{"a remote-group rule admits members of the group in the same region", true, web2, web1, 6, 22, nil,
			v3.Allow, sgPolicy(nsOne, sgWeb), engine.ReasonRule},
		{"a remote-group rule does not admit a VM of another region", true, client1, web1, 6, 22, nil,
			v3.Deny, v3.Key{}, engine.ReasonEndOfTier},
		{"a VM in no group is denied by default: no policy, no profile", false, web1, nosg1, 6, 80, nil,
			v3.Deny, v3.Key{}, engine.ReasonDefaultDeny},
		{"a VM in no group is still denied when an operator policy selects it", true, web1, nosg1, 6, 80, nil,
			v3.Deny, v3.Key{}, engine.ReasonEndOfTier},
		{"a group with no ingress rules denies ingress by default", false, web1, client1, 6, 22, nil,
			v3.Deny, v3.Key{}, engine.ReasonDefaultDeny},
		{"the ICMP type of a rule is matched", true, client1, web1, 1, 0, &engine.ICMP{Type: 8},
			v3.Allow, sgPolicy(nsOne, sgWeb), engine.ReasonRule},
		{"another ICMP type is denied", true, client1, web1, 1, 0, &engine.ICMP{Type: 13},
			v3.Deny, v3.Key{}, engine.ReasonEndOfTier},
	}
	engines := map[bool]*engine.Engine{false: load(false), true: load(true)}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := engines[tt.withSeed].Evaluate(engine.Flow{Src: engine.Peer{Endpoint: tt.src},
				Dst: engine.Peer{Endpoint: tt.dst}, Protocol: tt.proto, DstPort: tt.port, ICMP: tt.icmp})
			if err != nil {
				t.Fatal(err)
			}
			if res.Egress.Verdict != v3.Allow {
				t.Fatalf("egress at the source = %+v, want Allow (every source has an egress rule)", res.Egress)
			}
			in := res.Ingress
			if res.Verdict != tt.want || in.Policy != tt.wantPolicy || in.Reason != tt.wantReason {
				t.Errorf("verdict %s, ingress decided by %v (%s), want %s by %v (%s)",
					res.Verdict, in.Policy, in.Reason, tt.want, tt.wantPolicy, tt.wantReason)
			}
		})
	}
	t.Run("a VM in no group cannot send", func(t *testing.T) {
		res, err := engines[true].Evaluate(engine.Flow{Src: engine.Peer{Endpoint: nosg1}, Dst: engine.Peer{Endpoint: client1}, Protocol: 6, DstPort: 80})
		if err != nil {
			t.Fatal(err)
		}
		if res.Egress.Verdict != v3.Deny || res.Egress.Reason != engine.ReasonDefaultDeny {
			t.Errorf("egress = %+v, want a default deny", res.Egress)
		}
	})
}
