package flows

import (
	"bytes"
	"container/list"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	v3 "github.com/tabby-project/tabby/api/v3"
)

// Defaults of Config.
const (
	DefaultMaxFlows = 10000
	DefaultMaxAge   = time.Hour
)

// ErrBadRecord is wrapped by the error Write returns for a line that is
// not a flow-log record.
var ErrBadRecord = errors.New("flows: malformed flow-log record")

// Record is one flow-log line as the agent writes it: the JSON form of
// agent.FlowLog, field for field. The package reads the lines rather than
// importing the agent so that API clients (calicoctl) do not link it.
type Record struct {
	Time      time.Time  `json:"time"`
	Src       netip.Addr `json:"src"`
	Dst       netip.Addr `json:"dst"`
	Proto     string     `json:"proto"`
	SrcPort   uint16     `json:"srcPort"`
	DstPort   uint16     `json:"dstPort"`
	Direction string     `json:"direction"`
	Tier      string     `json:"tier,omitempty"`
	Policy    string     `json:"policy,omitempty"`
	Profile   string     `json:"profile,omitempty"`
	Rule      int        `json:"rule"`
	Match     string     `json:"match"`
	Action    string     `json:"action"`
	Bytes     int        `json:"bytes"`
}

// Key identifies a flow: its 5-tuple, the direction of the policy that
// logged it, the verdict and what decided it.
type Key struct {
	Src     netip.Addr `json:"src"`
	Dst     netip.Addr `json:"dst"`
	Proto   string     `json:"proto"`
	SrcPort uint16     `json:"srcPort"`
	DstPort uint16     `json:"dstPort"`
	// Direction is ingress or egress.
	Direction string `json:"direction"`
	// Action is the verdict of the logging rule: Deny for a logged drop,
	// Log for a Log rule (whose packet goes on to later rules).
	Action string `json:"action"`
	// Tier, Policy ("<namespace>/<name>" or a global policy's name),
	// Profile, Rule and Match are those of the record (agent.FlowLog).
	Tier    string `json:"tier,omitempty"`
	Policy  string `json:"policy,omitempty"`
	Profile string `json:"profile,omitempty"`
	Rule    int    `json:"rule"`
	Match   string `json:"match"`
}

// KeyOf returns the key of the flow a record belongs to.
func KeyOf(r Record) Key {
	return Key{
		Src: r.Src, Dst: r.Dst, Proto: r.Proto, SrcPort: r.SrcPort, DstPort: r.DstPort,
		Direction: r.Direction, Action: r.Action,
		Tier: r.Tier, Policy: r.Policy, Profile: r.Profile, Rule: r.Rule, Match: r.Match,
	}
}

// Flow is the aggregate of the records of one Key.
type Flow struct {
	Key
	// SrcName and DstName name the endpoints of the addresses, when
	// Config.Name knew them as the flow was first seen.
	SrcName string `json:"srcName,omitempty"`
	DstName string `json:"dstName,omitempty"`
	// FirstSeen and LastSeen are the times of the first and the last
	// record.
	FirstSeen time.Time `json:"firstSeen"`
	LastSeen  time.Time `json:"lastSeen"`
	// Packets counts the records: one per logged packet; Bytes sums
	// their lengths.
	Packets uint64 `json:"packets"`
	Bytes   uint64 `json:"bytes"`
}

// Denied reports whether the flow's packets were dropped.
func (f Flow) Denied() bool { return f.Action == string(v3.Deny) }

// InNamespace reports whether either named endpoint is in namespace ns or
// the deciding policy is a NetworkPolicy of ns.
func (f Flow) InNamespace(ns string) bool {
	for _, name := range []string{f.SrcName, f.DstName, f.Policy} {
		if n, _, ok := strings.Cut(name, "/"); ok && n == ns {
			return true
		}
	}
	return false
}

// DecidedBy describes what logged the flow: "tier/policy rule N",
// "profile P rule N", "end of tier T" or "default deny".
func (f Flow) DecidedBy() string {
	switch {
	case f.Profile != "":
		return fmt.Sprintf("profile %s rule %d", f.Profile, f.Rule)
	case f.Policy != "" && f.Rule >= 0:
		return fmt.Sprintf("%s/%s rule %d", f.Tier, f.Policy, f.Rule)
	case f.Tier != "":
		return "end of tier " + f.Tier
	}
	return "default deny"
}

// Filter selects flows; its zero value selects all.
type Filter struct {
	// Denied keeps only denied flows.
	Denied bool
	// Namespace keeps only the flows of a namespace (Flow.InNamespace).
	Namespace string
	// Since keeps only the flows seen at or after it.
	Since time.Time
}

// Match reports whether f selects fl.
func (f Filter) Match(fl Flow) bool {
	return (!f.Denied || fl.Denied()) &&
		(f.Namespace == "" || fl.InNamespace(f.Namespace)) &&
		(f.Since.IsZero() || !fl.LastSeen.Before(f.Since))
}

// Config configures an Aggregator.
type Config struct {
	// MaxFlows bounds the flows held (0: DefaultMaxFlows).
	MaxFlows int
	// MaxAge is how long a flow is kept after its last record (0:
	// DefaultMaxAge).
	MaxAge time.Duration
	// Now is the clock ages are measured with (nil: time.Now).
	Now func() time.Time
	// Name returns the name of the endpoint holding an address, "" for
	// none; nil names nothing. It must not block.
	Name func(netip.Addr) string
}

