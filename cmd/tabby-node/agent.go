package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/tabby-project/tabby/agent"
	"github.com/tabby-project/tabby/datastore/etcd"
	"github.com/tabby-project/tabby/datastore/etcd/embedded"
)

// agentOptions are the flags of the agent mode, the root command.
type agentOptions struct {
	dataDir string
}

// etcdFromEnv reads the datastore settings calico-node reads
// (etcd.ConfigFromEnv) and reports whether an external etcd is configured;
// without one the agent embeds its own.
func etcdFromEnv(getenv func(string) string) (etcd.Config, bool, error) {
	cfg, err := etcd.ConfigFromEnv(getenv)
	return cfg, len(cfg.Endpoints) > 0, err
}

// runAgent runs the host agent until ctx is done: the datastore (the
// external etcd, or an embedded one), the agent's loop, its metrics and
// its flow logs.
func runAgent(ctx context.Context, e env, o agentOptions) error {
	fail := func(format string, args ...any) error {
		fmt.Fprintf(e.stderr, "tabby-node: "+format+"\n", args...)
		return &exitError{code: 1}
	}
	env, err := agent.FromEnv(e.getenv)
	if err != nil {
		return fail("%v", err)
	}
	cfg, external, err := etcdFromEnv(e.getenv)
	if err != nil {
		return fail("%v", err)
	}
	if !external {
		srv, err := embedded.Start(ctx, embedded.Config{Dir: o.dataDir})
		if err != nil {
			return fail("start the embedded datastore: %v", err)
		}
		defer srv.Close()
		cfg.Endpoints = srv.Endpoints()
		fmt.Fprintf(e.stdout, "tabby-node: no ETCD_ENDPOINTS: serving the embedded datastore on %s with data in %s\n",
			strings.Join(cfg.Endpoints, ","), o.dataDir)
	}
	store, err := etcd.Open(ctx, cfg)
	if err != nil {
		return fail("open the datastore %s: %v", strings.Join(cfg.Endpoints, ","), err)
	}
	defer store.Close()

	flow, err := env.OpenFlowLog()
	if err != nil {
		return fail("%v", err)
	}
	if f, ok := flow.(*os.File); ok && f != os.Stdout {
		defer f.Close()
	}
	reg := prometheus.NewRegistry()
	logger := slog.New(slog.NewTextHandler(e.stderr, nil))
	if addr := uiAddr(e.getenv); addr != "" {
		u, err := newUI(store)
		if err != nil {
			return fail("%v", err)
		}
		flow = u.flowLog(flow)
		u.serve(ctx, addr, logger)
		fmt.Fprintf(e.stdout, "tabby-node: web view and flow API on http://%s\n", addr)
	}
	a, err := agent.New(env.Config(store, reg, flow, logger))
	if err != nil {
		return fail("%v", err)
	}
	if env.MetricsAddr != "" {
		go func() {
			if err := agent.ServeMetrics(ctx, env.MetricsAddr, reg); err != nil && !errors.Is(err, context.Canceled) {
				logger.Error("metrics server stopped", "addr", env.MetricsAddr, "error", err)
			}
		}()
	}
	fmt.Fprintf(e.stdout, "tabby-node: enforcing policy for node %q\n", env.NodeName)
	if err := a.Run(ctx); err != nil {
		return fail("%v", err)
	}
	fmt.Fprintln(e.stdout, "tabby-node: stopping; the programmed rules stay in place")
	return nil
}

// addAgentFlags registers the agent mode's flags on the root command.
func addAgentFlags(cmd *cobra.Command, o *agentOptions) {
	cmd.Flags().StringVar(&o.dataDir, "data-dir", defaultDataDir,
		"directory of the embedded datastore, used when ETCD_ENDPOINTS is not set")
}
