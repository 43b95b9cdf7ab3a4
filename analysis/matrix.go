package analysis

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"sync"
	"text/tabwriter"

	v3 "github.com/tabby-project/tabby/api/v3"
	"github.com/tabby-project/tabby/engine"
)

// Service is a protocol and, for TCP, UDP and SCTP, a destination port.
type Service struct {
	Protocol string `json:"protocol"`
	Port     int    `json:"port,omitempty"`
}

func (s Service) String() string {
	if s.Port == 0 {
		return s.Protocol
	}
	return s.Protocol + "/" + strconv.Itoa(s.Port)
}

// Cell is the verdict of the flow from one endpoint to another on one
// service.
type Cell struct {
	From     string    `json:"from"`
	To       string    `json:"to"`
	Protocol string    `json:"protocol"`
	Port     int       `json:"port"`
	Verdict  v3.Action `json:"verdict"`
}

// Matrix is the verdict of every flow between two different endpoints of
// the model, for every service. A flow from an endpoint to itself never
// leaves it and is not evaluated, as in the Kubernetes conformance tests.
type Matrix struct {
	// Endpoints are the endpoint names, in the order of rows and columns.
	Endpoints []string  `json:"endpoints"`
	Services  []Service `json:"services"`
	// Cells holds, service by service, the flows from each endpoint to
	// each other one, sources and destinations in the order of Endpoints.
	Cells []Cell `json:"cells"`
}

