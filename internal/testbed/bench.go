//go:build linux

package testbed

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/tabby-project/tabby/api/v3"
	"github.com/tabby-project/tabby/dataplane/nft"
	"github.com/tabby-project/tabby/datastore/etcd"
	"github.com/tabby-project/tabby/k8s"
	"github.com/tabby-project/tabby/lab"
)

// BenchOptions size and bound a benchmark run. Zero fields take the
// defaults noted.
type BenchOptions struct {
	// Endpoints is the number of workload endpoints programmed on the
	// server's host besides the server (1000); Policies the number of
	// policies, every one of which applies to the server (1000);
	// SetMembers the number of addresses in the network sets their rules
	// select (10000, in 100 sets, or one per policy when there are fewer).
	Endpoints, Policies, SetMembers int
	// Changes is the number of policy changes timed from the datastore
	// write to the packets (20).
	Changes int
	// Rounds is how many times each traffic figure is measured without
	// and with the load, alternately (the load is written and deleted
	// again between rounds), the median kept (5); Duration bounds a
	// throughput measurement (2 s; a connection-rate one is half) and
	// MaxBytes the bytes it sends (16 GiB).
	Rounds   int
	Duration time.Duration
	MaxBytes int64
	// ScaleUnits are the sizes at which the ruleset is measured, in
	// namespaces of 25 endpoints and 25 policies ({10, 20, 40}).
	ScaleUnits []int

	RunID    string
	Etcd     *etcd.Config
	DataDir  string
	Logger   *slog.Logger
	Progress func(msg string)
}

func (o *BenchOptions) defaults() {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.Endpoints, 1000)
	def(&o.Policies, 1000)
	def(&o.SetMembers, 10000)
	def(&o.Changes, 20)
	def(&o.Rounds, 5)
	if o.Duration <= 0 {
		o.Duration = 2 * time.Second
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = 16 << 30
	}
	if len(o.ScaleUnits) == 0 {
		o.ScaleUnits = []int{10, 20, 40}
	}
}

// Ratio is a figure measured without and with policy in the same run:
// the medians of the rounds, and the rounds.
type Ratio struct {
	Baseline, WithPolicy             float64
	BaselineRounds, WithPolicyRounds []float64
}

// Value returns WithPolicy / Baseline.
func (r Ratio) Value() float64 { return r.WithPolicy / r.Baseline }

// RulesetPoint is the size of one host's table at one scale.
type RulesetPoint struct {
	Namespaces, Endpoints, Policies int
	// Applications is the number of (endpoint, policy) pairs where the
	// policy applies to the endpoint.
	Applications int
	nft.Stats
}

// BenchReport holds the figures of a benchmark run.
type BenchReport struct {
	Options BenchOptions
	// Throughput is in bytes per second, ConnectionRate in connections per
	// second, each the median of the rounds.
	Throughput, ConnectionRate Ratio
	// Loaded is the size of the server host's table with the policies.
	Loaded nft.Stats
	// LoadTime is from the first write of the load to its enforcement on
	// every host, in the first round.
	LoadTime time.Duration
	// Enforce are the times from a policy change's datastore write to its
	// effect on the packets, sorted; EnforceDeny and EnforceAllow the same
	// for the changes that denied and allowed, in the order made.
	Enforce                   []time.Duration
	EnforceDeny, EnforceAllow []time.Duration
	// Ruleset is the table of the scale host at each of ScaleUnits.
	Ruleset []RulesetPoint
	Elapsed time.Duration
}

// The benchmark's workloads: a client on bench-1, the server on bench-2,
// the endpoints that only load the server's host on bench-2 too, and the
// scale measurements on bench-3.
const (
	benchNS        = "bench"
	throughputPort = 5201
	benchPort      = 80
)

var (
	benchClient = lab.WorkloadRef{Namespace: benchNS, Name: "client"}
	benchServer = lab.WorkloadRef{Namespace: benchNS, Name: "server"}
)

