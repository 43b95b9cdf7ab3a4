package conformance

import (
	"fmt"
	"strings"
)

// Conn is one cell of a truth table: a connection attempt from one pod to
// another on a port and protocol.
type Conn struct {
	From, To Peer
	Protocol string
	Port     int
}

func (c Conn) String() string {
	return fmt.Sprintf("%s -> %s %s/%d", c.From, c.To, c.Protocol, c.Port)
}

// Expectation sets the expected verdict of every connection it matches.
// From and To are patterns: "x/a", "x/*", "*/a" or "*". An empty Protocol
// or a zero Port matches every protocol or port.
type Expectation struct {
	From, To string
	Protocol string
	Port     int
	Allowed  bool
}

func (e Expectation) matches(c Conn) bool {
	return matchPeer(e.From, c.From) && matchPeer(e.To, c.To) &&
		(e.Protocol == "" || e.Protocol == c.Protocol) && (e.Port == 0 || e.Port == c.Port)
}

func matchPeer(pattern string, p Peer) bool {
	if pattern == "*" {
		return true
	}
	ns, name, _ := strings.Cut(pattern, "/")
	return (ns == "*" || ns == p.Namespace) && (name == "*" || name == p.Name)
}

// Allow and Deny build expectations for all ports and protocols.
func Allow(from, to string) Expectation { return Expectation{From: from, To: to, Allowed: true} }

// Deny builds an expectation that from cannot reach to on any port.
func Deny(from, to string) Expectation { return Expectation{From: from, To: to} }

// AllowOn and DenyOn build expectations for one protocol and port (0 = all
// ports).
func AllowOn(from, to, proto string, port int) Expectation {
	return Expectation{From: from, To: to, Protocol: proto, Port: port, Allowed: true}
}

// DenyOn builds an expectation that from cannot reach to on proto/port.
func DenyOn(from, to, proto string, port int) Expectation {
	return Expectation{From: from, To: to, Protocol: proto, Port: port}
}

// Table is a truth table over the model: every connection between two
// distinct pods, on every port and protocol.
type Table struct {
	model Model
	cells map[Conn]bool
}

// Conns returns every connection of the model in a fixed order.
func (m Model) Conns() []Conn {
	var out []Conn
	for _, proto := range m.Protocols {
		for _, port := range m.Ports {
			for _, from := range m.Peers() {
				for _, to := range m.Peers() {
					if from != to {
						out = append(out, Conn{from, to, proto, port})
					}
				}
			}
		}
	}
	return out
}

// Expected builds the table a case expects: DefaultAllow, then each
// expectation in order, later ones overriding earlier ones.
func (m Model) Expected(c Case) *Table {
	t := &Table{model: m, cells: map[Conn]bool{}}
	for _, conn := range m.Conns() {
		v := c.DefaultAllow
		for _, e := range c.Expect {
			if e.matches(conn) {
				v = e.Allowed
			}
		}
		t.cells[conn] = v
	}
	return t
}

// NewTable returns an empty table to be filled with Set.
func (m Model) NewTable() *Table { return &Table{model: m, cells: map[Conn]bool{}} }

// Set records the verdict of one connection.
func (t *Table) Set(c Conn, allowed bool) { t.cells[c] = allowed }

// Get returns the verdict of one connection.
func (t *Table) Get(c Conn) bool { return t.cells[c] }

// Diff lists the connections on which two tables disagree.
func (t *Table) Diff(other *Table) []Conn {
	var out []Conn
	for _, c := range t.model.Conns() {
		if t.cells[c] != other.cells[c] {
			out = append(out, c)
		}
	}
	return out
}

// Grid prints the table for one protocol and port as upstream does: rows are
// sources, columns destinations, "." allowed, "X" denied, "-" loopback.
// If mark is non-nil, cells where mark disagrees are shown as "!".
func (t *Table) Grid(proto string, port int, mark *Table) string {
	var b strings.Builder
	peers := t.model.Peers()
	fmt.Fprintf(&b, "%s/%d\t", proto, port)
	for _, to := range peers {
		fmt.Fprintf(&b, "%s\t", to)
	}
	b.WriteString("\n")
	for _, from := range peers {
		fmt.Fprintf(&b, "%s\t", from)
		for _, to := range peers {
			cell := "-"
			if from != to {
				c := Conn{from, to, proto, port}
				cell = "X"
				if t.cells[c] {
					cell = "."
				}
				if mark != nil && mark.cells[c] != t.cells[c] {
					cell = "!"
				}
			}
			fmt.Fprintf(&b, "%s\t", cell)
		}
		b.WriteString("\n")
	}
	return b.String()
}
