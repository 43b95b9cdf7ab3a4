package v3

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/tabby-project/tabby/selector"
)

// Limits on rule fields (calico-facts §3.3, §3.4).
const (
	maxSelectorLength = 1024
	maxPorts          = 50
	maxNets           = 256
	maxHTTPMethods    = 20
	maxHTTPPaths      = 20
	maxHTTPPathLength = 1024
	maxICMPType       = 254
	maxICMPCode       = 255
)

var validProtocolNames = []string{ProtocolTCP, ProtocolUDP, ProtocolICMP, ProtocolICMPv6, ProtocolSCTP, ProtocolUDPLite}

// ruleContext is where a rule sits: the checks that depend on the
// direction or the policy kind are Calico's policy-level checks, which do
// not apply to profiles.
type ruleContext struct {
	inPolicy bool // in a (Staged)(Global)NetworkPolicy, not a Profile
	global   bool // in a global policy
	egress   bool // an egress rule
}

func (v *validator) rule(path string, r *Rule, c ruleContext) {
	switch r.Action {
	case Allow, Deny, Log, Pass:
	default:
		v.add(path+".action", string(r.Action), "is not a valid action: must be Allow, Deny, Log or Pass")
	}
	if r.IPVersion != nil && *r.IPVersion != 4 && *r.IPVersion != 6 {
		v.add(path+".ipVersion", *r.IPVersion, "must be 4 or 6")
	}
	if r.Protocol != nil {
		v.protocol(path+".protocol", *r.Protocol)
	}
	if r.NotProtocol != nil {
		v.protocol(path+".notProtocol", *r.NotProtocol)
	}
	v.icmp(path, r)
	v.ruleIPVersion(path, r)
	v.entity(path+".source", &r.Source)
	v.entity(path+".destination", &r.Destination)
	v.rulePorts(path, r)
	v.ruleNets(path, r)
	if r.HTTP != nil {
		v.http(path, r)
	}
	if r.Destination.Services != nil {
		if len(r.Destination.Ports) > 0 {
			v.add(path+".destination.ports", nil, "cannot be combined with destination.services, whose ports come from the service")
		}
		if len(r.Destination.NotPorts) > 0 {
			v.add(path+".destination.notPorts", nil, "cannot be combined with destination.services")
		}
	}
	if r.Metadata != nil {
		v.annotations(path+".metadata.annotations", r.Metadata.Annotations)
	}
	if c.inPolicy {
		v.ruleInPolicy(path, r, c)
	}
}

// ruleInPolicy applies the checks Calico makes on the rules of a policy
// spec: where services may appear, and that HTTP matches are ingress only.
func (v *validator) ruleInPolicy(path string, r *Rule, c ruleContext) {
	if c.egress {
		if r.Source.Services != nil {
			v.add(path+".source.services", nil, "is not allowed in the source of an egress rule")
		}
		if r.HTTP != nil {
			v.add(path+".http", nil, "is not allowed in egress rules")
		}
		if c.global && r.Destination.Services != nil && r.Destination.Services.Namespace == "" {
			v.add(path+".destination.services.namespace", nil, "must be specified in a global policy")
		}
		return
	}
	if r.Destination.Services != nil {
		v.add(path+".destination.services", nil, "is not allowed in the destination of an ingress rule")
	}
	if c.global && r.Source.Services != nil && r.Source.Services.Namespace == "" {
		v.add(path+".source.services.namespace", nil, "must be specified in a global policy")
	}
}

// protocol checks a protocol name or number and reports whether it is valid.
func (v *validator) protocol(path string, p Protocol) bool {
	if p.Name != "" {
		if slices.Contains(validProtocolNames, p.Name) {
			return true
		}
	} else if p.Num >= 1 && p.Num <= 255 {
		return true
	}
	v.add(path, p, "is not a valid protocol: must be TCP, UDP, ICMP, ICMPv6, SCTP, UDPLite or a number from 1 to 255")
	return false
}

func (v *validator) icmp(path string, r *Rule) {
	isICMP := r.Protocol != nil && (r.Protocol.IsICMP() || r.Protocol.IsICMPv6())
	for _, f := range []struct {
		field string
		icmp  *ICMPFields
	}{{"icmp", r.ICMP}, {"notICMP", r.NotICMP}} {
		if f.icmp == nil {
			continue
		}
		p := path + "." + f.field
		if t := f.icmp.Type; t != nil && (*t < 0 || *t > maxICMPType) {
			v.addf(p+".type", *t, "must be between 0 and %d", maxICMPType)
		}
		if c := f.icmp.Code; c != nil && (*c < 0 || *c > maxICMPCode) {
			v.addf(p+".code", *c, "must be between 0 and %d", maxICMPCode)
		}
		if f.icmp.Code != nil && f.icmp.Type == nil {
			v.add(p+".code", nil, "cannot be given without a type")
		}
		if !isICMP {
			v.add(p, nil, "ICMP matches require protocol ICMP or ICMPv6")
		}
	}
}

