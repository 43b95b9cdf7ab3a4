package agent

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	v3 "github.com/tabby-project/tabby/api/v3"
	"github.com/tabby-project/tabby/datastore"
)

// DefaultLogGroup is the nflog group tabby-node's Log rules send packets
// to unless TABBY_NFLOG_GROUP says otherwise.
const DefaultLogGroup = 20

// ErrEnv is wrapped by the errors FromEnv returns for a variable it cannot
// read.
var ErrEnv = errors.New("agent: invalid environment variable")

// Env is the agent configuration tabby-node reads from its environment,
// as calico-node does.
type Env struct {
	// NodeName is NODENAME, else HOSTNAME, else the kernel's host name,
	// lower-cased.
	NodeName string
	// Felix holds the FELIX_<FIELD> settings; they override the
	// datastore's FelixConfiguration.
	Felix v3.FelixConfigurationSpec
	// WorkloadInterfacePrefixes is FELIX_INTERFACEPREFIX split at commas
	// (nil: the dataplane's default, cali).
	WorkloadInterfacePrefixes []string
	// MetricsAddr is where to serve /metrics: FELIX_PROMETHEUSMETRICSHOST
	// (default 127.0.0.1) and FELIX_PROMETHEUSMETRICSPORT (default 9091);
	// empty when FELIX_PROMETHEUSMETRICSENABLED is false.
	MetricsAddr string
	// LogGroup is TABBY_NFLOG_GROUP (default DefaultLogGroup), the nflog
	// group of Log rules and flow logs; 0 sends logs to the kernel log and
	// disables flow logs.
	LogGroup uint16
	// FlowLogFile is TABBY_FLOW_LOG_FILE: where flow log lines go, "-"
	// (the default) for standard output; "none" gives "", no flow logs.
	FlowLogFile string
	// ReadyFile is TABBY_READY_FILE: created once policy is programmed.
	ReadyFile string
}

// FromEnv reads the agent's settings from the environment through getenv
// (os.Getenv in tabby-node; tests pass a map's lookup):
//
//	NODENAME                          node name (else HOSTNAME, else the host name)
//	FELIX_FAILSAFEINBOUNDHOSTPORTS    "tcp:22,udp:68,tcp:10.0.0.0/8:2379,..." or "none"
//	FELIX_FAILSAFEOUTBOUNDHOSTPORTS   likewise
//	FELIX_DEFAULTENDPOINTTOHOSTACTION Drop, Accept or Return (any case)
//	FELIX_DROPACTIONOVERRIDE          Drop, Accept, LogAndDrop or LogAndAccept (any case)
//	FELIX_LOGPREFIX                   prefix of log lines (default calico-packet)
//	FELIX_INTERFACEPREFIX             workload interface prefixes (default cali)
//	FELIX_PROMETHEUSMETRICSENABLED    true (default) or false
//	FELIX_PROMETHEUSMETRICSHOST       default 127.0.0.1
//	FELIX_PROMETHEUSMETRICSPORT       default 9091
//	TABBY_NFLOG_GROUP                 default 20; 0 disables flow logs
//	TABBY_FLOW_LOG_FILE               default "-" (standard output); "none" disables flow logs
//	TABBY_READY_FILE                  default none
//
// Felix serves metrics only when asked and on every interface; tabby-node
// serves them by default, on loopback only.
func FromEnv(getenv func(string) string) (Env, error) {
	var e Env
	var errs []error
	bad := func(name, value, why string) {
		errs = append(errs, fmt.Errorf("%w: %s=%q: %s", ErrEnv, name, value, why))
	}
	e.NodeName = strings.ToLower(strings.TrimSpace(getenv("NODENAME")))
	if e.NodeName == "" {
		e.NodeName = strings.ToLower(strings.TrimSpace(getenv("HOSTNAME")))
	}
	if e.NodeName == "" {
		h, err := os.Hostname()
		if err != nil {
			errs = append(errs, fmt.Errorf("agent: node name: NODENAME is not set and the host name is unknown: %w", err))
		}
		e.NodeName = strings.ToLower(h)
	}

	for _, f := range []struct {
		name string
		dst  **[]v3.ProtoPort
	}{
		{"FELIX_FAILSAFEINBOUNDHOSTPORTS", &e.Felix.FailsafeInboundHostPorts},
		{"FELIX_FAILSAFEOUTBOUNDHOSTPORTS", &e.Felix.FailsafeOutboundHostPorts},
	} {
		if v, ok := lookup(getenv, f.name); ok {
			ports, err := parsePortList(v)
			if err != nil {
				bad(f.name, v, err.Error())
				continue
			}
			*f.dst = &ports
		}
	}
	for _, f := range []struct {
		name  string
		dst   *string
		allow []string
	}{
		{"FELIX_DEFAULTENDPOINTTOHOSTACTION", &e.Felix.DefaultEndpointToHostAction, []string{"Drop", "Accept", "Return"}},
		{"FELIX_DROPACTIONOVERRIDE", &e.Felix.DropActionOverride, []string{"Drop", "Accept", "LogAndDrop", "LogAndAccept"}},
	} {
		v, ok := lookup(getenv, f.name)
		if !ok {
			continue
		}
		i := slices.IndexFunc(f.allow, func(a string) bool { return strings.EqualFold(a, v) })
		if i < 0 {
			bad(f.name, v, "want one of "+strings.Join(f.allow, ", "))
			continue
		}
		*f.dst = f.allow[i]
	}
	if v, ok := lookup(getenv, "FELIX_LOGPREFIX"); ok {
		e.Felix.LogPrefix = v
	}
	if v, ok := lookup(getenv, "FELIX_INTERFACEPREFIX"); ok {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				e.WorkloadInterfacePrefixes = append(e.WorkloadInterfacePrefixes, p)
			}
		}
	}

	enabled := true
	if v, ok := lookup(getenv, "FELIX_PROMETHEUSMETRICSENABLED"); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			bad("FELIX_PROMETHEUSMETRICSENABLED", v, "want true or false")
		}
		enabled = b
	}
	host, port := "127.0.0.1", "9091"
	if v, ok := lookup(getenv, "FELIX_PROMETHEUSMETRICSHOST"); ok {
		host = v
	}
	if v, ok := lookup(getenv, "FELIX_PROMETHEUSMETRICSPORT"); ok {
		if n, err := strconv.ParseUint(v, 10, 16); err != nil || n == 0 {
			bad("FELIX_PROMETHEUSMETRICSPORT", v, "want a port number")
		}
		port = v
	}
	if enabled {
		e.MetricsAddr = net.JoinHostPort(strings.Trim(host, "[]"), port)
	}

	e.LogGroup = DefaultLogGroup
	if v, ok := lookup(getenv, "TABBY_NFLOG_GROUP"); ok {
		n, err := strconv.ParseUint(v, 10, 16)
		if err != nil {
			bad("TABBY_NFLOG_GROUP", v, "want a number from 0 to 65535")
		}
		e.LogGroup = uint16(n)
	}
	e.FlowLogFile = "-"
	if v, ok := lookup(getenv, "TABBY_FLOW_LOG_FILE"); ok {
		e.FlowLogFile = v
		if strings.EqualFold(v, "none") {
			e.FlowLogFile = ""
		}
	}
	e.ReadyFile, _ = lookup(getenv, "TABBY_READY_FILE")
	if len(errs) > 0 {
		return Env{}, errors.Join(errs...)
	}
	return e, nil
}

