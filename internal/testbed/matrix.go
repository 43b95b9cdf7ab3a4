//go:build linux

package testbed

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	v3 "github.com/tabby-project/tabby/api/v3"
	"github.com/tabby-project/tabby/lab"
)

// ErrChanging is returned by Matrix when the datastore changes every time
// between the agents catching up and the engine reading it.
var ErrChanging = errors.New("testbed: the datastore keeps changing; no consistent matrix")

// maxSnapshotAttempts bounds Matrix's attempts at a consistent snapshot.
const maxSnapshotAttempts = 5

// Cell is one probe of a matrix: what the packets did and what the engine
// predicted from the same datastore content.
type Cell struct {
	Probe lab.ProbeSpec `json:"probe"`
	// Connected is the observed outcome; Error says why it did not connect.
	Connected bool   `json:"connected"`
	Error     string `json:"error,omitempty"`
	// Skipped, if not empty, says why the probe was not sent (SCTP on a
	// kernel without it); the cell then takes no part in the comparison.
	Skipped   string     `json:"skipped,omitempty"`
	Predicted Prediction `json:"predicted"`
}

// Disagrees reports whether the packets did something else than the engine
// predicted.
func (c Cell) Disagrees() bool { return c.Skipped == "" && c.Connected != c.Predicted.Allowed }

// Matrix is a set of probes between the lab's workloads with the engine's
// predictions.
type Matrix struct {
	// Revision is the datastore revision the agents had programmed and the
	// engine read.
	Revision int64 `json:"revision"`
	// EndRevision is the datastore revision once the probes were done; it
	// differs from Revision if something was written meanwhile.
	EndRevision int64  `json:"endRevision"`
	Cells       []Cell `json:"cells"`
	// SCTP is empty when SCTP was probed, else why not.
	SCTP string `json:"sctp,omitempty"`
	// Problems are resources the engine (and so the agents) refused.
	Problems []string      `json:"problems,omitempty"`
	Elapsed  time.Duration `json:"elapsed"`
	// Workloads are the lab's, in topology order, for Print.
	Workloads []Workload `json:"workloads"`
}

// Workload is what Print needs to know of a workload.
type Workload struct {
	Ref  lab.WorkloadRef `json:"ref"`
	Host string          `json:"host"`
	IPs  []netip.Addr    `json:"ips"`
}

// Disagreements returns the cells where the packets and the engine differ.
func (m *Matrix) Disagreements() []Cell {
	var out []Cell
	for _, c := range m.Cells {
		if c.Disagrees() {
			out = append(out, c)
		}
	}
	return out
}

// Matrix waits until every agent has programmed the datastore's current
// content, reads that content into the engine, and sends the probes (all
// pairs of workloads, on each destination's ports and ICMP, when specs is
// nil) with bounded concurrency. A probe the engine predicts allowed that
// times out is sent once more with a longer timeout, so that a starved
// CPU does not pass for a dropped packet. progress, if set, is told how
// many probes are done.
func (l *Lab) Matrix(ctx context.Context, specs []lab.ProbeSpec, progress func(done, total int)) (*Matrix, error) {
	start := time.Now()
	if specs == nil {
		specs = l.fabric.AllPairs()
	}
	snap, err := l.consistentSnapshot(ctx)
	if err != nil {
		return nil, err
	}
	m := &Matrix{Revision: snap.Revision, Problems: snap.Problems, Cells: make([]Cell, len(specs))}
	for _, w := range l.fabric.Workloads() {
		m.Workloads = append(m.Workloads, Workload{Ref: w.Ref, Host: w.Host, IPs: w.IPs})
	}
	if err := l.fabric.SCTP(); err != nil {
		m.SCTP = err.Error()
	}
	var send []int
	for i, sp := range specs {
		c := &m.Cells[i]
		c.Probe = sp
		if c.Predicted, err = snap.Predict(sp); err != nil {
			return nil, err
		}
		if sp.Protocol == lab.SCTP && m.SCTP != "" {
			c.Skipped = "SCTP unsupported by the kernel"
			continue
		}
		send = append(send, i)
	}
	l.probe(ctx, m, send, 0, progress)
	var again []int
	for _, i := range send {
		if c := &m.Cells[i]; c.Predicted.Allowed && !c.Connected && strings.Contains(c.Error, lab.ErrTimeout.Error()) {
			again = append(again, i)
		}
	}
	if len(again) > 0 {
		l.probe(ctx, m, again, retryTimeout(l.opts.ProbeTimeout), nil)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("testbed: matrix: %w", err)
	}
	end, err := l.store.List(ctx, v3.KindFelixConfiguration, "")
	if err != nil {
		return nil, fmt.Errorf("testbed: matrix: read the revision: %w", err)
	}
	m.EndRevision = end.Revision
	m.Elapsed = time.Since(start)
	return m, nil
}