// Aggregator turns flow-log records into flows. It is safe for concurrent
// use.
type Aggregator struct {
	cfg Config

	mu    sync.Mutex
	flows map[Key]*list.Element // of *Flow
	lru   list.List             // most recently updated first
	subs  map[*subscriber]struct{}
	line  []byte // a partial line held by Write
}

type subscriber struct {
	filter Filter
	ch     chan Flow
}

// New returns an empty aggregator.
func New(cfg Config) *Aggregator {
	if cfg.MaxFlows <= 0 {
		cfg.MaxFlows = DefaultMaxFlows
	}
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = DefaultMaxAge
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Aggregator{cfg: cfg, flows: map[Key]*list.Element{}, subs: map[*subscriber]struct{}{}}
}

// Add counts one record and returns its flow as updated.
func (a *Aggregator) Add(r Record) Flow {
	k := KeyOf(r)
	a.mu.Lock()
	defer a.mu.Unlock()
	var f *Flow
	if e, ok := a.flows[k]; ok {
		f = e.Value.(*Flow)
		a.lru.MoveToFront(e)
	} else {
		f = &Flow{Key: k, FirstSeen: r.Time, LastSeen: r.Time}
		if a.cfg.Name != nil {
			f.SrcName, f.DstName = a.cfg.Name(r.Src), a.cfg.Name(r.Dst)
		}
		a.flows[k] = a.lru.PushFront(f)
	}
	f.Packets++
	if r.Bytes > 0 {
		f.Bytes += uint64(r.Bytes)
	}
	if r.Time.Before(f.FirstSeen) {
		f.FirstSeen = r.Time
	}
	if r.Time.After(f.LastSeen) {
		f.LastSeen = r.Time
	}
	a.evict()
	out := *f
	for s := range a.subs {
		if !s.filter.Match(out) {
			continue
		}
		select {
		case s.ch <- out:
		default: // a slow subscriber loses updates; see the package doc
		}
	}
	return out
}

// evict drops the least recently updated flows beyond MaxFlows and those
// older than MaxAge. a.mu is held.
func (a *Aggregator) evict() {
	cutoff := a.cfg.Now().Add(-a.cfg.MaxAge)
	for e := a.lru.Back(); e != nil; e = a.lru.Back() {
		f := e.Value.(*Flow)
		if a.lru.Len() <= a.cfg.MaxFlows && !f.LastSeen.Before(cutoff) {
			return
		}
		a.lru.Remove(e)
		delete(a.flows, f.Key)
	}
}

// Write reads JSON flow-log lines (as agent.FlowLogReader writes them) and
// adds each record, so an Aggregator can be the agent's Config.FlowLog or
// part of it. A partial line waits for the rest. A line that is not a
// record is skipped, and Write reports it with an error wrapping
// ErrBadRecord after consuming all of p.
func (a *Aggregator) Write(p []byte) (int, error) {
	a.mu.Lock()
	a.line = append(a.line, p...)
	var lines [][]byte
	for {
		i := bytes.IndexByte(a.line, '\n')
		if i < 0 {
			break
		}
		lines = append(lines, bytes.Clone(a.line[:i]))
		a.line = a.line[i+1:]
	}
	a.line = slices.Clip(a.line)
	a.mu.Unlock()
	var errs []error
	for _, l := range lines {
		if len(bytes.TrimSpace(l)) == 0 {
			continue
		}
		var r Record
		if err := json.Unmarshal(l, &r); err != nil {
			errs = append(errs, fmt.Errorf("%w: %w", ErrBadRecord, err))
			continue
		}
		a.Add(r)
	}
	return len(p), errors.Join(errs...)
}

// List returns the flows f selects, most recently seen first.
func (a *Aggregator) List(f Filter) []Flow {
	a.mu.Lock()
	a.evict()
	out := make([]Flow, 0, a.lru.Len())
	for e := a.lru.Front(); e != nil; e = e.Next() {
		if fl := *e.Value.(*Flow); f.Match(fl) {
			out = append(out, fl)
		}
	}
	a.mu.Unlock()
	slices.SortStableFunc(out, func(x, y Flow) int { return y.LastSeen.Compare(x.LastSeen) })
	return out
}

// Len returns the number of flows held.
func (a *Aggregator) Len() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.lru.Len()
}

// Subscribe returns the flows f selects, oldest first, and a channel of
// every later update of a flow f selects. The channel buffers buf updates
// (at least 1); when it is full, updates are dropped. It is closed when
// ctx is done.
func (a *Aggregator) Subscribe(ctx context.Context, f Filter, buf int) ([]Flow, <-chan Flow) {
	s := &subscriber{filter: f, ch: make(chan Flow, max(buf, 1))}
	a.mu.Lock()
	a.subs[s] = struct{}{}
	a.mu.Unlock()
	now := a.List(f)
	slices.Reverse(now)
	go func() {
		<-ctx.Done()
		a.mu.Lock()
		delete(a.subs, s)
		close(s.ch)
		a.mu.Unlock()
	}()
	return now, s.ch
}