// ruleIPVersion checks that ICMP and ICMPv6 agree with ipVersion.
func (v *validator) ruleIPVersion(path string, r *Rule) {
	if r.IPVersion == nil || (*r.IPVersion != 4 && *r.IPVersion != 6) {
		return
	}
	for _, f := range []struct {
		field string
		p     *Protocol
	}{{"protocol", r.Protocol}, {"notProtocol", r.NotProtocol}} {
		if f.p == nil {
			continue
		}
		switch {
		case f.p.IsICMP() && *r.IPVersion != 4:
			v.addf(path+".ipVersion", *r.IPVersion, "must be 4 with %s %s", f.field, f.p)
		case f.p.IsICMPv6() && *r.IPVersion != 6:
			v.addf(path+".ipVersion", *r.IPVersion, "must be 6 with %s %s", f.field, f.p)
		}
	}
}

// entity checks the parts of a source or destination that do not depend on
// the rule around it.
func (v *validator) entity(path string, e *EntityRule) {
	v.selector(path+".selector", e.Selector, false)
	v.selector(path+".notSelector", e.NotSelector, false)
	v.selector(path+".namespaceSelector", e.NamespaceSelector, true)
	for _, f := range []struct {
		field string
		ports []Port
	}{{"ports", e.Ports}, {"notPorts", e.NotPorts}} {
		p := path + "." + f.field
		if len(f.ports) > maxPorts {
			v.addf(p, nil, "has %d entries, more than the maximum of %d", len(f.ports), maxPorts)
		}
		for i, port := range f.ports {
			v.port(fmt.Sprintf("%s[%d]", p, i), port)
		}
	}
	if sa := e.ServiceAccounts; sa != nil {
		v.selector(path+".serviceAccounts.selector", sa.Selector, false)
	}
	if s := e.Services; s != nil {
		sp := path + ".services"
		if s.Name == "" {
			v.add(sp+".name", nil, "must be specified")
		}
		v.objectName(sp+".name", s.Name)
		v.objectName(sp+".namespace", s.Namespace)
		for _, f := range []struct {
			field string
			set   bool
		}{
			{"namespaceSelector", e.NamespaceSelector != ""},
			{"selector", e.Selector != ""},
			{"notSelector", e.NotSelector != ""},
			{"serviceAccounts", e.ServiceAccounts != nil},
			{"nets", len(e.Nets) > 0},
			{"notNets", len(e.NotNets) > 0},
		} {
			if f.set {
				v.addf(sp, nil, "cannot be combined with %s", f.field)
			}
		}
	}
}

// selector checks a selector field. global() is allowed only in an
// EntityRule namespaceSelector (allowGlobal), and there only on its own.
func (v *validator) selector(path, s string, allowGlobal bool) {
	if s == "" {
		return
	}
	if len(s) > maxSelectorLength {
		v.addf(path, s, "is too long: %d bytes, more than the maximum of %d", len(s), maxSelectorLength)
		return
	}
	sel, err := selector.Parse(s)
	if err != nil {
		var pe *selector.ParseError
		if errors.As(err, &pe) {
			v.addf(path, s, "is not a valid selector: %s at position %d", pe.Msg, pe.Pos)
		} else {
			v.add(path, s, "is not a valid selector: "+err.Error())
		}
		return
	}
	switch {
	case !sel.UsesGlobal():
	case !allowGlobal:
		v.add(path, s, "uses global(), which can only be used in an EntityRule namespaceSelector")
	case sel.String() != "global()":
		v.add(path, s, "combines global() with other selectors, which is not allowed")
	}
}

// port checks the syntax and range of one port match.
func (v *validator) port(path string, p Port) {
	if p.PortName != "" {
		switch {
		case p.MinPort != 0 || p.MaxPort != 0:
			v.add(path, p, "is not a valid port: a named port cannot also have numbers")
		case strings.Contains(p.PortName, ":"):
			v.add(path, p, "is not a port or port range")
		default:
			v.portName(path, p.PortName)
		}
		return
	}
	switch {
	case p.MinPort < 1 || p.MinPort > 65535 || p.MaxPort < 1 || p.MaxPort > 65535:
		v.add(path, p, "is not a port or port range")
	case p.MinPort > p.MaxPort:
		v.add(path, p, "is not a valid port range: the first port is greater than the second")
	}
}

// rulePorts checks that ports go with a protocol that has them (Calico
// HEAD: without a protocol only named ports are allowed).
func (v *validator) rulePorts(path string, r *Rule) {
	for _, f := range []struct {
		field string
		ports []Port
	}{
		{"source.ports", r.Source.Ports}, {"source.notPorts", r.Source.NotPorts},
		{"destination.ports", r.Destination.Ports}, {"destination.notPorts", r.Destination.NotPorts},
	} {
		if len(f.ports) == 0 {
			continue
		}
		switch {
		case r.Protocol == nil:
			if slices.ContainsFunc(f.ports, func(p Port) bool { return !p.IsNamed() }) {
				v.add(path+"."+f.field, nil, "rules with numeric ports or port ranges must set protocol to TCP, UDP or SCTP")
			}
		case !r.Protocol.SupportsPorts():
			v.addf(path+"."+f.field, nil, "rules that specify ports must set protocol to TCP, UDP or SCTP, not %s", r.Protocol)
		}
	}
}

