package flows

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// DefaultAddr is where tabby-node serves the flow API and the web view
// unless told otherwise: next to the metrics port, on loopback only.
const DefaultAddr = "127.0.0.1:9092"

// ErrBadFilter is wrapped by ParseFilter's errors.
var ErrBadFilter = errors.New("flows: invalid filter")

// keepAlive is how often the stream sends a comment while no flow
// changes, so that proxies and clients see the connection alive.
const keepAlive = 15 * time.Second

// ParseFilter reads a Filter from query parameters: denied (a boolean),
// namespace, and since (an RFC 3339 time, or a duration back from now).
func ParseFilter(q url.Values, now time.Time) (Filter, error) {
	var f Filter
	if v := q.Get("denied"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return Filter{}, fmt.Errorf("%w: denied=%q: want true or false", ErrBadFilter, v)
		}
		f.Denied = b
	}
	f.Namespace = q.Get("namespace")
	if v := q.Get("since"); v != "" {
		if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
			f.Since = t
		} else if d, err := time.ParseDuration(v); err == nil && d >= 0 {
			f.Since = now.Add(-d)
		} else {
			return Filter{}, fmt.Errorf("%w: since=%q: want an RFC 3339 time or a duration such as 5m", ErrBadFilter, v)
		}
	}
	return f, nil
}

// Values returns the query parameters ParseFilter reads f from.
func (f Filter) Values() url.Values {
	q := url.Values{}
	if f.Denied {
		q.Set("denied", "true")
	}
	if f.Namespace != "" {
		q.Set("namespace", f.Namespace)
	}
	if !f.Since.IsZero() {
		q.Set("since", f.Since.Format(time.RFC3339Nano))
	}
	return q
}

// Handler serves the flow API of a (see the package doc) under /api/flows.
func Handler(a *Aggregator) http.Handler {
	mux := http.NewServeMux()
	Register(mux, a)
	return mux
}

// Register adds the flow API of a to mux.
func Register(mux *http.ServeMux, a *Aggregator) {
	mux.HandleFunc("GET /api/flows", func(w http.ResponseWriter, r *http.Request) {
		f, err := ParseFilter(r.URL.Query(), a.cfg.Now())
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if err := json.NewEncoder(w).Encode(a.List(f)); err != nil {
			return // the client went away
		}
	})
	mux.HandleFunc("GET /api/flows/stream", func(w http.ResponseWriter, r *http.Request) {
		f, err := ParseFilter(r.URL.Query(), a.cfg.Now())
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		stream(r.Context(), w, a, f)
	})
}

// stream writes the flows f selects, then every update, as server-sent
// events until the client goes away.
func stream(ctx context.Context, w http.ResponseWriter, a *Aggregator, f Filter) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	send := func(fl Flow) bool {
		b, err := json.Marshal(fl)
		if err != nil {
			return false
		}
		if _, err := fmt.Fprintf(w, "event: flow\ndata: %s\n\n", b); err != nil {
			return false
		}
		return true
	}
	now, updates := a.Subscribe(ctx, f, 256)
	for _, fl := range now {
		if !send(fl) {
			return
		}
	}
	if rc.Flush() != nil {
		return
	}
	tick := time.NewTicker(keepAlive)
	defer tick.Stop()
	for {
		select {
		case fl, ok := <-updates:
			if !ok || !send(fl) {
				return
			}
		case <-tick.C:
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
				return
			}
		case <-ctx.Done():
			return
		}
		if rc.Flush() != nil {
			return
		}
	}
}

// Serve serves h on addr (DefaultAddr when empty) until ctx is done. It
// returns an error if it cannot listen, nil after ctx ends.
func Serve(ctx context.Context, addr string, h http.Handler) error {
	if addr == "" {
		addr = DefaultAddr
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("flows: serve: %w", err)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("flows: serve on %s: %w", addr, err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("flows: stop serving: %w", err)
	}
	return nil
}
