package web

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tabby-project/tabby/analysis"
	v3 "github.com/tabby-project/tabby/api/v3"
	"github.com/tabby-project/tabby/datastore"
	"github.com/tabby-project/tabby/engine"
	"github.com/tabby-project/tabby/flows"
)

//go:embed templates/*.html
var templateFS embed.FS

// flowsRefresh is how often the flow page reloads itself.
const flowsRefresh = 5 * time.Second

// Config is what the web view shows.
type Config struct {
	// Flows is the aggregator of the flow page and API; nil shows no
	// flows.
	Flows *flows.Aggregator
	// Model returns the current policy model (ModelCache.Get, or a fixed
	// model in tests).
	Model func(context.Context) (*analysis.Model, error)
	// Ports and Protocols are the matrix's services when the request does
	// not name any (defaults 80 and TCP).
	Ports     []int
	Protocols []string
	// MaxMatrixEndpoints bounds the endpoints the matrix page evaluates
	// (their square is the work of one page); 0 means
	// DefaultMaxMatrixEndpoints. Larger models are refused with a pointer
	// to calicoctl policy matrix.
	MaxMatrixEndpoints int
}

// DefaultMaxMatrixEndpoints is the default Config.MaxMatrixEndpoints.
const DefaultMaxMatrixEndpoints = 300

// Handler is the web view.
type Handler struct {
	cfg  Config
	tmpl *template.Template
	mux  *http.ServeMux
}

