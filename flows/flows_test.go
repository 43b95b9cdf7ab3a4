package flows

import (
	"context"
	"encoding/json"
	"errors"
	"net/netip"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tabby-project/tabby/agent"
)

var t0 = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

// record is a flow-log record of a TCP packet from 10.0.0.<src> to
// 10.0.0.<dst>:80, logged at t0+sec by rule 0 of policy with action.
func record(src, dst byte, sec int, action, policy string) Record {
	return Record{
		Time: t0.Add(time.Duration(sec) * time.Second),
		Src:  netip.AddrFrom4([4]byte{10, 0, 0, src}), Dst: netip.AddrFrom4([4]byte{10, 0, 0, dst}),
		Proto: "TCP", SrcPort: 40000, DstPort: 80, Direction: "ingress",
		Tier: "default", Policy: policy, Rule: 0, Match: "rule", Action: action,
		Bytes: 60,
	}
}

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// equateAddrs compares addresses with ==, as netip.Addr wants.
var equateAddrs = cmp.Comparer(func(x, y netip.Addr) bool { return x == y })

func TestAggregate(t *testing.T) {
	deny := record(2, 1, 0, "Deny", "x/deny-b")
	names := map[netip.Addr]string{deny.Src: "x/b", deny.Dst: "x/a"}
	tests := []struct {
		name    string
		records []Record
		want    []Flow
	}{
		{
			name:    "records of one 5-tuple and rule make one flow counting packets and bytes from first to last seen",
			records: []Record{record(2, 1, 0, "Deny", "x/deny-b"), record(2, 1, 5, "Deny", "x/deny-b"), record(2, 1, 3, "Deny", "x/deny-b")},
			want: []Flow{{
				Key: KeyOf(deny), SrcName: "x/b", DstName: "x/a",
				FirstSeen: t0, LastSeen: t0.Add(5 * time.Second), Packets: 3, Bytes: 180,
			}},
		},
		{
			name:    "the same 5-tuple logged by two policies makes two flows, newest first",
			records: []Record{record(2, 1, 0, "Log", "x/log-all"), record(2, 1, 1, "Deny", "x/deny-b")},
			want: []Flow{
				{Key: KeyOf(deny), SrcName: "x/b", DstName: "x/a", FirstSeen: t0.Add(time.Second), LastSeen: t0.Add(time.Second), Packets: 1, Bytes: 60},
				{Key: KeyOf(record(2, 1, 0, "Log", "x/log-all")), SrcName: "x/b", DstName: "x/a", FirstSeen: t0, LastSeen: t0, Packets: 1, Bytes: 60},
			},
		},
		{
			name:    "an address no endpoint holds stays unnamed",
			records: []Record{record(9, 1, 0, "Deny", "x/deny-b")},
			want: []Flow{{
				Key: KeyOf(record(9, 1, 0, "Deny", "x/deny-b")), DstName: "x/a",
				FirstSeen: t0, LastSeen: t0, Packets: 1, Bytes: 60,
			}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := New(Config{Now: func() time.Time { return t0 }, Name: func(ip netip.Addr) string { return names[ip] }})
			for _, r := range tt.records {
				a.Add(r)
			}
			if diff := cmp.Diff(tt.want, a.List(Filter{}), equateAddrs); diff != "" {
				t.Errorf("flows (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEviction(t *testing.T) {
	t.Run("beyond MaxFlows the least recently updated flow goes", func(t *testing.T) {
		a := New(Config{MaxFlows: 2, Now: func() time.Time { return t0 }})
		a.Add(record(1, 9, 0, "Deny", "p"))
		a.Add(record(2, 9, 0, "Deny", "p"))
		a.Add(record(1, 9, 0, "Deny", "p")) // 1 is now more recent than 2
		a.Add(record(3, 9, 0, "Deny", "p"))
		var got []string
		for _, f := range a.List(Filter{}) {
			got = append(got, f.Src.String())
		}
		if diff := cmp.Diff([]string{"10.0.0.1", "10.0.0.3"}, sortedStrings(got)); diff != "" {
			t.Errorf("sources kept (-want +got):\n%s", diff)
		}
	})
	t.Run("a flow with no record for MaxAge is forgotten", func(t *testing.T) {
		clock := &fakeClock{t: t0}
		a := New(Config{MaxAge: time.Minute, Now: clock.Now})
		a.Add(record(1, 9, 0, "Deny", "p"))
		a.Add(record(2, 9, 50, "Deny", "p"))
		clock.Set(t0.Add(90 * time.Second))
		got := a.List(Filter{})
		if len(got) != 1 || got[0].Src != netip.MustParseAddr("10.0.0.2") {
			t.Errorf("flows after 90s = %+v, want only the one last seen at 50s", got)
		}
		if a.Len() != 1 {
			t.Errorf("Len() = %d, want 1", a.Len())
		}
	})
}

func sortedStrings(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}

func TestWrite(t *testing.T) {
	tests := []struct {
		name        string
		chunks      []string
		wantPackets uint64
		wantBad     bool
	}{
		{
			name:        "whole lines are records",
			chunks:      []string{line(record(2, 1, 0, "Deny", "p")) + line(record(2, 1, 1, "Deny", "p"))},
			wantPackets: 2,
		},
		{
			name:        "a line split across writes is read once whole",
			chunks:      splitAt(line(record(2, 1, 0, "Deny", "p")), 17),
			wantPackets: 1,
		},
		{
			name:        "a line that is not a record is skipped and reported",
			chunks:      []string{"not json\n" + line(record(2, 1, 0, "Deny", "p"))},
			wantPackets: 1,
			wantBad:     true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := New(Config{Now: func() time.Time { return t0 }})
			var bad bool
			for _, c := range tt.chunks {
				n, err := a.Write([]byte(c))
				if n != len(c) {
					t.Errorf("Write(%d bytes) = %d", len(c), n)
				}
				if err != nil {
					if !errors.Is(err, ErrBadRecord) {
						t.Fatalf("Write: %v, want ErrBadRecord", err)
					}
					bad = true
				}
			}
			if bad != tt.wantBad {
				t.Errorf("reported a bad record: %v, want %v", bad, tt.wantBad)
			}
			var packets uint64
			for _, f := range a.List(Filter{}) {
				packets += f.Packets
			}
			if packets != tt.wantPackets {
				t.Errorf("packets = %d, want %d", packets, tt.wantPackets)
			}
		})
	}
}

func line(r Record) string {
	b, err := json.Marshal(r)
	if err != nil {
		panic(err)
	}
	return string(b) + "\n"
}

func splitAt(s string, n int) []string { return []string{s[:n], s[n:]} }

func TestFilter(t *testing.T) {
	now := t0.Add(time.Hour)
	tests := []struct {
		name    string
		query   string
		want    Filter
		wantErr bool
	}{
		{name: "no parameters select everything", query: "", want: Filter{}},
		{name: "denied=true keeps denied flows", query: "denied=true", want: Filter{Denied: true}},
		{name: "a namespace is kept as given", query: "namespace=x", want: Filter{Namespace: "x"}},
		{name: "since as a duration counts back from now", query: "since=5m", want: Filter{Since: now.Add(-5 * time.Minute)}},
		{name: "since as a time is that time", query: "since=2026-11-25T10:00:00Z", want: Filter{Since: t0}},
		{name: "denied must be a boolean", query: "denied=maybe", wantErr: true},
		{name: "since must be a time or a duration", query: "since=yesterday", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, err := url.ParseQuery(tt.query)
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseFilter(q, now)
			if (err != nil) != tt.wantErr || (err != nil && !errors.Is(err, ErrBadFilter)) {
				t.Fatalf("ParseFilter(%q) error = %v, want error %v", tt.query, err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseFilter(%q) (-want +got):\n%s", tt.query, diff)
			}
			if err == nil {
				back, err := ParseFilter(got.Values(), now)
				if err != nil || !cmp.Equal(back, got) {
					t.Errorf("ParseFilter(Values()) = %+v, %v; want %+v", back, err, got)
				}
			}
		})
	}

	flow := Flow{Key: KeyOf(record(2, 1, 0, "Deny", "y/deny-b")), SrcName: "x/b", LastSeen: t0}
	matches := []struct {
		name   string
		filter Filter
		want   bool
	}{
		{"a denied flow passes the denied filter", Filter{Denied: true}, true},
		{"a flow is in its source's namespace", Filter{Namespace: "x"}, true},
		{"a flow is in its policy's namespace", Filter{Namespace: "y"}, true},
		{"a flow is not in another namespace", Filter{Namespace: "z"}, false},
		{"a flow last seen before since is left out", Filter{Since: t0.Add(time.Second)}, false},
	}
	for _, tt := range matches {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.filter.Match(flow); got != tt.want {
				t.Errorf("%+v.Match = %v, want %v", tt.filter, got, tt.want)
			}
		})
	}
	logged := flow
	logged.Action = "Log"
	if (Filter{Denied: true}).Match(logged) {
		t.Error("a logged (not denied) flow passes the denied filter")
	}
}

func TestSubscribe(t *testing.T) {
	a := New(Config{Now: func() time.Time { return t0 }})
	a.Add(record(1, 9, 0, "Deny", "p"))
	a.Add(record(2, 9, 0, "Log", "p"))
	ctx, cancel := context.WithCancel(t.Context())
	now, updates := a.Subscribe(ctx, Filter{Denied: true}, 4)
	if len(now) != 1 || now[0].Src != netip.MustParseAddr("10.0.0.1") {
		t.Fatalf("snapshot = %+v, want the denied flow from 10.0.0.1", now)
	}
	a.Add(record(2, 9, 1, "Log", "p"))
	a.Add(record(1, 9, 1, "Deny", "p"))
	select {
	case f := <-updates:
		if f.Src != netip.MustParseAddr("10.0.0.1") || f.Packets != 2 {
			t.Errorf("update = %+v, want the denied flow with 2 packets", f)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no update within 5s")
	}
	cancel()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, ok := <-updates; !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the channel is still open 5s after the context ended")
		}
	}
	a.Add(record(1, 9, 2, "Deny", "p")) // must not panic on the closed channel
}

func TestDecidedBy(t *testing.T) {
	tests := []struct {
		name string
		key  Key
		want string
	}{
		{"a policy rule names tier, policy and rule", Key{Tier: "default", Policy: "x/p", Rule: 2}, "default/x/p rule 2"},
		{"a profile rule names the profile", Key{Profile: "kns.x", Rule: 0}, "profile kns.x rule 0"},
		{"an end-of-tier drop names the tier", Key{Tier: "security", Rule: -1}, "end of tier security"},
		{"a drop with no tier is the default deny", Key{Rule: -1}, "default deny"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := (Flow{Key: tt.key}).DecidedBy(); got != tt.want {
				t.Errorf("DecidedBy() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestRecordReadsTheAgentsLines(t *testing.T) {
	fl := agent.FlowLog{
		Time: t0, Src: netip.MustParseAddr("fd00::1"), Dst: netip.MustParseAddr("fd00::2"),
		Proto: "UDP", SrcPort: 1, DstPort: 2, Direction: "egress",
		Tier: "t", Policy: "ns/p", Profile: "kns.ns", Rule: 3, Match: "rule", Action: "Log",
	}
	agentLine, err := json.Marshal(fl)
	if err != nil {
		t.Fatal(err)
	}
	var r Record
	if err := json.Unmarshal(agentLine, &r); err != nil {
		t.Fatal(err)
	}
	recordLine, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var want, got map[string]any
	if err := json.Unmarshal(agentLine, &want); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(recordLine, &got); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("an agent line read as a Record and written back differs (-agent +record):\n%s", diff)
	}
}
