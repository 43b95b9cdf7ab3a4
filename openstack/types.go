package openstack

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// Port is the part of a Neutron port (GET /v2.0/ports) the sync reads.
type Port struct {
	ID                  string        `json:"id"`
	Name                string        `json:"name"`
	NetworkID           string        `json:"network_id"`
	ProjectID           string        `json:"project_id"`
	TenantID            string        `json:"tenant_id"`
	DeviceID            string        `json:"device_id"`
	DeviceOwner         string        `json:"device_owner"`
	HostID              string        `json:"binding:host_id"`
	MACAddress          string        `json:"mac_address"`
	Status              string        `json:"status"`
	FixedIPs            []FixedIP     `json:"fixed_ips"`
	AllowedAddressPairs []AddressPair `json:"allowed_address_pairs"`
	SecurityGroups      []string      `json:"security_groups"`
}

// Project returns the port's project ID (project_id, else the older
// tenant_id).
func (p *Port) Project() string {
	if p.ProjectID != "" {
		return p.ProjectID
	}
	return p.TenantID
}

// FixedIP is one address Neutron allocated to a port.
type FixedIP struct {
	SubnetID  string `json:"subnet_id"`
	IPAddress string `json:"ip_address"`
}

// AddressPair is an extra address (or CIDR) a port may send from.
type AddressPair struct {
	IPAddress  string `json:"ip_address"`
	MACAddress string `json:"mac_address"`
}

// SecurityGroup is a Neutron security group with its rules
// (GET /v2.0/security-groups).
type SecurityGroup struct {
	ID        string              `json:"id"`
	Name      string              `json:"name"`
	ProjectID string              `json:"project_id"`
	TenantID  string              `json:"tenant_id"`
	Stateful  *bool               `json:"stateful"`
	Rules     []SecurityGroupRule `json:"security_group_rules"`
}

// SecurityGroupRule is one allow rule of a security group. Nil pointers are
// Neutron's nulls.
type SecurityGroupRule struct {
	ID                   string   `json:"id"`
	SecurityGroupID      string   `json:"security_group_id"`
	Direction            string   `json:"direction"`
	Ethertype            string   `json:"ethertype"`
	Protocol             Protocol `json:"protocol"`
	PortRangeMin         *int     `json:"port_range_min"`
	PortRangeMax         *int     `json:"port_range_max"`
	RemoteIPPrefix       *string  `json:"remote_ip_prefix"`
	RemoteGroupID        *string  `json:"remote_group_id"`
	RemoteAddressGroupID *string  `json:"remote_address_group_id"`
}

// Protocol is a rule's protocol as Neutron gives it: a name ("tcp",
// "icmp", "any"), a number written as a string or an integer, or null
// (empty).
type Protocol string

// UnmarshalJSON accepts a string, an integer or null.
func (p *Protocol) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case bytes.Equal(b, []byte("null")):
		*p = ""
		return nil
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*p = Protocol(s)
		return nil
	}
	n, err := strconv.Atoi(string(b))
	if err != nil {
		return fmt.Errorf("protocol %s: not a string, an integer or null", b)
	}
	*p = Protocol(strconv.Itoa(n))
	return nil
}

// Network is the part of a Neutron network the sync reads.
type Network struct {
	ID      string   `json:"id"`
	Name    string   `json:"name"`
	Subnets []string `json:"subnets"`
}

// Subnet is the part of a Neutron subnet the sync reads.
type Subnet struct {
	ID        string  `json:"id"`
	NetworkID string  `json:"network_id"`
	IPVersion int     `json:"ip_version"`
	GatewayIP *string `json:"gateway_ip"`
}

// FloatingIP is a Neutron floating IP; PortID is nil when it is not
// associated.
type FloatingIP struct {
	ID                string  `json:"id"`
	FloatingIPAddress string  `json:"floating_ip_address"`
	FixedIPAddress    *string `json:"fixed_ip_address"`
	PortID            *string `json:"port_id"`
}

// Project is a Keystone project (GET /v3/projects). ParentID is the
// parent project, or the domain for a top-level project.
type Project struct {
	ID       string  `json:"id"`
	Name     string  `json:"name"`
	DomainID string  `json:"domain_id"`
	ParentID *string `json:"parent_id"`
}

// Snapshot is everything one sync reads from a region, read completely or
// not at all.
type Snapshot struct {
	Ports          []Port
	SecurityGroups []SecurityGroup
	Networks       []Network
	Subnets        []Subnet
	FloatingIPs    []FloatingIP
	Projects       []Project
}