func benchTopology() *lab.Topology {
	ports := []lab.Port{{Port: benchPort, Protocol: lab.TCP}}
	return &lab.Topology{Hosts: []lab.Host{
		{Name: "bench-1", Workloads: []lab.Workload{{Namespace: benchNS, Name: "client", Labels: map[string]string{"role": "client"}, IPs: []string{"10.201.0.1"}, Ports: ports}}},
		{Name: "bench-2", Workloads: []lab.Workload{{Namespace: benchNS, Name: "server", Labels: map[string]string{"role": "server"}, IPs: []string{"10.201.0.2"}, Ports: ports}}},
		{Name: "bench-3"},
	}}
}

// Bench builds a three-host lab and measures, in one run: TCP throughput
// and connection-setup rate between two workloads on different hosts
// without policy, then with opts.Policies policies and opts.SetMembers
// network-set members programmed (the ratios are the figures); the time
// from a policy change's datastore write to its effect on the packets
// with opts.Endpoints endpoints programmed; and the size of a host's table
// as namespaces of endpoints and policies are added. It removes the lab
// before returning.
func Bench(ctx context.Context, opts BenchOptions) (rep *BenchReport, err error) {
	opts.defaults()
	start := time.Now()
	progress := func(format string, args ...any) {
		if opts.Progress != nil {
			opts.Progress(fmt.Sprintf(format, args...))
		}
	}
	l, err := Up(ctx, benchTopology(), Options{RunID: opts.RunID, Etcd: opts.Etcd, DataDir: opts.DataDir, Logger: opts.Logger, Progress: opts.Progress})
	if err != nil {
		return nil, err
	}
	defer func() {
		if derr := l.Down(); derr != nil && err == nil {
			err = derr
		}
	}()
	client, _ := l.fabric.Workload(benchClient)
	server, _ := l.fabric.Workload(benchServer)
	rep = &BenchReport{Options: opts}

	// Rounds alternate between no policy and the load, so that a machine
	// whose speed drifts during the run biases neither side.
	load, err := benchLoad(opts)
	if err != nil {
		return nil, err
	}
	keys := make([]v3.Key, len(load))
	for i, o := range load {
		keys[len(load)-1-i] = v3.KeyOf(o)
	}
	var thr, conn [2][]float64
	for round := range opts.Rounds {
		progress("round %d of %d: traffic without policy (%v)", round+1, opts.Rounds, opts.Duration*3/2)
		t, c, err := traffic(ctx, l, opts, client, server)
		if err != nil {
			return nil, err
		}
		thr[0], conn[0] = append(thr[0], t), append(conn[0], c)

		progress("round %d of %d: loading %d policies, %d set members and %d endpoints", round+1, opts.Rounds, opts.Policies, opts.SetMembers, opts.Endpoints)
		loadStart := time.Now()
		if err := l.ApplyAll(ctx, load); err != nil {
			return nil, err
		}
		if _, err := l.WaitProgrammed(ctx); err != nil {
			return nil, err
		}
		if round == 0 {
			rep.LoadTime = time.Since(loadStart)
			rep.Loaded, _ = l.Ruleset("bench-2")
			progress("programmed in %v: %d rules, %d set elements on the server's host", rep.LoadTime.Round(time.Millisecond), rep.Loaded.Rules, rep.Loaded.Elements)
		}
		if r := l.fabric.Probe(ctx, benchClient, server.IPs[0], lab.TCP, benchPort, time.Second); !r.Connected {
			return nil, fmt.Errorf("testbed: bench: the policies should allow the client: %v", r)
		}
		progress("round %d of %d: traffic with the load (%v)", round+1, opts.Rounds, opts.Duration*3/2)
		if t, c, err = traffic(ctx, l, opts, client, server); err != nil {
			return nil, err
		}
		thr[1], conn[1] = append(thr[1], t), append(conn[1], c)
		if round == opts.Rounds-1 {
			break
		}
		if err := l.DeleteAll(ctx, keys); err != nil {
			return nil, err
		}
		if _, err := l.WaitProgrammed(ctx); err != nil {
			return nil, err
		}
	}
	rep.Throughput = newRatio(thr[0], thr[1])
	rep.ConnectionRate = newRatio(conn[0], conn[1])

	progress("timing %d policy changes from the datastore to the packets", opts.Changes)
	if rep.EnforceDeny, rep.EnforceAllow, err = timeChanges(ctx, l, opts.Changes, server.IPs[0]); err != nil {
		return nil, err
	}
	rep.Enforce = slices.Sorted(slices.Values(slices.Concat(rep.EnforceDeny, rep.EnforceAllow)))

	for i, n := range opts.ScaleUnits {
		from := 0
		if i > 0 {
			from = opts.ScaleUnits[i-1]
		}
		progress("measuring the ruleset at %d namespaces (%d endpoints, %d policies)", n, 25*n, 25*n)
		unit, err := scaleUnits(from, n)
		if err != nil {
			return nil, err
		}
		if err := l.ApplyAll(ctx, unit); err != nil {
			return nil, err
		}
		if _, err := l.WaitProgrammed(ctx); err != nil {
			return nil, err
		}
		st, ok := l.Ruleset("bench-3")
		if !ok {
			return nil, fmt.Errorf("testbed: bench: bench-3 has programmed nothing")
		}
		rep.Ruleset = append(rep.Ruleset, RulesetPoint{Namespaces: n, Endpoints: 25 * n, Policies: 25 * n, Applications: 125 * n, Stats: st})
	}
	rep.Elapsed = time.Since(start)
	return rep, nil
}