func retryTimeout(d time.Duration) time.Duration {
	if d <= 0 {
		d = lab.DefaultProbeTimeout
	}
	return max(4*d, time.Second)
}

// consistentSnapshot returns the datastore content the agents have
// programmed: it waits for them, then reads, and starts again if something
// was written in between.
func (l *Lab) consistentSnapshot(ctx context.Context) (*Snapshot, error) {
	for range maxSnapshotAttempts {
		rev, err := l.WaitProgrammed(ctx)
		if err != nil {
			return nil, err
		}
		snap, err := l.Snapshot(ctx)
		if err != nil {
			return nil, err
		}
		if snap.Revision == rev {
			return snap, nil
		}
	}
	return nil, ErrChanging
}

// probe sends the probes of the cells at idx, in chunks so that progress
// can be told, each with timeout (zero: the lab's).
func (l *Lab) probe(ctx context.Context, m *Matrix, idx []int, timeout time.Duration, progress func(done, total int)) {
	chunk := max(l.workers()*4, 64)
	for from := 0; from < len(idx); from += chunk {
		part := idx[from:min(from+chunk, len(idx))]
		specs := make([]lab.ProbeSpec, len(part))
		for j, i := range part {
			specs[j] = m.Cells[i].Probe
		}
		var results []lab.Result
		if timeout > 0 {
			results = l.probeAllWithTimeout(ctx, specs, timeout)
		} else {
			results = l.fabric.ProbeAll(ctx, specs)
		}
		for j, i := range part {
			c := &m.Cells[i]
			c.Connected, c.Error = results[j].Connected, ""
			if results[j].Err != nil {
				c.Error = results[j].Err.Error()
			}
		}
		if progress != nil {
			progress(from+len(part), len(idx))
		}
	}
}

func (l *Lab) workers() int {
	if l.opts.Workers > 0 {
		return l.opts.Workers
	}
	return lab.DefaultWorkers
}

// probeAllWithTimeout is ProbeAll with another timeout per probe.
func (l *Lab) probeAllWithTimeout(ctx context.Context, specs []lab.ProbeSpec, timeout time.Duration) []lab.Result {
	results := make([]lab.Result, len(specs))
	sem := make(chan struct{}, l.workers())
	var wg sync.WaitGroup
	for i, sp := range specs {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			results[i] = l.probeOne(ctx, sp, timeout)
		})
	}
	wg.Wait()
	return results
}

// probeOne sends one probe with the lab's timeout (or timeout, if not zero).
func (l *Lab) probeOne(ctx context.Context, sp lab.ProbeSpec, timeout time.Duration) lab.Result {
	if sp.FromHost != "" {
		return l.fabric.ProbeFromHost(ctx, sp.FromHost, sp.To, sp.Protocol, sp.Port, timeout)
	}
	return l.fabric.Probe(ctx, sp.From, sp.To, sp.Protocol, sp.Port, timeout)
}

// service is a protocol and port of a grid.
type service struct {
	proto lab.Protocol
	port  uint16
}

func (s service) String() string {
	if s.proto == lab.ICMP {
		return "ICMP"
	}
	return fmt.Sprintf("%s/%d", s.proto, s.port)
}