// New returns the web view of cfg, its flow API included.
func New(cfg Config) (*Handler, error) {
	if cfg.Model == nil {
		return nil, errors.New("web: Config.Model is nil")
	}
	if len(cfg.Ports) == 0 {
		cfg.Ports = []int{80}
	}
	if len(cfg.Protocols) == 0 {
		cfg.Protocols = []string{v3.ProtocolTCP}
	}
	if cfg.MaxMatrixEndpoints <= 0 {
		cfg.MaxMatrixEndpoints = DefaultMaxMatrixEndpoints
	}
	if cfg.Flows == nil {
		cfg.Flows = flows.New(flows.Config{})
	}
	t, err := template.New("").Funcs(template.FuncMap{
		"resource": func(k v3.Key) string { return v3.ResourceID(k.Kind, k.Namespace, k.Name) },
		"time":     func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05") },
		"lower":    strings.ToLower,
		"peer": func(name string, a netip.Addr) string {
			if name == "" {
				return a.String()
			}
			return name + " (" + a.String() + ")"
		},
	}).ParseFS(templateFS, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("web: parse templates: %w", err)
	}
	h := &Handler{cfg: cfg, tmpl: t, mux: http.NewServeMux()}
	h.mux.HandleFunc("GET /{$}", h.index)
	h.mux.HandleFunc("GET /endpoints", h.endpoints)
	h.mux.HandleFunc("GET /matrix", h.matrix)
	h.mux.HandleFunc("GET /flows", h.flows)
	h.mux.HandleFunc("GET /trace", h.trace)
	flows.Register(h.mux, cfg.Flows)
	return h, nil
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// page is what the layout template receives.
type page struct {
	Title   string
	Refresh int // seconds; 0 for none
	Error   string
	Data    any
}

func (h *Handler) render(w http.ResponseWriter, status int, name string, p page) {
	var b strings.Builder
	if err := h.tmpl.ExecuteTemplate(&b, name, p); err != nil {
		http.Error(w, "web: render "+name+": "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(b.String()))
}

// model loads the model or renders the page with the error.
func (h *Handler) model(w http.ResponseWriter, r *http.Request, name, title string, data any) *analysis.Model {
	m, err := h.cfg.Model(r.Context())
	if err != nil {
		h.render(w, http.StatusServiceUnavailable, name, page{Title: title, Error: "reading the datastore: " + err.Error(), Data: data})
		return nil
	}
	return m
}

func (h *Handler) index(w http.ResponseWriter, _ *http.Request) {
	h.render(w, http.StatusOK, "index.html", page{Title: "Tabby"})
}

// endpointRow is one endpoint on the endpoints page.
type endpointRow struct {
	analysis.Endpoint
	Directions []direction
	Profiles   []string
	Error      string
}

type direction struct {
	Name  string
	Tiers []engine.TierPolicies
}

func (h *Handler) endpoints(w http.ResponseWriter, r *http.Request) {
	m := h.model(w, r, "endpoints.html", "Endpoints", nil)
	if m == nil {
		return
	}
	var rows []endpointRow
	for _, ep := range m.Endpoints() {
		row := endpointRow{Endpoint: ep}
		pol, err := m.For(ep.Name, "")
		if err != nil {
			row.Error = err.Error()
			rows = append(rows, row)
			continue
		}
		p := pol.Policy
		row.Profiles = p.Profiles
		for _, d := range []direction{
			{"ingress", p.Ingress}, {"egress", p.Egress},
			{"untracked ingress", p.UntrackedIngress}, {"untracked egress", p.UntrackedEgress},
			{"pre-DNAT ingress", p.PreDNATIngress},
			{"forwarded ingress", p.ForwardIngress}, {"forwarded egress", p.ForwardEgress},
		} {
			if len(d.Tiers) > 0 || d.Name == "ingress" || d.Name == "egress" {
				row.Directions = append(row.Directions, d)
			}
		}
		rows = append(rows, row)
	}
	h.render(w, http.StatusOK, "endpoints.html", page{Title: "Endpoints", Data: rows})
}

// grid is one service of the matrix page.
type grid struct {
	Service   analysis.Service
	Endpoints []string
	Rows      []gridRow
}

type gridRow struct {
	From  string
	Cells []gridCell
}

type gridCell struct {
	To      string
	Self    bool
	Verdict v3.Action
	Trace   string // the trace page's URL
}

type matrixData struct {
	Ports, Protocols string
	Grids            []grid
}

func (h *Handler) matrix(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	ports, protocols := h.cfg.Ports, h.cfg.Protocols
	data := matrixData{}
	if v := q.Get("port"); v != "" {
		ports = nil
		for _, s := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil {
				h.render(w, http.StatusBadRequest, "matrix.html", page{Title: "Matrix", Error: fmt.Sprintf("port %q is not a number", s), Data: data})
				return
			}
			ports = append(ports, n)
		}
	}
	if v := q.Get("protocol"); v != "" {
		protocols = strings.Split(v, ",")
	}
	data.Ports, data.Protocols = joinInts(ports), strings.Join(protocols, ",")
	m := h.model(w, r, "matrix.html", "Matrix", data)
	if m == nil {
		return
	}
	if n := len(m.Endpoints()); n > h.cfg.MaxMatrixEndpoints {
		msg := fmt.Sprintf("%d endpoints are more than the web view evaluates (%d): use calicoctl policy matrix", n, h.cfg.MaxMatrixEndpoints)
		h.render(w, http.StatusRequestEntityTooLarge, "matrix.html", page{Title: "Matrix", Error: msg, Data: data})
		return
	}
	x, err := m.Matrix(r.Context(), ports, protocols, nil)
	if err != nil {
		h.render(w, http.StatusBadRequest, "matrix.html", page{Title: "Matrix", Error: err.Error(), Data: data})
		return
	}
	for _, s := range x.Services {
		g := grid{Service: s, Endpoints: x.Endpoints}
		for _, from := range x.Endpoints {
			row := gridRow{From: from}
			for _, to := range x.Endpoints {
				c := gridCell{To: to, Self: from == to}
				if !c.Self {
					c.Verdict, _ = x.Verdict(from, to, s)
					c.Trace = traceURL(from, to, s.Protocol, s.Port)
				}
				row.Cells = append(row.Cells, c)
			}
			g.Rows = append(g.Rows, row)
		}
		data.Grids = append(data.Grids, g)
	}
	h.render(w, http.StatusOK, "matrix.html", page{Title: "Matrix", Data: data})
}

func joinInts(ns []int) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ",")
}

// traceURL is the trace page of a flow.
func traceURL(from, to, protocol string, port int) string {
	q := url.Values{"from": {from}, "to": {to}, "protocol": {protocol}}
	if port != 0 {
		q.Set("port", strconv.Itoa(port))
	}
	return "/trace?" + q.Encode()
}

type flowRow struct {
	flows.Flow
	Trace string
}

type flowsData struct {
	Filter flows.Filter
	Since  string
	Flows  []flowRow
}