// traffic measures throughput (for opts.Duration) and connection rate
// (for half of it) from client to server once, starting from empty
// conntrack tables so that no round inherits the connections of another.
func traffic(ctx context.Context, l *Lab, opts BenchOptions, client, server lab.WorkloadInfo) (bytesPerSec, connPerSec float64, err error) {
	if err := l.FlushConntrack(); err != nil {
		return 0, 0, err
	}
	t, err := throughput(ctx, client, server, throughputPort, opts.MaxBytes, opts.Duration)
	if err != nil {
		return 0, 0, fmt.Errorf("testbed: bench: throughput: %w", err)
	}
	c, err := connectionRate(ctx, client, netip.AddrPortFrom(server.IPs[0], benchPort), opts.Duration/2, 2)
	if err != nil {
		return 0, 0, fmt.Errorf("testbed: bench: connection rate: %w", err)
	}
	return t, c, nil
}

func newRatio(base, with []float64) Ratio {
	return Ratio{Baseline: median(base), WithPolicy: median(with), BaselineRounds: base, WithPolicyRounds: with}
}

func median(xs []float64) float64 {
	s := slices.Sorted(slices.Values(xs))
	return s[len(s)/2]
}

// durations prints durations in milliseconds.
func durations(ds []time.Duration) string {
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = fmt.Sprintf("%.1f", float64(d)/float64(time.Millisecond))
	}
	return strings.Join(parts, " ")
}

// rounds prints the rounds' values, scaled.
func rounds(xs []float64, scale float64, format string) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = fmt.Sprintf(format, x*scale)
	}
	return strings.Join(parts, " ")
}