// ruleNets checks nets and notNets of both sides: each a strictly masked
// CIDR, agreeing with ipVersion and with each other's IP version, no
// catch-all in a negation.
func (v *validator) ruleNets(path string, r *Rule) {
	var seen4, seen6 bool
	for _, f := range []struct {
		field   string
		nets    []string
		negated bool
	}{
		{"source.nets", r.Source.Nets, false}, {"source.notNets", r.Source.NotNets, true},
		{"destination.nets", r.Destination.Nets, false}, {"destination.notNets", r.Destination.NotNets, true},
	} {
		p := path + "." + f.field
		if len(f.nets) > maxNets {
			v.addf(p, nil, "has %d entries, more than the maximum of %d", len(f.nets), maxNets)
		}
		var v4, v6 bool
		for i, n := range f.nets {
			np := fmt.Sprintf("%s[%d]", p, i)
			pfx, ok := v.ruleCIDR(np, n)
			if !ok {
				continue
			}
			version := 6
			if pfx.Addr().Is4() {
				version = 4
			}
			// An ipVersion other than 4 or 6 is reported on its own.
			if r.IPVersion != nil && (*r.IPVersion == 4 || *r.IPVersion == 6) && *r.IPVersion != version {
				v.addf(np, n, "is an IPv%d CIDR, but the rule's ipVersion is %d", version, *r.IPVersion)
			}
			if f.negated && pfx.Bits() == 0 {
				v.add(np, n, "matches everything: in a negation it makes the rule match nothing")
			}
			v4 = v4 || version == 4
			v6 = v6 || version == 6
		}
		if (v4 && v6) || (v4 && seen6) || (v6 && seen4) {
			v.add(p, nil, "mixes IPv4 and IPv6 CIDRs within the rule")
		}
		seen4 = seen4 || v4
		seen6 = seen6 || v6
	}
}

// ruleCIDR parses a rule CIDR, which must have a prefix length and no host
// bits. ok is true whenever the address family is known.
func (v *validator) ruleCIDR(path, s string) (pfx netip.Prefix, ok bool) {
	pfx, err := netip.ParsePrefix(s)
	if err != nil {
		if _, aerr := netip.ParseAddr(s); aerr == nil {
			v.add(path, s, "is not a CIDR: add a prefix length, such as /32 or /128")
		} else {
			v.add(path, s, "is not a valid CIDR")
		}
		return netip.Prefix{}, false
	}
	if m := pfx.Masked(); m != pfx {
		v.addf(path, s, "is not a strictly masked CIDR: did you mean %q?", m.String())
	}
	return pfx, true
}

func (v *validator) http(path string, r *Rule) {
	hp := path + ".http"
	if r.Action != Allow {
		v.add(hp, nil, "HTTP matches are only valid on Allow rules")
	}
	if r.Protocol != nil && r.Protocol.Name != ProtocolTCP {
		v.add(path+".protocol", *r.Protocol, "must be TCP, or left out, when http is set")
	}
	h := r.HTTP
	if len(h.Methods) > maxHTTPMethods {
		v.addf(hp+".methods", nil, "has %d entries, more than the maximum of %d", len(h.Methods), maxHTTPMethods)
	}
	for i, m := range h.Methods {
		if slices.Contains(h.Methods[:i], m) {
			v.add(hp+".methods["+strconv.Itoa(i)+"]", m, "is listed more than once")
		}
	}
	if len(h.Paths) > maxHTTPPaths {
		v.addf(hp+".paths", nil, "has %d entries, more than the maximum of %d", len(h.Paths), maxHTTPPaths)
	}
	for i, p := range h.Paths {
		pp := fmt.Sprintf("%s.paths[%d]", hp, i)
		field, value := "exact", p.Exact
		switch {
		case p.Exact != "" && p.Prefix != "":
			v.add(pp, nil, "must set exactly one of exact or prefix, not both")
			continue
		case p.Exact == "" && p.Prefix == "":
			v.add(pp, nil, "must set one of exact or prefix")
			continue
		case p.Prefix != "":
			field, value = "prefix", p.Prefix
		}
		switch {
		case len(value) > maxHTTPPathLength:
			v.addf(pp+"."+field, value, "is too long: %d bytes, more than the maximum of %d", len(value), maxHTTPPathLength)
		case !strings.HasPrefix(value, "/") || strings.ContainsAny(value, "?# "):
			v.add(pp+"."+field, value, `must start with "/" and contain no '?', '#' or space`)
		}
	}
}
