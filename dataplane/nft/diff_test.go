package nft

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/nftables"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	v3 "github.com/tabby-project/tabby/api/v3"
)

// diffBase is a node with two pods and a policy allowing TCP/80 to app=a
// from role=client.
func diffBase(t *testing.T) *scenario {
	return newScenario(t, nsProfile("x"),
		pod("x", "a", "cali-a", []string{"10.0.0.1/32", "fd00::1/128"}, map[string]string{"app": "a"}),
		pod("x", "b", "cali-b", []string{"10.0.0.2/32", "fd00::2/128"}, map[string]string{"app": "b"}),
		np("x", "web", "app == 'a'", []v3.Rule{{Action: v3.Allow, Protocol: proto("TCP"),
			Source:      v3.EntityRule{Selector: "role == 'client'"},
			Destination: v3.EntityRule{Ports: []v3.Port{v3.SinglePort(80)}}}}, nil),
	)
}

func TestDiff(t *testing.T) {
	tests := []struct {
		name   string
		change func(s *scenario)
		want   Changes
	}{
		{
			name:   "rendering the same input again changes nothing",
			change: func(*scenario) {},
			want:   Changes{},
		},
		{
			name: "changing one policy's rules rewrites only that policy's chain",
			change: func(s *scenario) {
				s.upsert(np("x", "web", "app == 'a'", []v3.Rule{{Action: v3.Allow, Protocol: proto("TCP"),
					Source:      v3.EntityRule{Selector: "role == 'client'"},
					Destination: v3.EntityRule{Ports: []v3.Port{v3.SinglePort(8080)}}}}, nil))
			},
			// pi-x/web: flush and two rules (IPv4 and IPv6).
			want: Changes{ChainsReplaced: 1, RulesWritten: 2, Messages: 3},
		},
		{
			name: "a pod joining a rule selector changes only the elements of its sets",
			change: func(s *scenario) {
				s.upsert(pod("x", "b", "cali-b", []string{"10.0.0.2/32", "fd00::2/128"}, map[string]string{"app": "b", "role": "client"}))
			},
			want: Changes{ElementsAdded: 2, Messages: 2},
		},
		{
			name: "a new pod adds its two chains and its entries in the dispatch maps",
			change: func(s *scenario) {
				s.upsert(pod("x", "c", "cali-c", []string{"10.0.0.3/32"}, map[string]string{"app": "c"}))
			},
			// tw- and fw-cali-c (5 rules each); wl-to, wl-from, wl-ifaces.
			want: Changes{ChainsAdded: 2, RulesWritten: 10, ElementsAdded: 3, Messages: 2 + 10 + 3},
		},
		{
			name: "deleting the only policy of an endpoint deletes its chain and set and rewrites the endpoint chain",
			change: func(s *scenario) {
				s.delete(v3.Key{Kind: v3.KindNetworkPolicy, Namespace: "x", Name: "web"})
			},
			// tw-cali-a rewritten (5 rules); pi-x/web flushed and deleted;
			// s4- and s6- of role == 'client' deleted.
			want: Changes{ChainsReplaced: 1, RulesWritten: 5, ChainsRemoved: 1, SetsRemoved: 2, Messages: 1 + 5 + 2 + 2},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := diffBase(t)
			before := s.render(Config{})
			tt.change(s)
			after := s.render(Config{})
			if diff := cmp.Diff(tt.want, Diff(before, after)); diff != "" {
				t.Errorf("changes (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("the first apply creates the table with every chain and set", func(t *testing.T) {
		m := diffBase(t).render(Config{})
		st := m.Stats()
		got := Diff(nil, m)
		if !got.TableCreated || got.ChainsAdded != st.Chains || got.SetsAdded != st.Sets || got.RulesWritten != st.Rules {
			t.Errorf("changes %+v for a model of %+v", got, st)
		}
	})
}

// recorder is an nftables connection that records the netlink messages it
// is asked to send and acknowledges each.
type recorder struct {
	msgs []netlink.Message
}

func (r *recorder) conn(t *testing.T) *nftables.Conn {
	t.Helper()
	c, err := nftables.New(nftables.WithTestDial(func(req []netlink.Message) ([]netlink.Message, error) {
		r.msgs = append(r.msgs, req...)
		var acks []netlink.Message
		for _, m := range req {
			if m.Header.Flags&netlink.Acknowledge != 0 {
				acks = append(acks, netlink.Message{
					Header: netlink.Header{Length: 4, Type: netlink.Error, Sequence: m.Header.Sequence, PID: m.Header.PID},
					Data:   []byte{0, 0, 0, 0},
				})
			}
		}
		return acks, nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// msgTypes names the nftables message types of a batch.
func msgTypes(msgs []netlink.Message) []string {
	names := map[int]string{
		unix.NFT_MSG_NEWRULE: "newrule", unix.NFT_MSG_DELRULE: "delrule",
		unix.NFT_MSG_NEWCHAIN: "newchain", unix.NFT_MSG_DELCHAIN: "delchain",
		unix.NFT_MSG_NEWSET: "newset", unix.NFT_MSG_DELSET: "delset",
		unix.NFT_MSG_NEWSETELEM: "newsetelem", unix.NFT_MSG_DELSETELEM: "delsetelem",
		unix.NFT_MSG_NEWTABLE: "newtable", unix.NFT_MSG_DELTABLE: "deltable",
	}
	var out []string
	for _, m := range msgs {
		switch t := int(m.Header.Type); t {
		case unix.NFNL_MSG_BATCH_BEGIN:
			out = append(out, "begin")
		case unix.NFNL_MSG_BATCH_END:
			out = append(out, "end")
		default:
			out = append(out, names[t&0xff])
		}
	}
	return out
}

// TestApplySendsOnlyTheDifference records the netlink messages Apply sends
// for a one-policy change and a membership change.
func TestApplySendsOnlyTheDifference(t *testing.T) {
	tests := []struct {
		name   string
		change func(s *scenario)
		want   []string
	}{
		{
			name: "a one-policy change flushes and refills that policy's chain in one batch",
			change: func(s *scenario) {
				s.upsert(np("x", "web", "app == 'a'", []v3.Rule{{Action: v3.Deny, Protocol: proto("TCP"),
					Source: v3.EntityRule{Selector: "role == 'client'"}}}, nil))
			},
			want: []string{"begin", "delrule", "newrule", "newrule", "end"},
		},
		{
			name: "a membership change adds set elements in one batch",
			change: func(s *scenario) {
				s.upsert(pod("x", "b", "cali-b", []string{"10.0.0.2/32", "fd00::2/128"}, map[string]string{"role": "client"}))
			},
			want: []string{"begin", "newsetelem", "newsetelem", "end"},
		},
		{
			name:   "no change sends nothing",
			change: func(*scenario) {},
			want:   nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := diffBase(t)
			before := s.render(Config{})
			tt.change(s)
			after := s.render(Config{})
			var rec recorder
			conn := rec.conn(t)
			d, err := newWithDial(Config{}, func() (*nftables.Conn, error) { return conn, nil })
			if err != nil {
				t.Fatal(err)
			}
			d.programmed = before
			changes, err := d.Apply(context.Background(), after)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, msgTypes(rec.msgs)); diff != "" {
				t.Errorf("messages (-want +got):\n%s", diff)
			}
			if len(tt.want) > 0 && changes.Messages != len(tt.want)-2 {
				t.Errorf("Changes.Messages = %d, sent %d", changes.Messages, len(tt.want)-2)
			}
			if d.Programmed() != after {
				t.Error("the dataplane does not remember the model it applied")
			}
		})
	}
}