// benchLoad returns the policy load: network sets, the endpoints that
// share the server's host, the policies (each applying to the server and
// to a hundredth of the other endpoints, with a rule selecting one set,
// on a port the client never uses) and the policy that lets the client
// in, last. Every set is selected by some rule.
func benchLoad(opts BenchOptions) ([]v3.Object, error) {
	// 100 sets, or one per policy if there are fewer, so that every
	// member is in a set a rule selects.
	sets := min(100, opts.Policies)
	var objs []v3.Object
	perSet := opts.SetMembers / sets
	for s := range sets {
		gns := &v3.GlobalNetworkSet{
			TypeMeta:   metav1.TypeMeta{APIVersion: v3.APIVersion, Kind: v3.KindGlobalNetworkSet},
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("bench-s%02d", s), Labels: map[string]string{"set": fmt.Sprintf("s%02d", s)}},
		}
		for j := range perSet {
			// Every other address, so that no two members merge into
			// one interval of the kernel's set.
			n := 2 * (s*perSet + j)
			gns.Spec.Nets = append(gns.Spec.Nets, fmt.Sprintf("10.%d.%d.%d/32", 210+n>>16, n>>8&0xff, n&0xff))
		}
		objs = append(objs, gns)
	}
	for i := range opts.Endpoints {
		w := &lab.Workload{Namespace: benchNS, Name: fmt.Sprintf("filler-%04d", i),
			Labels: map[string]string{"role": "filler", "group": fmt.Sprintf("g%02d", i%sets)}}
		info := lab.WorkloadInfo{Ref: w.Ref(), Host: "bench-2", InterfaceName: fmt.Sprintf("calif%010d", i),
			IPs: []netip.Addr{netip.AddrFrom4([4]byte{10, 202, byte(i / 250), byte(i%250 + 1)})}}
		wep, err := workloadEndpoint("bench-2", w, info)
		if err != nil {
			return nil, err
		}
		objs = append(objs, wep)
	}
	tcp := v3.ProtocolFromString(v3.ProtocolTCP)
	for i := range opts.Policies {
		order := float64(100 + i)
		objs = append(objs, &v3.GlobalNetworkPolicy{
			TypeMeta:   metav1.TypeMeta{APIVersion: v3.APIVersion, Kind: v3.KindGlobalNetworkPolicy},
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("bench-p%04d", i)},
			Spec: v3.GlobalNetworkPolicySpec{
				Order:    &order,
				Selector: fmt.Sprintf("role == 'server' || group == 'g%02d'", i%sets),
				Types:    []v3.PolicyType{v3.PolicyTypeIngress},
				Ingress: []v3.Rule{{
					Action:      v3.Allow,
					Protocol:    &tcp,
					Source:      v3.EntityRule{Selector: fmt.Sprintf("set == 's%02d'", i%sets)},
					Destination: v3.EntityRule{Ports: []v3.Port{v3.SinglePort(10000 + i)}},
				}},
			},
		})
	}
	last := float64(100 + opts.Policies)
	objs = append(objs, &v3.GlobalNetworkPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: v3.APIVersion, Kind: v3.KindGlobalNetworkPolicy},
		ObjectMeta: metav1.ObjectMeta{Name: "bench-allow-client"},
		Spec: v3.GlobalNetworkPolicySpec{
			Order:    &last,
			Selector: "role == 'server'",
			Types:    []v3.PolicyType{v3.PolicyTypeIngress},
			Ingress:  []v3.Rule{{Action: v3.Allow, Protocol: &tcp, Source: v3.EntityRule{Selector: "role == 'client'"}}},
		},
	})
	return objs, nil
}

// denyClient is the policy change timed: first in the server's tier, it
// denies the client.
func denyClient() *v3.GlobalNetworkPolicy {
	first := 1.0
	tcp := v3.ProtocolFromString(v3.ProtocolTCP)
	return &v3.GlobalNetworkPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: v3.APIVersion, Kind: v3.KindGlobalNetworkPolicy},
		ObjectMeta: metav1.ObjectMeta{Name: "bench-deny-client"},
		Spec: v3.GlobalNetworkPolicySpec{
			Order:    &first,
			Selector: "role == 'server'",
			Types:    []v3.PolicyType{v3.PolicyTypeIngress},
			Ingress:  []v3.Rule{{Action: v3.Deny, Protocol: &tcp, Source: v3.EntityRule{Selector: "role == 'client'"}}},
		},
	}
}

// enforceProbe bounds one probe while a change is timed: a denied probe
// costs this much, which is the resolution of the allow measurements.
const enforceProbe = 5 * time.Millisecond

