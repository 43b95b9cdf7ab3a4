package nft

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// ErrClosed is returned by the methods of a closed Dataplane.
var ErrClosed = errors.New("nft: dataplane closed")

// socketBuffer is the size forced on the netlink socket's buffers. The
// kernel echoes every rule of a transaction back and acknowledges every
// message before Flush reads any of it, so a large transaction needs far
// more than the default of about 200 KiB.
const socketBuffer = 64 << 20

// Dataplane programs Tabby's table in one network namespace. It remembers
// what it programmed and sends only the difference, each change as one
// atomic transaction. Its methods are safe for concurrent use; they
// serialise.
type Dataplane struct {
	s *settings
	// dial opens a netlink connection; each transaction gets its own, so
	// that a transaction abandoned half-built leaves nothing queued.
	dial func() (*nftables.Conn, error)
	mu   sync.Mutex
	// closed is set by Close.
	closed bool
	// programmed is the model in the kernel, nil when unknown (before the
	// first Apply, after a failure, after Remove).
	programmed *Model
	// setID numbers the sets a transaction creates; the library would
	// otherwise use a package-wide counter.
	setID uint32
}

// New returns a Dataplane for cfg, or an error wrapping ErrConfig. It does
// not touch the kernel until the first Sync or Apply. The caller must
// keep cfg.NetNS open while the Dataplane is in use, and Close it.
func New(cfg Config) (*Dataplane, error) {
	fd := cfg.NetNS
	return newWithDial(cfg, func() (*nftables.Conn, error) {
		return nftables.New(nftables.WithNetNSFd(fd), nftables.WithSockOptions(bigBuffers))
	})
}

// newWithDial returns a Dataplane whose connections come from dial (tests
// record netlink messages this way).
func newWithDial(cfg Config, dial func() (*nftables.Conn, error)) (*Dataplane, error) {
	s, err := cfg.settings()
	if err != nil {
		return nil, err
	}
	return &Dataplane{s: s, dial: dial}, nil
}

// conn returns a new connection; d.mu must be held.
func (d *Dataplane) conn() (*nftables.Conn, error) {
	if d.closed {
		return nil, ErrClosed
	}
	c, err := d.dial()
	if err != nil {
		return nil, fmt.Errorf("nft: open netlink: %w", err)
	}
	return c, nil
}

// bigBuffers forces large socket buffers (CAP_NET_ADMIN allows going past
// the sysctl limits), falling back to the limits.
func bigBuffers(c *netlink.Conn) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = rc.Control(func(fd uintptr) {
		for _, o := range [][2]int{{unix.SO_RCVBUFFORCE, unix.SO_RCVBUF}, {unix.SO_SNDBUFFORCE, unix.SO_SNDBUF}} {
			if e := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, o[0], socketBuffer); e != nil {
				if e := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, o[1], socketBuffer); e != nil {
					serr = e
				}
			}
		}
	})
	return errors.Join(err, serr)
}

// Close ends the use of the Dataplane: its methods then return ErrClosed.
// The table stays as programmed.
func (d *Dataplane) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	return nil
}

// Render renders in with the Dataplane's configuration.
func (d *Dataplane) Render(in *Input) (*Model, error) {
	return newRenderer(d.s, in).render()
}

// Sync renders in and applies the result (see Apply). It is what the agent
// calls after applying the engine's DrainSets and Drain to its Input.
func (d *Dataplane) Sync(ctx context.Context, in *Input) (Changes, error) {
	m, err := d.Render(in)
	if err != nil {
		return Changes{}, fmt.Errorf("nft: sync: %w", err)
	}
	return d.Apply(ctx, m)
}

// Apply makes the table equal to m in one atomic transaction holding only
// the difference from what the Dataplane last programmed: sets and chains
// added, rules of changed chains replaced, set and map elements added and
// removed, chains and sets no longer used deleted. The first Apply (and
// the first after a failure or Remove) replaces whatever table of that
// name exists, in the same transaction, so that there is never a moment
// without policy. If the kernel refuses the transaction nothing changes.
// m must have been rendered with the Dataplane's table name.
func (d *Dataplane) Apply(ctx context.Context, m *Model) (Changes, error) {
	if m.table != d.s.table {
		return Changes{}, fmt.Errorf("nft: apply: model of table %q to dataplane of table %q", m.table, d.s.table)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return Changes{}, fmt.Errorf("nft: apply: %w", err)
	}
	c, err := d.conn()
	if err != nil {
		return Changes{}, err
	}
	exists := false
	if d.programmed == nil {
		if exists, err = d.tableExists(c); err != nil {
			return Changes{}, fmt.Errorf("nft: apply: %w", err)
		}
	}
	p := diff(d.programmed, m)
	if p.changes.Empty() {
		d.programmed = m
		return p.changes, nil
	}
	if exists {
		n, err := d.emptyTable(c)
		if err != nil {
			return Changes{}, fmt.Errorf("nft: apply: %w", err)
		}
		p.changes.Messages += n
	}
	if err := d.send(c, p); err != nil {
		d.programmed = nil
		return Changes{}, fmt.Errorf("nft: apply to table inet %s: %w", d.s.table, err)
	}
	d.programmed = m
	return p.changes, nil
}

