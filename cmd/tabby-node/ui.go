package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/tabby-project/tabby/datastore"
	"github.com/tabby-project/tabby/flows"
	"github.com/tabby-project/tabby/flows/web"
)

// The local web view and flow API (package flows, package web):
//
//	nflog ──agent──► flow log lines ──┬──► TABBY_FLOW_LOG_FILE (standard output by default)
//	                                  └──► flows.Aggregator ──► http://TABBY_UI_ADDR/api/flows, /flows
//	datastore ──List (at most every modelTTL)──► analysis model ──► /endpoints, /matrix, /trace
//
// TABBY_UI_ADDR is where they are served: flows.DefaultAddr (loopback)
// unless set; "none" turns them off. The aggregator is fed only while the
// agent writes flow logs (TABBY_NFLOG_GROUP not 0 and TABBY_FLOW_LOG_FILE
// not none).
const uiAddrEnv = "TABBY_UI_ADDR"

// modelTTL bounds how stale a page's view of the datastore may be;
// modelRefresh is how often the model naming the flows' endpoints is
// reloaded when no page asks for it.
const (
	modelTTL     = 5 * time.Second
	modelRefresh = time.Minute
)

// ui is the web view of one tabby-node.
type ui struct {
	flows   *flows.Aggregator
	models  *web.ModelCache
	handler http.Handler
}

// uiAddr reads TABBY_UI_ADDR: the address to serve on, "" when turned off.
func uiAddr(getenv func(string) string) string {
	v := strings.TrimSpace(getenv(uiAddrEnv))
	switch {
	case v == "":
		return flows.DefaultAddr
	case strings.EqualFold(v, "none"):
		return ""
	}
	return v
}

// newUI builds the aggregator and the web view over store.
func newUI(store datastore.Store) (*ui, error) {
	models := web.NewModelCache(web.StoreModel(store), modelTTL)
	agg := flows.New(flows.Config{Name: models.Name})
	h, err := web.New(web.Config{Flows: agg, Model: models.Get, Ports: []int{80}})
	if err != nil {
		return nil, err
	}
	return &ui{flows: agg, models: models, handler: h}, nil
}

// flowLog is the agent's flow-log writer: the lines go to out and to the
// aggregator; nil (flow logs off) stays nil.
func (u *ui) flowLog(out io.Writer) io.Writer {
	if out == nil {
		return nil
	}
	return io.MultiWriter(out, u.flows)
}

// serve serves the web view on addr until ctx is done, keeping the model
// that names flow endpoints fresh. Problems are logged: the web view never
// stops enforcement.
func (u *ui) serve(ctx context.Context, addr string, logger *slog.Logger) {
	go func() {
		tick := time.NewTicker(modelRefresh)
		defer tick.Stop()
		for {
			if _, err := u.models.Get(ctx); err != nil && ctx.Err() == nil {
				logger.Warn("loading the policy model of the web view", "error", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	go func() {
		if err := flows.Serve(ctx, addr, u.handler); err != nil && !errors.Is(err, context.Canceled) {
			logger.Error("web view stopped", "addr", addr, "error", err)
		}
	}()
}