// timeChanges applies and deletes denyClient alternately, n changes in
// all, and returns for each the time from the datastore write to the
// packets: for a deny, to the start of the first probe that did not
// connect (the rule was in force when its SYN left); for an allow, to the
// end of the first that did (within enforceProbe of the change).
func timeChanges(ctx context.Context, l *Lab, n int, server netip.Addr) (deny, allow []time.Duration, err error) {
	pol := denyClient()
	for i := range n {
		start := time.Now()
		if i%2 == 0 {
			_, err = l.Apply(ctx, pol)
		} else {
			err = l.Delete(ctx, v3.KeyOf(pol))
		}
		if err != nil {
			return nil, nil, err
		}
		d, err := untilEnforced(ctx, l, server, i%2 == 1, start)
		if err != nil {
			return nil, nil, err
		}
		if i%2 == 0 {
			deny = append(deny, d)
		} else {
			allow = append(allow, d)
		}
	}
	return deny, allow, nil
}

func untilEnforced(ctx context.Context, l *Lab, server netip.Addr, allowed bool, since time.Time) (time.Duration, error) {
	for time.Since(since) < DefaultSyncTimeout {
		t := time.Now()
		r := l.fabric.Probe(ctx, benchClient, server, lab.TCP, benchPort, enforceProbe)
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		if r.Connected == allowed {
			if allowed {
				return time.Since(since), nil
			}
			return t.Sub(since), nil
		}
	}
	return 0, fmt.Errorf("testbed: bench: the change was not enforced within %v", DefaultSyncTimeout)
}