// Print writes the matrix as one grid per protocol and port, observed
// beside predicted, then every disagreement and a summary line. Rows are
// sources, columns destinations: "." connected (allowed), "X" not (denied),
// "~" some of the destination's addresses only, "!" the packets disagree
// with the engine, "?" not probed; blank where the destination does not
// serve the port.
func (m *Matrix) Print(w io.Writer) {
	wls := m.Workloads
	names := make([]string, len(wls))
	index := map[lab.WorkloadRef]int{}
	short := true
	for i, wl := range wls {
		names[i] = wl.Ref.String()
		index[wl.Ref] = i
		short = short && len(names[i]) <= 6
	}
	if !short {
		fmt.Fprintln(w, "workloads:")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for i, wl := range wls {
			addrs := make([]string, len(wl.IPs))
			for j, a := range wl.IPs {
				addrs[j] = a.String()
			}
			fmt.Fprintf(tw, "  %d\t%s\ton %s\t%s\n", i+1, wl.Ref, wl.Host, strings.Join(addrs, ", "))
		}
		tw.Flush()
		for i := range names {
			names[i] = fmt.Sprint(i + 1)
		}
		fmt.Fprintln(w)
	}
	owner := map[string]int{}
	for i, wl := range wls {
		for _, a := range wl.IPs {
			owner[a.String()] = i
		}
	}
	// grid[service][src][dst] collects the cells of each square.
	grid := map[service]map[[2]int][]Cell{}
	for _, c := range m.Cells {
		s := service{c.Probe.Protocol, c.Probe.Port}
		if s.proto == lab.ICMP {
			s.port = 0
		}
		src, ok := index[c.Probe.From]
		dst, ok2 := owner[c.Probe.To.String()]
		if !ok || !ok2 {
			continue
		}
		if grid[s] == nil {
			grid[s] = map[[2]int][]Cell{}
		}
		grid[s][[2]int{src, dst}] = append(grid[s][[2]int{src, dst}], c)
	}
	services := make([]service, 0, len(grid))
	for s := range grid {
		services = append(services, s)
	}
	slices.SortFunc(services, func(a, b service) int {
		return cmp.Or(cmp.Compare(protoRank(a.proto), protoRank(b.proto)), cmp.Compare(a.port, b.port))
	})
	fmt.Fprintln(w, "Rows are sources, columns destinations; packets observed left of │, the engine's prediction right of it.")
	fmt.Fprintln(w)
	for _, s := range services {
		tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
		var dsts []int
		for d := range wls {
			for sidx := range wls {
				if _, ok := grid[s][[2]int{sidx, d}]; ok {
					dsts = append(dsts, d)
					break
				}
			}
		}
		head := []string{s.String()}
		for _, d := range dsts {
			head = append(head, names[d])
		}
		head = append(head, "│")
		for _, d := range dsts {
			head = append(head, names[d])
		}
		fmt.Fprintln(tw, strings.Join(head, "\t")+"\t")
		for src := range wls {
			row := []string{names[src]}
			var pred []string
			for _, d := range dsts {
				cells, ok := grid[s][[2]int{src, d}]
				o, p := squares(cells, ok, src == d)
				row, pred = append(row, o), append(pred, p)
			}
			fmt.Fprintln(tw, strings.Join(row, "\t")+"\t│\t"+strings.Join(pred, "\t")+"\t")
		}
		tw.Flush()
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w, `"." allowed  "X" denied  "~" some addresses only  "!" packets disagree with the engine  "?" not probed`)
	m.printSummary(w)
}

func protoRank(p lab.Protocol) int {
	return slices.Index([]lab.Protocol{lab.TCP, lab.UDP, lab.SCTP, lab.ICMP}, p)
}

// squares returns the observed and predicted symbols of one square.
func squares(cells []Cell, ok, self bool) (observed, predicted string) {
	switch {
	case self:
		return "-", "-"
	case !ok:
		return "", ""
	}
	var obs, pre, skipped, disagree int
	for _, c := range cells {
		switch {
		case c.Skipped != "":
			skipped++
		case c.Disagrees():
			disagree++
		}
		if c.Connected {
			obs++
		}
		if c.Predicted.Allowed {
			pre++
		}
	}
	symbol := func(n int) string {
		switch n {
		case 0:
			return "X"
		case len(cells):
			return "."
		}
		return "~"
	}
	observed, predicted = symbol(obs), symbol(pre)
	switch {
	case disagree > 0:
		observed = "!"
	case skipped == len(cells):
		observed = "?"
	}
	return observed, predicted
}

func (m *Matrix) printSummary(w io.Writer) {
	dis := m.Disagreements()
	skipped := 0
	for _, c := range m.Cells {
		if c.Skipped != "" {
			skipped++
		}
	}
	if len(dis) > 0 {
		fmt.Fprintf(w, "\n%d disagreement(s) between the packets and the engine:\n", len(dis))
		for _, c := range dis {
			got := "connected"
			if !c.Connected {
				got = "did not connect (" + c.Error + ")"
			}
			fmt.Fprintf(w, "  %s: %s; engine: %s\n", c.Probe, got, c.Predicted.Reason)
		}
	}
	fmt.Fprintf(w, "%d probes at datastore revision %d in %v: %d disagreement(s)",
		len(m.Cells)-skipped, m.Revision, m.Elapsed.Round(time.Millisecond), len(dis))
	if skipped > 0 {
		fmt.Fprintf(w, "; %d SCTP probes not sent: %s", skipped, m.SCTP)
	}
	fmt.Fprintln(w)
	if m.EndRevision != m.Revision {
		fmt.Fprintf(w, "warning: the datastore changed during the probes (revision %d to %d); run again for a consistent matrix\n", m.Revision, m.EndRevision)
	}
	for _, p := range m.Problems {
		fmt.Fprintf(w, "warning: refused by the engine and the agents: %s\n", p)
	}
}
