package authz

import (
	"encoding/json"
	"io"
	"sync"
	"time"
)

// FlowLog is the JSON line written for each denied request.
type FlowLog struct {
	Time     time.Time `json:"time"`
	Frontend string    `json:"frontend"`
	// Principal is the source principal as received; SourceAddr and
	// DestAddr the connection's addresses, when known.
	Principal  string `json:"principal,omitempty"`
	SourceAddr string `json:"sourceAddr,omitempty"`
	DestAddr   string `json:"destAddr,omitempty"`
	// Destination is the protected workload.
	Destination string `json:"destination"`
	Method      string `json:"method,omitempty"`
	Path        string `json:"path,omitempty"`
	Action      string `json:"action"`
	Cause       string `json:"cause"`
	Reason      string `json:"reason"`
	// Tier, Policy (namespace/name), Profile and Rule locate the deciding
	// rule when one decided; Rule is -1 otherwise.
	Tier    string `json:"tier,omitempty"`
	Policy  string `json:"policy,omitempty"`
	Kind    string `json:"kind,omitempty"`
	Profile string `json:"profile,omitempty"`
	Rule    int    `json:"rule"`
}

// flowLogger writes whole lines to w, one writer at a time.
type flowLogger struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *flowLogger) write(fl *FlowLog) error {
	b, err := json.Marshal(fl)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	l.mu.Lock()
	defer l.mu.Unlock()
	_, err = l.w.Write(b)
	return err
}
