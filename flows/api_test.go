package flows

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestListAPI(t *testing.T) {
	a := New(Config{Now: func() time.Time { return t0.Add(time.Minute) }})
	a.Add(record(1, 9, 0, "Deny", "x/deny"))
	a.Add(record(2, 9, 30, "Log", "y/log"))
	srv := httptest.NewServer(Handler(a))
	defer srv.Close()
	tests := []struct {
		name       string
		query      string
		wantStatus int
		wantSrcs   []string
	}{
		{name: "no filter lists every flow newest first", wantStatus: 200, wantSrcs: []string{"10.0.0.2", "10.0.0.1"}},
		{name: "denied=true lists denied flows only", query: "?denied=true", wantStatus: 200, wantSrcs: []string{"10.0.0.1"}},
		{name: "namespace lists the flows of that namespace", query: "?namespace=y", wantStatus: 200, wantSrcs: []string{"10.0.0.2"}},
		{name: "since leaves out older flows", query: "?since=45s", wantStatus: 200, wantSrcs: []string{"10.0.0.2"}},
		{name: "a bad filter is a bad request", query: "?denied=perhaps", wantStatus: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := http.Get(srv.URL + "/api/flows" + tt.query)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if tt.wantStatus != 200 {
				return
			}
			var got []Flow
			if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
				t.Fatal(err)
			}
			srcs := []string{}
			for _, f := range got {
				srcs = append(srcs, f.Src.String())
			}
			if strings.Join(srcs, " ") != strings.Join(tt.wantSrcs, " ") {
				t.Errorf("sources %v, want %v", srcs, tt.wantSrcs)
			}
		})
	}
}

func TestStreamAPI(t *testing.T) {
	a := New(Config{Now: func() time.Time { return t0 }})
	a.Add(record(1, 9, 0, "Deny", "x/deny"))
	a.Add(record(2, 9, 0, "Log", "x/log"))
	srv := httptest.NewServer(Handler(a))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", srv.URL+"/api/flows/stream?denied=true", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("Content-Type %q, want text/event-stream", ct)
	}
	events := make(chan Flow)
	go func() {
		defer close(events)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			data, ok := strings.CutPrefix(sc.Text(), "data: ")
			if !ok {
				continue
			}
			var f Flow
			if json.Unmarshal([]byte(data), &f) == nil {
				events <- f
			}
		}
	}()
	next := func() Flow {
		t.Helper()
		select {
		case f, ok := <-events:
			if !ok {
				t.Fatal("the stream ended")
			}
			return f
		case <-ctx.Done():
			t.Fatal("no event before the deadline")
		}
		return Flow{}
	}
	if f := next(); f.Src != netip.MustParseAddr("10.0.0.1") || f.Packets != 1 {
		t.Errorf("first event %+v, want the denied flow as it is", f)
	}
	a.Add(record(2, 9, 1, "Log", "x/log")) // filtered out
	a.Add(record(3, 9, 1, "Deny", "x/deny"))
	if f := next(); f.Src != netip.MustParseAddr("10.0.0.3") || !f.Denied() {
		t.Errorf("second event %+v, want the new denied flow from 10.0.0.3", f)
	}
}