// Programmed returns the model last applied, or nil when the kernel's
// state is not known (before the first Apply, after a failure).
func (d *Dataplane) Programmed() *Model {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.programmed
}

// Remove deletes the table and everything in it. Removing a table that
// does not exist is not an error.
func (d *Dataplane) Remove(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("nft: remove: %w", err)
	}
	c, err := d.conn()
	if err != nil {
		return err
	}
	d.programmed = nil
	exists, err := d.tableExists(c)
	if err != nil {
		return fmt.Errorf("nft: remove: %w", err)
	}
	if !exists {
		return nil
	}
	c.DelTable(d.table())
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nft: remove table inet %s: %w", d.s.table, err)
	}
	return nil
}

func (d *Dataplane) table() *nftables.Table {
	return &nftables.Table{Name: d.s.table, Family: nftables.TableFamilyINet}
}

func (d *Dataplane) tableExists(c *nftables.Conn) (bool, error) {
	tables, err := c.ListTablesOfFamily(nftables.TableFamilyINet)
	if err != nil {
		return false, fmt.Errorf("list tables: %w", err)
	}
	return slices.ContainsFunc(tables, func(t *nftables.Table) bool { return t.Name == d.s.table }), nil
}

// emptyTable queues, at the head of the transaction, the removal of
// everything in the existing table except its hooked chains, which are
// only flushed: every rule, every set and map, every regular chain. The
// rest of the transaction then rebuilds the table from nothing.
//
// Deleting and re-creating the whole table would be simpler, but it would
// put the old table's hooked chains and the new one's on the same hooks
// for the length of the transaction, and a packet that crossed the new
// chain before the kernel's generation flip (seeing it empty) and the old
// one after it (seeing it emptied) would pass both unjudged. A hooked
// chain that stays in place is judged by one generation or the other,
// never by neither. It returns the number of messages queued.
func (d *Dataplane) emptyTable(c *nftables.Conn) (int, error) {
	t := d.table()
	chains, err := c.ListChainsOfTableFamily(t.Family)
	if err != nil {
		return 0, fmt.Errorf("list chains: %w", err)
	}
	sets, err := c.GetSets(t)
	if err != nil {
		return 0, fmt.Errorf("list sets: %w", err)
	}
	c.FlushTable(t)
	n := 1
	for _, s := range sets {
		if s.Anonymous {
			continue // bound to a rule: it goes with the rule
		}
		c.DelSet(&nftables.Set{Table: t, Name: s.Name})
		n++
	}
	for _, ch := range chains {
		if ch.Table == nil || ch.Table.Name != t.Name || ch.Hooknum != nil {
			continue
		}
		c.DelChain(&nftables.Chain{Table: t, Name: ch.Name})
		n++
	}
	return n, nil
}

// send queues the plan's messages in dependency order and flushes them as
// one batch: sets and chains before the rules and elements that refer to
// them, references gone before what they referred to.
func (d *Dataplane) send(conn *nftables.Conn, p *plan) error {
	t := d.table()
	if p.create {
		conn.AddTable(t)
	}
	ids := map[string]uint32{}
	nsets := map[string]*nftables.Set{}
	for _, s := range p.addSets {
		d.setID++
		if d.setID == 0 {
			d.setID++
		}
		ns := nftSet(t, s, d.setID)
		ids[s.name] = d.setID
		nsets[s.name] = ns
		if err := conn.AddSet(ns, nil); err != nil {
			return fmt.Errorf("add set %s: %w", s.name, err)
		}
	}
	chains := map[string]*nftables.Chain{}
	for _, c := range p.addChains {
		chains[c.name] = conn.AddChain(nftChain(t, c))
	}
	for _, c := range p.flush {
		nc := nftChain(t, c)
		chains[c.name] = nc
		conn.FlushChain(nc)
	}
	for _, c := range p.fill {
		nc := chains[c.name]
		for i := range c.rules {
			r := &c.rules[i]
			nr := &nftables.Rule{Table: t, Chain: nc, Exprs: withSetIDs(r.exprs, ids)}
			if r.comment != "" {
				nr.UserData = userdata.AppendString(nil, userdata.TypeComment, r.comment)
			}
			conn.AddRule(nr)
		}
	}
	setOf := func(name string) *nftables.Set {
		if ns, ok := nsets[name]; ok {
			return ns
		}
		return nftSet(t, p.desired.sets[name], 0)
	}
	for _, name := range sortedKeys(p.delElems) {
		// Elements removed keep the values they had, which a map needs to
		// match them.
		if err := d.setElems(conn, setOf(name), p.old.sets[name], p.delElems[name], true); err != nil {
			return err
		}
	}
	// Elements of new sets come after the chains: map elements jump to
	// them.
	for _, s := range p.addSets {
		if err := d.setElems(conn, nsets[s.name], s, s.sortedElems(), false); err != nil {
			return err
		}
	}
	for _, name := range sortedKeys(p.addElems) {
		if err := d.setElems(conn, setOf(name), p.desired.sets[name], p.addElems[name], false); err != nil {
			return err
		}
	}
	for _, name := range p.delChains {
		conn.FlushChain(&nftables.Chain{Table: t, Name: name})
	}
	for _, name := range p.delChains {
		conn.DelChain(&nftables.Chain{Table: t, Name: name})
	}
	for _, name := range p.delSets {
		conn.DelSet(&nftables.Set{Table: t, Name: name})
	}
	return conn.Flush()
}