func (h *Handler) flows(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	data := flowsData{Since: q.Get("since")}
	f, err := flows.ParseFilter(q, time.Now())
	data.Filter = f
	if err != nil {
		h.render(w, http.StatusBadRequest, "flows.html", page{Title: "Flows", Error: err.Error(), Data: data})
		return
	}
	for _, fl := range h.cfg.Flows.List(f) {
		// The trace names the peers by address: an address is the
		// endpoint that holds it now, or a peer outside the cluster.
		from, to := fl.Src.String(), fl.Dst.String()
		port := int(fl.DstPort)
		if !hasPorts(fl.Proto) {
			port = 0
		}
		data.Flows = append(data.Flows, flowRow{Flow: fl, Trace: traceURL(from, to, fl.Proto, port)})
	}
	h.render(w, http.StatusOK, "flows.html", page{Title: "Flows", Refresh: int(flowsRefresh / time.Second), Data: data})
}

func hasPorts(proto string) bool {
	switch proto {
	case v3.ProtocolTCP, v3.ProtocolUDP, v3.ProtocolSCTP:
		return true
	}
	return false
}

type traceData struct {
	From, To, Protocol, Port string
	Result                   *analysis.TraceResult
	Text                     string
}

func (h *Handler) trace(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	data := traceData{From: q.Get("from"), To: q.Get("to"), Protocol: q.Get("protocol"), Port: q.Get("port")}
	if data.Protocol == "" {
		data.Protocol = v3.ProtocolTCP
	}
	if data.From == "" || data.To == "" {
		h.render(w, http.StatusOK, "trace.html", page{Title: "Trace", Data: data})
		return
	}
	m := h.model(w, r, "trace.html", "Trace", data)
	if m == nil {
		return
	}
	spec := analysis.FlowSpec{From: data.From, To: data.To, Protocol: data.Protocol}
	if data.Port != "" {
		n, err := strconv.Atoi(data.Port)
		if err != nil {
			h.render(w, http.StatusBadRequest, "trace.html", page{Title: "Trace", Error: fmt.Sprintf("port %q is not a number", data.Port), Data: data})
			return
		}
		spec.Port = n
	}
	res, err := m.Trace(spec)
	if err != nil {
		h.render(w, http.StatusBadRequest, "trace.html", page{Title: "Trace", Error: err.Error(), Data: data})
		return
	}
	var b strings.Builder
	res.Format(&b)
	data.Result, data.Text = res, b.String()
	h.render(w, http.StatusOK, "trace.html", page{Title: "Trace", Data: data})
}

// ModelCache loads the policy model at most once per TTL and shares it
// between requests. It is safe for concurrent use.
type ModelCache struct {
	load func(context.Context) (*analysis.Model, error)
	ttl  time.Duration
	now  func() time.Time

	loading sync.Mutex // one load at a time
	cur     atomic.Pointer[cachedModel]
}

type cachedModel struct {
	m  *analysis.Model
	at time.Time
}

// NewModelCache returns a cache of the models load returns, kept for ttl.
func NewModelCache(load func(context.Context) (*analysis.Model, error), ttl time.Duration) *ModelCache {
	return &ModelCache{load: load, ttl: ttl, now: time.Now}
}

// StoreModel returns a loader of the model of every resource in store, read
// at one revision.
func StoreModel(store datastore.Store) func(context.Context) (*analysis.Model, error) {
	return func(ctx context.Context) (*analysis.Model, error) {
		l, err := store.List(ctx, "", "")
		if err != nil {
			return nil, fmt.Errorf("web: list the datastore: %w", err)
		}
		m, err := analysis.New(l.Items)
		if err != nil {
			return nil, fmt.Errorf("web: load the model: %w", err)
		}
		return m, nil
	}
}

// Get returns the cached model, loading it first if it is older than the
// TTL.
func (c *ModelCache) Get(ctx context.Context) (*analysis.Model, error) {
	c.loading.Lock()
	defer c.loading.Unlock()
	if cur := c.cur.Load(); cur != nil && c.now().Sub(cur.at) < c.ttl {
		return cur.m, nil
	}
	m, err := c.load(ctx)
	if err != nil {
		return nil, err
	}
	c.cur.Store(&cachedModel{m: m, at: c.now()})
	return m, nil
}

// Name returns the name of the endpoint holding addr in the model last
// loaded, "" if none holds it or no model is loaded yet. It never
// blocks, so it suits flows.Config.Name.
func (c *ModelCache) Name(addr netip.Addr) string {
	cur := c.cur.Load()
	if cur == nil {
		return ""
	}
	ep, err := cur.m.Endpoint(addr.String(), "")
	if err != nil {
		return ""
	}
	return ep.Name
}