// Matrix evaluates the flow between every ordered pair of different
// endpoints for every service: every protocol of protocols with every port
// of ports, or once with no port for a protocol without ports. progress, if
// not nil, is called from the calling goroutine as flows are decided, with
// the number decided and the total, lastly with both equal. The work is
// shared among GOMAXPROCS goroutines; cancelling ctx stops it with ctx's
// error.
func (m *Model) Matrix(ctx context.Context, ports []int, protocols []string, progress func(done, total int)) (*Matrix, error) {
	services, numbers, err := servicesOf(ports, protocols)
	if err != nil {
		return nil, err
	}
	n := len(m.endpoints)
	x := &Matrix{Endpoints: make([]string, n), Services: services}
	for i, ep := range m.endpoints {
		x.Endpoints[i] = ep.Name
	}
	perRow := max(n-1, 0)
	x.Cells = make([]Cell, len(services)*n*perRow)
	if len(x.Cells) == 0 {
		if progress != nil {
			progress(0, 0)
		}
		return x, nil
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type row struct{ service, from int }
	rows := make(chan row)
	decided := make(chan int)
	var (
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
	)
	for range min(runtime.GOMAXPROCS(0), len(services)*n) {
		wg.Go(func() {
			for r := range rows {
				base := (r.service*n + r.from) * perRow
				if err := m.row(x.Cells[base:base+perRow], services[r.service], numbers[r.service], r.from); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					cancel()
				}
				decided <- perRow
			}
		})
	}
	go func() {
		defer func() {
			close(rows)
			wg.Wait()
			close(decided)
		}()
		for s := range services {
			for from := range n {
				select {
				case rows <- row{s, from}:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	done := 0
	for k := range decided {
		done += k
		if progress != nil {
			progress(done, len(x.Cells))
		}
	}
	if firstErr != nil {
		return nil, firstErr
	}
	if err := ctx.Err(); err != nil && done < len(x.Cells) {
		return nil, err
	}
	return x, nil
}

// row fills the cells of the flows from endpoint from on service s.
func (m *Model) row(cells []Cell, s Service, proto, from int) error {
	src := m.endpoints[from]
	k := 0
	for to, dst := range m.endpoints {
		if to == from {
			continue
		}
		res, err := m.eng.Evaluate(engine.Flow{
			Src: engine.Peer{Endpoint: src.Key}, Dst: engine.Peer{Endpoint: dst.Key},
			Protocol: proto, DstPort: s.Port,
		})
		if err != nil {
			return fmt.Errorf("analysis: matrix: %s to %s %s: %w", src.Name, dst.Name, s, err)
		}
		cells[k] = Cell{From: src.Name, To: dst.Name, Protocol: s.Protocol, Port: s.Port, Verdict: res.Verdict}
		k++
	}
	return nil
}

// servicesOf is the product of protocols and ports, with the protocol
// numbers.
func servicesOf(ports []int, protocols []string) ([]Service, []int, error) {
	if len(protocols) == 0 {
		return nil, nil, fmt.Errorf("%w: no protocol", ErrInvalidFlow)
	}
	var (
		services []Service
		numbers  []int
	)
	for _, p := range protocols {
		num, name, err := parseProtocol(p)
		if err != nil {
			return nil, nil, err
		}
		if !hasPorts(num) {
			services, numbers = append(services, Service{Protocol: name}), append(numbers, num)
			continue
		}
		if len(ports) == 0 {
			return nil, nil, fmt.Errorf("%w: %s needs at least one port", ErrInvalidFlow, name)
		}
		for _, port := range ports {
			if port < 1 || port > 65535 {
				return nil, nil, fmt.Errorf("%w: port %d is not in 1-65535", ErrInvalidFlow, port)
			}
			services, numbers = append(services, Service{Protocol: name, Port: port}), append(numbers, num)
		}
	}
	return services, numbers, nil
}

// Verdict returns the verdict of the flow from one endpoint to another on
// service s, and false for a flow the matrix does not hold.
func (x *Matrix) Verdict(from, to string, s Service) (v3.Action, bool) {
	si, fi, ti := -1, -1, -1
	for i, sv := range x.Services {
		if sv == s {
			si = i
		}
	}
	for i, name := range x.Endpoints {
		if name == from {
			fi = i
		}
		if name == to {
			ti = i
		}
	}
	if si < 0 || fi < 0 || ti < 0 || fi == ti {
		return "", false
	}
	if ti > fi {
		ti--
	}
	n := len(x.Endpoints)
	return x.Cells[(si*n+fi)*(n-1)+ti].Verdict, true
}

// shortNameLimit is the longest endpoint name the grid prints as a column
// heading; with longer names columns are numbered instead.
const shortNameLimit = 12

// Format writes one grid per service, as the Kubernetes network-policy
// tests print them: a row per source, a column per destination, "." where
// the flow is allowed, "X" where it is denied, "-" from an endpoint to
// itself. When an endpoint name is too long for a column heading, the
// columns are numbered and each row starts with its number.
func (x *Matrix) Format(w io.Writer) {
	fmt.Fprintln(w, `"." allowed, "X" denied, "-" same endpoint (not evaluated); rows are sources, columns destinations`)
	n := len(x.Endpoints)
	if n == 0 {
		fmt.Fprintln(w, "\nno endpoints")
		return
	}
	numbered := false
	for _, name := range x.Endpoints {
		numbered = numbered || len(name) > shortNameLimit
	}
	for si, s := range x.Services {
		fmt.Fprintln(w)
		tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
		if numbered {
			fmt.Fprintf(w, "%s\n", s)
			fmt.Fprint(tw, "\t")
		} else {
			fmt.Fprint(tw, s)
		}
		for i, name := range x.Endpoints {
			if numbered {
				name = strconv.Itoa(i)
			}
			fmt.Fprintf(tw, "\t%s", name)
		}
		fmt.Fprintln(tw)
		allowed := 0
		for from, name := range x.Endpoints {
			if numbered {
				fmt.Fprintf(tw, "%d\t", from)
			}
			fmt.Fprint(tw, name)
			cells := x.Cells[(si*n+from)*(n-1) : (si*n+from+1)*(n-1)]
			k := 0
			for to := range n {
				mark := "-"
				if to != from {
					mark = "X"
					if cells[k].Verdict == v3.Allow {
						mark = "."
						allowed++
					}
					k++
				}
				fmt.Fprintf(tw, "\t%s", mark)
			}
			fmt.Fprintln(tw)
		}
		tw.Flush()
		fmt.Fprintf(w, "%s: %d of %d flows allowed\n", s, allowed, n*(n-1))
	}
}