// Config returns the agent Config of these settings, with the given store,
// metrics registerer (nil: none), flow log writer (nil: no flow logs) and
// logger. tabby-node's default mode is then:
//
//	env, err := agent.FromEnv(os.Getenv)
//	// open the datastore (DATASTORE_TYPE, ETCD_ENDPOINTS, ...) as store
//	reg := prometheus.NewRegistry()
//	flow, err := env.OpenFlowLog()           // nil when disabled
//	a, err := agent.New(env.Config(store, reg, flow, logger))
//	if env.MetricsAddr != "" {
//		go agent.ServeMetrics(ctx, env.MetricsAddr, reg)
//	}
//	return a.Run(ctx)
func (e Env) Config(store datastore.Store, reg prometheus.Registerer, flowLog io.Writer, logger *slog.Logger) Config {
	c := Config{
		NodeName:   e.NodeName,
		Store:      store,
		Registerer: reg,
		Logger:     logger,
		ReadyFile:  e.ReadyFile,
	}
	felix := e.Felix
	c.Felix = &felix
	c.DataplaneConfig.LogGroup = e.LogGroup
	c.DataplaneConfig.WorkloadInterfacePrefixes = e.WorkloadInterfacePrefixes
	if e.LogGroup != 0 {
		c.FlowLog = flowLog
	}
	return c
}

// OpenFlowLog opens FlowLogFile for appending: standard output for "-",
// nil (no flow logs) for "" or when LogGroup is 0. The caller closes a
// file it gets.
func (e Env) OpenFlowLog() (io.Writer, error) {
	switch {
	case e.LogGroup == 0 || e.FlowLogFile == "":
		return nil, nil
	case e.FlowLogFile == "-":
		return os.Stdout, nil
	}
	f, err := os.OpenFile(e.FlowLogFile, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("agent: open flow log: %w", err)
	}
	return f, nil
}

// parsePortList reads Felix's port list syntax: comma-separated
// [<protocol>:][<net>:]<port> entries (protocol tcp, udp or sctp, default
// tcp; an IPv6 net may be bracketed), or "none" for an empty list.
func parsePortList(s string) ([]v3.ProtoPort, error) {
	out := []v3.ProtoPort{}
	if strings.EqualFold(strings.TrimSpace(s), "none") {
		return out, nil
	}
	for _, entry := range strings.Split(s, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		pp := v3.ProtoPort{Protocol: "TCP"}
		rest := entry
		if proto, after, ok := strings.Cut(rest, ":"); ok {
			switch p := strings.ToUpper(proto); p {
			case "TCP", "UDP", "SCTP":
				pp.Protocol, rest = p, after
			}
		}
		portStr := rest
		if i := strings.LastIndex(rest, ":"); i >= 0 {
			pp.Net = strings.NewReplacer("[", "", "]", "").Replace(rest[:i])
			portStr = rest[i+1:]
		}
		port, err := strconv.ParseUint(portStr, 10, 16)
		if err != nil {
			return nil, fmt.Errorf("entry %q: port %q is not a number from 0 to 65535", entry, portStr)
		}
		pp.Port = uint16(port)
		out = append(out, pp)
	}
	return out, nil
}

// lookup returns a variable's value and whether it is set to something
// other than blanks.
func lookup(getenv func(string) string, name string) (string, bool) {
	v := strings.TrimSpace(getenv(name))
	return v, v != ""
}