// setElems queues the addition (or deletion) of elements of s, a chunk
// per message.
func (d *Dataplane) setElems(conn *nftables.Conn, ns *nftables.Set, s *set, es []elem, del bool) error {
	for len(es) > 0 {
		n := min(len(es), maxElemsPerMessage)
		vals := nftElems(s, es[:n])
		es = es[n:]
		var err error
		if del {
			err = conn.SetDeleteElements(ns, vals)
		} else {
			err = conn.SetAddElements(ns, vals)
		}
		if err != nil {
			return fmt.Errorf("set %s elements: %w", s.name, err)
		}
	}
	return nil
}

func sortedKeys(m map[string][]elem) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// withSetIDs fills in the transaction's IDs of sets created in it, so the
// kernel can resolve lookups of sets it has not committed yet. The model's
// expressions are shared and never modified: lookups are copied.
func withSetIDs(exprs []expr.Any, ids map[string]uint32) []expr.Any {
	var out []expr.Any
	for i, e := range exprs {
		l, ok := e.(*expr.Lookup)
		if !ok {
			continue
		}
		id, ok := ids[l.SetName]
		if !ok {
			continue
		}
		if out == nil {
			out = slices.Clone(exprs)
		}
		c := *l
		c.SetID = id
		out[i] = &c
	}
	if out == nil {
		return exprs
	}
	return out
}

func nftChain(t *nftables.Table, c *chain) *nftables.Chain {
	nc := &nftables.Chain{Table: t, Name: c.name}
	if c.hook != nil {
		h := c.hook.num
		prio := nftables.ChainPriority(c.hook.prio)
		policy := nftables.ChainPolicyAccept
		nc.Hooknum, nc.Priority, nc.Type, nc.Policy = &h, &prio, nftables.ChainTypeFilter, &policy
	}
	return nc
}

func nftSet(t *nftables.Table, s *set, id uint32) *nftables.Set {
	ns := &nftables.Set{Table: t, Name: s.name, ID: id, Interval: s.kind.interval()}
	switch s.kind {
	case setAddr4:
		ns.KeyType = nftables.TypeIPAddr
	case setAddr6:
		ns.KeyType = nftables.TypeIP6Addr
	case setPorts:
		ns.KeyType = nftables.TypeInetService
	case setNamedPort4:
		ns.KeyType = nftables.MustConcatSetType(nftables.TypeIPAddr, nftables.TypeInetProto, nftables.TypeInetService)
		ns.Concatenation = true
	case setNamedPort6:
		ns.KeyType = nftables.MustConcatSetType(nftables.TypeIP6Addr, nftables.TypeInetProto, nftables.TypeInetService)
		ns.Concatenation = true
	case setProtos:
		ns.KeyType = nftables.TypeInetProto
	case setICMPv6Types:
		ns.KeyType = nftables.TypeICMP6Type
	case setIfnames:
		// nft prints strings of a set in host byte order.
		ns.KeyType, ns.KeyByteOrder = nftables.TypeIFName, binaryutil.NativeEndian
	case setIfnameVmap:
		ns.KeyType, ns.KeyByteOrder = nftables.TypeIFName, binaryutil.NativeEndian
		ns.DataType = nftables.TypeVerdict
		ns.IsMap = true
	}
	return ns
}

// nftElems encodes elements: an interval [from, to] is a start element and
// an interval-end element one past to (none when to is the highest value);
// a map element carries its verdict.
func nftElems(s *set, es []elem) []nftables.SetElement {
	var out []nftables.SetElement
	for _, e := range es {
		switch {
		case s.kind.interval():
			out = append(out, nftables.SetElement{Key: []byte(e.key)})
			if next, ok := increment([]byte(e.end)); ok {
				out = append(out, nftables.SetElement{Key: next, IntervalEnd: true})
			}
		case s.kind == setIfnameVmap:
			out = append(out, nftables.SetElement{Key: []byte(e.key),
				VerdictData: &expr.Verdict{Kind: expr.VerdictJump, Chain: s.elems[e]}})
		default:
			out = append(out, nftables.SetElement{Key: []byte(e.key)})
		}
	}
	return out
}

// increment returns b+1 as a big-endian number of the same length, or
// false if b is all ones.
func increment(b []byte) ([]byte, bool) {
	out := slices.Clone(b)
	for i := len(out) - 1; i >= 0; i-- {
		out[i]++
		if out[i] != 0 {
			return out, true
		}
	}
	return nil, false
}

// LogRef returns what a log prefix of the programmed table stands for (see
// Model.LogRef), or false if the table has no such prefix or is not
// programmed.
func (d *Dataplane) LogRef(prefix string) (RuleRef, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.programmed == nil {
		return RuleRef{}, false
	}
	return d.programmed.LogRef(prefix)
}
