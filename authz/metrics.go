package authz

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the authorizer's Prometheus metrics:
//
//	tabby_authz_checks_total{frontend}            counter    requests decided
//	tabby_authz_allowed_total{frontend}           counter    requests allowed
//	tabby_authz_denied_total{frontend,cause}      counter    requests denied, by Decision.Cause
//	tabby_authz_check_duration_seconds{frontend}  histogram  time to decide one request
//	tabby_authz_datastore_connected               gauge      1 while the last list or watch worked
//	tabby_authz_resyncs_total                     counter    full re-lists after the first
//
// frontend is "grpc" (Envoy ext_authz) or "http" (forward auth).
type metrics struct {
	checks    *prometheus.CounterVec
	allowed   *prometheus.CounterVec
	denied    *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	connected prometheus.Gauge
	resyncs   prometheus.Counter
}

func newMetrics() *metrics {
	return &metrics{
		checks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tabby_authz_checks_total",
			Help: "Authorization checks decided.",
		}, []string{"frontend"}),
		allowed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tabby_authz_allowed_total",
			Help: "Authorization checks allowed.",
		}, []string{"frontend"}),
		denied: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tabby_authz_denied_total",
			Help: "Authorization checks denied, by cause (rule, end-of-tier, profile, default-deny, malformed, not-ready, no-destination).",
		}, []string{"frontend", "cause"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "tabby_authz_check_duration_seconds",
			Help:    "Time to decide one authorization check.",
			Buckets: prometheus.ExponentialBuckets(1e-6, 4, 12),
		}, []string{"frontend"}),
		connected: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tabby_authz_datastore_connected",
			Help: "1 while the datastore list or watch works, 0 after it failed.",
		}),
		resyncs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tabby_authz_resyncs_total",
			Help: "Full resynchronisations from a datastore list after a watch error or compaction.",
		}),
	}
}

func (m *metrics) register(r prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{m.checks, m.allowed, m.denied, m.latency, m.connected, m.resyncs} {
		if err := r.Register(c); err != nil {
			return fmt.Errorf("register authz metric: %w", err)
		}
	}
	return nil
}