// scaleUnits returns namespaces from to to-1 of the scale host: each a
// namespace profile, 25 endpoints in 5 groups, and 25 policies, each
// selecting one group (so 5 apply to every endpoint) with an Allow from
// another group on a port and a Deny of UDP from a network.
func scaleUnits(from, to int) ([]v3.Object, error) {
	var objs []v3.Object
	tcp, udp := v3.ProtocolFromString(v3.ProtocolTCP), v3.ProtocolFromString(v3.ProtocolUDP)
	for n := from; n < to; n++ {
		ns := fmt.Sprintf("scale-%02d", n)
		objs = append(objs, k8s.NamespaceProfile(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
		for i := range 25 {
			w := &lab.Workload{Namespace: ns, Name: fmt.Sprintf("ep-%02d", i), Labels: map[string]string{"sgroup": fmt.Sprintf("g%d", i%5)}}
			info := lab.WorkloadInfo{Ref: w.Ref(), Host: "bench-3", InterfaceName: fmt.Sprintf("calis%03d%02d", n, i),
				IPs: []netip.Addr{netip.AddrFrom4([4]byte{10, 203, byte(n), byte(i + 1)})}}
			wep, err := workloadEndpoint("bench-3", w, info)
			if err != nil {
				return nil, err
			}
			objs = append(objs, wep)
		}
		for i := range 25 {
			order := float64(i)
			objs = append(objs, &v3.NetworkPolicy{
				TypeMeta:   metav1.TypeMeta{APIVersion: v3.APIVersion, Kind: v3.KindNetworkPolicy},
				ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("p-%02d", i), Namespace: ns},
				Spec: v3.NetworkPolicySpec{
					Order:    &order,
					Selector: fmt.Sprintf("sgroup == 'g%d'", i%5),
					Types:    []v3.PolicyType{v3.PolicyTypeIngress},
					Ingress: []v3.Rule{
						{Action: v3.Allow, Protocol: &tcp, Source: v3.EntityRule{Selector: fmt.Sprintf("sgroup == 'g%d'", (i+1)%5)},
							Destination: v3.EntityRule{Ports: []v3.Port{v3.SinglePort(20000 + i)}}},
						{Action: v3.Deny, Protocol: &udp, Source: v3.EntityRule{Nets: []string{fmt.Sprintf("10.99.%d.0/24", i)}}},
					},
				},
			})
		}
	}
	return objs, nil
}

// Print writes the report: each figure with what it is measured against.
func (r *BenchReport) Print(w io.Writer) {
	o := r.Options
	fmt.Fprintf(w, "Policy load: %d policies applying to the server, %d set members, %d more endpoints on its host\n",
		o.Policies, o.SetMembers, o.Endpoints)
	fmt.Fprintf(w, "  programmed in %v: %d rules in %d chains, %d sets with %d elements on the server's host\n\n",
		r.LoadTime.Round(time.Millisecond), r.Loaded.Rules, r.Loaded.Chains, r.Loaded.Sets, r.Loaded.Elements)
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "MISSED"
	}
	tr := r.Throughput.Value()
	fmt.Fprintf(w, "TCP throughput, one connection across hosts (median of %d rounds of %v):\n", o.Rounds, o.Duration)
	fmt.Fprintf(w, "  no policy %.2f Gbit/s, with the load %.2f Gbit/s: ratio %.3f (target >= 0.9: %s)\n",
		r.Throughput.Baseline*8/1e9, r.Throughput.WithPolicy*8/1e9, tr, verdict(tr >= 0.9))
	fmt.Fprintf(w, "  rounds in Gbit/s: no policy %s; with the load %s\n",
		rounds(r.Throughput.BaselineRounds, 8/1e9, "%.2f"), rounds(r.Throughput.WithPolicyRounds, 8/1e9, "%.2f"))
	fmt.Fprintf(w, "Connection setup, new TCP connections across hosts (2 threads, median of %d rounds of %v):\n", o.Rounds, o.Duration/2)
	fmt.Fprintf(w, "  no policy %.0f/s, with the load %.0f/s: ratio %.3f (every SYN passes the %d policies of the server)\n",
		r.ConnectionRate.Baseline, r.ConnectionRate.WithPolicy, r.ConnectionRate.Value(), o.Policies)
	fmt.Fprintf(w, "  rounds per second: no policy %s; with the load %s\n",
		rounds(r.ConnectionRate.BaselineRounds, 1, "%.0f"), rounds(r.ConnectionRate.WithPolicyRounds, 1, "%.0f"))
	if n := len(r.Enforce); n > 0 {
		fmt.Fprintf(w, "Policy change to packets, %d changes with %d endpoints programmed (probes every %v):\n", n, o.Endpoints+1, enforceProbe)
		fmt.Fprintf(w, "  p50 %v, p99 %v, min %v, max %v\n", percentile(r.Enforce, 50), percentile(r.Enforce, 99),
			r.Enforce[0].Round(time.Microsecond*100), r.Enforce[n-1].Round(time.Microsecond*100))
		fmt.Fprintf(w, "  in order, ms: deny %s; allow %s\n", durations(r.EnforceDeny), durations(r.EnforceAllow))
	}
	if len(r.Ruleset) > 0 {
		fmt.Fprintln(w, "Ruleset of one host as namespaces (25 endpoints, 25 policies of 2 rules, 5 policies per endpoint) are added:")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "  namespaces\tendpoints\tpolicies\tapplications\tendpoints×policies\trules\tset elements\trules/namespace\tgrowth\t")
		first := r.Ruleset[0]
		for _, p := range r.Ruleset {
			fmt.Fprintf(tw, "  %d\t%d\t%d\t%d\t%d\t%d\t%d\t%.1f\t%.2fx\t\n", p.Namespaces, p.Endpoints, p.Policies, p.Applications,
				p.Endpoints*p.Policies, p.Rules, p.Elements, float64(p.Rules)/float64(p.Namespaces), float64(p.Rules)/float64(first.Rules))
		}
		tw.Flush()
		last := r.Ruleset[len(r.Ruleset)-1]
		k := float64(last.Namespaces) / float64(first.Namespaces)
		fmt.Fprintf(w, "  %.0fx the namespaces: %.2fx the rules (linear: %.0fx; as endpoints×policies: %.0fx)\n",
			k, float64(last.Rules)/float64(first.Rules), k, k*k)
	}
	fmt.Fprintf(w, "\nbench took %v\n", r.Elapsed.Round(time.Millisecond))
}

// percentile returns the p-th percentile of sorted xs (nearest rank).
func percentile(xs []time.Duration, p int) time.Duration {
	i := (p*len(xs) + 99) / 100
	return xs[max(i-1, 0)].Round(100 * time.Microsecond)
}
