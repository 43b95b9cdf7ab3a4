package nft

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"

	v3 "github.com/tabby-project/tabby/api/v3"
)

// ErrNotProgrammed is returned by Counters before the Dataplane has
// programmed its table (or after a failed Apply).
var ErrNotProgrammed = errors.New("nft: table not programmed")

// Count is a number of packets and bytes.
type Count struct {
	Packets, Bytes uint64
}

// Counter is the count of one rule of the table.
type Counter struct {
	Chain string
	// Position is the rule's index in its chain; Comment its comment.
	Position int
	Comment  string
	Ref      RuleRef
	Count
}

// Counters reads the counter of every rule of the table. Counters start at
// zero when a chain is created or replaced (a change of the policy it
// renders). It reports an error if the table no longer holds what the
// Dataplane programmed.
func (d *Dataplane) Counters(ctx context.Context) ([]Counter, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	conn, err := d.conn()
	if err != nil {
		return nil, err
	}
	m := d.programmed
	if m == nil {
		return nil, ErrNotProgrammed
	}
	t := d.table()
	var out []Counter
	for _, c := range m.sortedChains() {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("nft: counters: %w", err)
		}
		rules, err := conn.GetRules(t, &nftables.Chain{Table: t, Name: c.name})
		if err != nil {
			return nil, fmt.Errorf("nft: counters of chain %s: %w", c.name, err)
		}
		if len(rules) != len(c.rules) {
			return nil, fmt.Errorf("nft: counters of chain %s: %d rules in the kernel, %d programmed", c.name, len(rules), len(c.rules))
		}
		for i, r := range rules {
			want := &c.rules[i]
			got, _ := userdata.GetString(r.UserData, userdata.TypeComment)
			if got != want.comment {
				return nil, fmt.Errorf("nft: counters of chain %s: rule %d is %q, programmed %q", c.name, i, got, want.comment)
			}
			ct := Counter{Chain: c.name, Position: i, Comment: want.comment, Ref: want.ref}
			for _, e := range r.Exprs {
				if cnt, ok := e.(*expr.Counter); ok {
					ct.Packets, ct.Bytes = cnt.Packets, cnt.Bytes
				}
			}
			out = append(out, ct)
		}
	}
	return out, nil
}

// PolicyCount sums the counters of one policy: Evaluated counts the
// packets endpoint chains sent to it, Matched those one of its rules
// matched (a packet a Log rule matched and a later rule too counts twice).
type PolicyCount struct {
	Evaluated, Matched Count
}

// ByPolicy sums counters per policy.
func ByPolicy(cs []Counter) map[v3.Key]PolicyCount {
	out := map[v3.Key]PolicyCount{}
	for _, c := range cs {
		if c.Ref.Policy == (v3.Key{}) {
			continue
		}
		pc := out[c.Ref.Policy]
		switch c.Ref.Kind {
		case RefPolicy:
			pc.Evaluated.Packets += c.Packets
			pc.Evaluated.Bytes += c.Bytes
		case RefRule:
			pc.Matched.Packets += c.Packets
			pc.Matched.Bytes += c.Bytes
		default:
			continue
		}
		out[c.Ref.Policy] = pc
	}
	return out
}
