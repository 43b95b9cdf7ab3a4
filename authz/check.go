package authz

import (
	"time"

	v3 "github.com/tabby-project/tabby/api/v3"
)

// The front ends, as metrics and flow logs name them.
const (
	frontendGRPC = "grpc"
	frontendHTTP = "http"
)

// check decides r for a front end and records the metrics and, for a
// denial, the flow log. malformed, when not empty, is why the front end
// could not build r: the request is denied for it without asking policy.
func (a *Authorizer) check(frontend string, r Request, malformed string) Decision {
	start := time.Now()
	var d Decision
	if malformed != "" {
		d = Decision{Reason: "malformed request: " + malformed, Cause: causeMalformed}
	} else {
		d = a.Decide(r)
	}
	a.metrics.latency.WithLabelValues(frontend).Observe(time.Since(start).Seconds())
	a.metrics.checks.WithLabelValues(frontend).Inc()
	if d.Allowed {
		a.metrics.allowed.WithLabelValues(frontend).Inc()
		return d
	}
	a.metrics.denied.WithLabelValues(frontend, d.Cause).Inc()
	if a.flow != nil {
		fl := &FlowLog{
			Time:        start.UTC(),
			Frontend:    frontend,
			Principal:   r.Principal,
			SourceAddr:  portString(r.Source),
			DestAddr:    portString(r.Destination),
			Destination: a.cfg.Destination.String(),
			Method:      r.Method,
			Path:        r.Path,
			Action:      "deny",
			Cause:       d.Cause,
			Reason:      d.Reason,
			Rule:        -1,
		}
		if in := d.Result.Ingress; in.Verdict != "" {
			fl.Tier, fl.Profile, fl.Rule = in.Tier, in.Profile, in.Rule
			if in.Policy != (v3.Key{}) {
				fl.Policy, fl.Kind = nsName(in.Policy), in.Policy.Kind
			}
		}
		if err := a.flow.write(fl); err != nil {
			a.log.Error("authz: writing a flow log line failed", "error", err)
		}
	}
	return d
}
