package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tabby-project/tabby/dataplane/nft"
)

// DefaultMetricsAddr is where tabby-node serves /metrics unless told
// otherwise: Felix's metrics port, on loopback only.
const DefaultMetricsAddr = "127.0.0.1:9091"

// countersTimeout bounds the reading of the nftables counters of one
// scrape.
const countersTimeout = 5 * time.Second

// metrics are the agent's Prometheus metrics:
//
//	tabby_agent_rules_programmed            gauge      rules in Tabby's nftables table
//	tabby_agent_update_latency_seconds      histogram  watch event received → programmed
//	tabby_agent_datastore_connected         gauge      1 while the datastore answers
//	tabby_agent_resyncs_total               counter    full re-lists after a watch error or compaction
//	tabby_agent_syncs_total                 counter    successful dataplane syncs
//	tabby_agent_sync_errors_total           counter    failed dataplane syncs
//	tabby_policy_evaluated_packets_total    counter    packets endpoint chains sent to the policy
//	tabby_policy_evaluated_bytes_total      counter    their bytes
//	tabby_policy_matched_packets_total      counter    packets one of the policy's rules matched
//	tabby_policy_matched_bytes_total        counter    their bytes
//
// The tabby_policy_ families carry the labels kind, namespace and name of
// the policy and are read from the nftables counters at each scrape (see
// nft.ByPolicy). Like the kernel counters they come from, they restart
// from zero when a policy's chains are rewritten (an edit of the policy),
// which Prometheus's rate() treats as a counter reset.
type metrics struct {
	rules      prometheus.Gauge
	latency    prometheus.Histogram
	connected  prometheus.Gauge
	resyncs    prometheus.Counter
	syncs      prometheus.Counter
	syncErrors prometheus.Counter
	policies   *policyCollector
}

func newMetrics(a *Agent) *metrics {
	return &metrics{
		rules: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tabby_agent_rules_programmed",
			Help: "Number of nftables rules in Tabby's table.",
		}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "tabby_agent_update_latency_seconds",
			Help:    "Time from a datastore watch event reaching the agent to its change being programmed in nftables.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 15),
		}),
		connected: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tabby_agent_datastore_connected",
			Help: "1 while the datastore answers, 0 while it does not.",
		}),
		resyncs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tabby_agent_resyncs_total",
			Help: "Full resynchronisations from a datastore list after a watch error, a compaction or an outage.",
		}),
		syncs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tabby_agent_syncs_total",
			Help: "Successful nftables syncs.",
		}),
		syncErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tabby_agent_sync_errors_total",
			Help: "Failed nftables syncs (retried).",
		}),
		policies: newPolicyCollector(a),
	}
}

func (m *metrics) register(r prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{m.rules, m.latency, m.connected, m.resyncs, m.syncs, m.syncErrors, m.policies} {
		if err := r.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// policyCollector reads the per-policy counters from the dataplane when
// scraped.
type policyCollector struct {
	a                            *Agent
	evalPackets, evalBytes       *prometheus.Desc
	matchedPackets, matchedBytes *prometheus.Desc
}

func newPolicyCollector(a *Agent) *policyCollector {
	labels := []string{"kind", "namespace", "name"}
	desc := func(name, help string) *prometheus.Desc { return prometheus.NewDesc(name, help, labels, nil) }
	return &policyCollector{
		a:              a,
		evalPackets:    desc("tabby_policy_evaluated_packets_total", "Packets endpoint chains sent to the policy (nftables counters)."),
		evalBytes:      desc("tabby_policy_evaluated_bytes_total", "Bytes of the packets endpoint chains sent to the policy (nftables counters)."),
		matchedPackets: desc("tabby_policy_matched_packets_total", "Packets one of the policy's rules matched (nftables counters)."),
		matchedBytes:   desc("tabby_policy_matched_bytes_total", "Bytes of the packets one of the policy's rules matched (nftables counters)."),
	}
}

// Describe implements prometheus.Collector.
func (c *policyCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.evalPackets
	ch <- c.evalBytes
	ch <- c.matchedPackets
	ch <- c.matchedBytes
}

// Collect implements prometheus.Collector. Before anything is programmed
// there is nothing to report; a failure to read the counters is logged and
// leaves the families out of this scrape.
func (c *policyCollector) Collect(ch chan<- prometheus.Metric) {
	dp := c.a.dataplane()
	if dp == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), countersTimeout)
	defer cancel()
	cs, err := dp.Counters(ctx)
	if err != nil {
		if !errors.Is(err, nft.ErrNotProgrammed) {
			c.a.log.Warn("reading nftables counters", "error", err)
		}
		return
	}
	for key, pc := range nft.ByPolicy(cs) {
		lv := []string{key.Kind, key.Namespace, key.Name}
		ch <- prometheus.MustNewConstMetric(c.evalPackets, prometheus.CounterValue, float64(pc.Evaluated.Packets), lv...)
		ch <- prometheus.MustNewConstMetric(c.evalBytes, prometheus.CounterValue, float64(pc.Evaluated.Bytes), lv...)
		ch <- prometheus.MustNewConstMetric(c.matchedPackets, prometheus.CounterValue, float64(pc.Matched.Packets), lv...)
		ch <- prometheus.MustNewConstMetric(c.matchedBytes, prometheus.CounterValue, float64(pc.Matched.Bytes), lv...)
	}
}

// Handler returns an HTTP handler serving the metrics of g on /metrics in
// the Prometheus exposition format.
func Handler(g prometheus.Gatherer) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}))
	return mux
}

// ServeMetrics serves Handler(g) on addr (host:port; DefaultMetricsAddr
// when empty) until ctx is done. It returns an error if it cannot listen,
// nil after ctx ends.
func ServeMetrics(ctx context.Context, addr string, g prometheus.Gatherer) error {
	if addr == "" {
		addr = DefaultMetricsAddr
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("agent: serve metrics: %w", err)
	}
	srv := &http.Server{Handler: Handler(g), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("agent: serve metrics on %s: %w", addr, err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("agent: stop serving metrics: %w", err)
	}
	return nil
}
