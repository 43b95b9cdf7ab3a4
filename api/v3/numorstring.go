package v3

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Protocol is an IP protocol given either by name (TCP, UDP, ICMP, ICMPv6,
// SCTP, UDPLite) or by number (1-255), encoded in JSON as a string or an
// integer respectively, as Calico's numorstring.Protocol is.
//
// The value is kept exactly as written so that validation can report what the
// user wrote; Number resolves it.
type Protocol struct {
	// Name is set when the protocol was written as a string.
	Name string
	// Num is set when the protocol was written as an integer.
	Num int
}

// Protocol names Calico accepts; see calico-facts §3.4.
const (
	ProtocolTCP     = "TCP"
	ProtocolUDP     = "UDP"
	ProtocolICMP    = "ICMP"
	ProtocolICMPv6  = "ICMPv6"
	ProtocolSCTP    = "SCTP"
	ProtocolUDPLite = "UDPLite"
)

// protocolNumbers maps every accepted protocol name to its IANA number. The
// lower-case "V1" spellings are Calico's legacy names, still accepted.
var protocolNumbers = map[string]int{
	ProtocolTCP: 6, ProtocolUDP: 17, ProtocolICMP: 1, ProtocolICMPv6: 58,
	ProtocolSCTP: 132, ProtocolUDPLite: 136,
	"tcp": 6, "udp": 17, "icmp": 1, "icmpv6": 58, "sctp": 132, "udplite": 136,
}

// ProtocolFromString returns a named protocol.
func ProtocolFromString(name string) Protocol { return Protocol{Name: name} }

// ProtocolFromInt returns a numbered protocol.
func ProtocolFromInt(n int) Protocol { return Protocol{Num: n} }

// Number resolves the protocol to its IP protocol number. ok is false for an
// unknown name or a number outside 1-255.
func (p Protocol) Number() (n int, ok bool) {
	if p.Name != "" {
		n, ok = protocolNumbers[p.Name]
		return n, ok
	}
	return p.Num, p.Num >= 1 && p.Num <= 255
}

// SupportsPorts reports whether rules with this protocol may match ports:
// TCP, UDP and SCTP by name (any case) or number. UDPLite is not included,
// following Calico's numorstring.Protocol.SupportsPorts.
func (p Protocol) SupportsPorts() bool {
	n, ok := p.Number()
	if p.Name != "" && strings.EqualFold(p.Name, ProtocolUDPLite) {
		return false
	}
	return ok && (n == 6 || n == 17 || n == 132)
}

// IsICMP reports whether the protocol is ICMP (v4), by name or number.
func (p Protocol) IsICMP() bool { n, ok := p.Number(); return ok && n == 1 }

// IsICMPv6 reports whether the protocol is ICMPv6, by name or number.
func (p Protocol) IsICMPv6() bool { n, ok := p.Number(); return ok && n == 58 }

// String returns the protocol as written.
func (p Protocol) String() string {
	if p.Name != "" {
		return p.Name
	}
	return strconv.Itoa(p.Num)
}

// MarshalJSON encodes a named protocol as a string and a numbered one as an
// integer.
func (p Protocol) MarshalJSON() ([]byte, error) {
	if p.Name != "" {
		return json.Marshal(p.Name)
	}
	return json.Marshal(p.Num)
}

// UnmarshalJSON accepts a string or an integer. Range and name checks are left
// to validation so that the error can name the field.
func (p *Protocol) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		// A quoted number is accepted as a number, as Calico's
		// NumOrString does.
		if n, err := strconv.Atoi(s); err == nil {
			*p = Protocol{Num: n}
			return nil
		}
		*p = Protocol{Name: s}
		return nil
	}
	var n int
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("protocol must be a name or a number: %s", b)
	}
	*p = Protocol{Num: n}
	return nil
}

// Port is a destination or source port match: a single port, a range
// "min:max", or a named port resolved against endpoints' declared ports.
// In JSON a single port is an integer and a range or name is a string
// (Calico's numorstring.Port).
//
// MinPort and MaxPort are plain ints rather than uint16 so that an
// out-of-range value survives decoding and validation can report it.
type Port struct {
	MinPort  int
	MaxPort  int
	PortName string
}

// SinglePort returns the port match for one port.
func SinglePort(p int) Port { return Port{MinPort: p, MaxPort: p} }

// PortRange returns the port match for min through max inclusive.
func PortRange(min, max int) Port { return Port{MinPort: min, MaxPort: max} }

// NamedPort returns the port match for a named port.
func NamedPort(name string) Port { return Port{PortName: name} }

// IsNamed reports whether p is a named port.
func (p Port) IsNamed() bool { return p.PortName != "" }

// String returns the port as Calico prints it: "80", "1000:2000" or the name.
func (p Port) String() string {
	switch {
	case p.PortName != "":
		return p.PortName
	case p.MinPort == p.MaxPort:
		return strconv.Itoa(p.MinPort)
	default:
		return strconv.Itoa(p.MinPort) + ":" + strconv.Itoa(p.MaxPort)
	}
}

// ParsePort parses the string form of a port: "80", "1000:2000" or a name.
// Anything that is not a number or a range of numbers is taken as a name;
// validation decides whether the name is legal.
func ParsePort(s string) Port {
	if n, err := strconv.Atoi(s); err == nil {
		return SinglePort(n)
	}
	if lo, hi, ok := strings.Cut(s, ":"); ok {
		min, err1 := strconv.Atoi(lo)
		max, err2 := strconv.Atoi(hi)
		if err1 == nil && err2 == nil && isDigits(lo) && isDigits(hi) {
			return PortRange(min, max)
		}
	}
	return NamedPort(s)
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// MarshalJSON encodes a single port as an integer, a range or name as a string.
func (p Port) MarshalJSON() ([]byte, error) {
	if p.PortName == "" && p.MinPort == p.MaxPort {
		return json.Marshal(p.MinPort)
	}
	return json.Marshal(p.String())
}

// UnmarshalJSON accepts an integer or a string.
func (p *Port) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*p = ParsePort(s)
		return nil
	}
	var n int
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("port must be a number or a string: %s", b)
	}
	*p = SinglePort(n)
	return nil
}
