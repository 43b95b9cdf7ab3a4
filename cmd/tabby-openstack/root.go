package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/spf13/cobra"

	"github.com/tabby-project/tabby/datastore/etcd"
	"github.com/tabby-project/tabby/openstack"
)

const defaultEtcdEndpoint = "http://127.0.0.1:2379"

// options are the command's flags.
type options struct {
	os           openstack.Config
	calicoRegion string
	interval     time.Duration
	once         bool
}

// osFlag binds a --os-* flag to its OS_* variable, as the openstack CLI
// does.
type osFlag struct {
	name, env, help string
	dst             *string
	secret          bool
}

func newRootCommand(e env) *cobra.Command {
	var o options
	cmd := &cobra.Command{
		Use:   "tabby-openstack [flags]",
		Short: "Sync an OpenStack region's ports and security groups into Calico resources",
		Long: `tabby-openstack reads one OpenStack region (Neutron ports, security groups,
networks, subnets and floating IPs; Keystone projects) and keeps the Calico
resources of that region in the datastore equal to it:

  - every VM port bound to a host becomes a WorkloadEndpoint named as Calico
    names it, with its IPs, MAC, tap interface (tap + 11 characters of the
    port ID), node (the binding host) and Calico's OpenStack labels:
      projectcalico.org/openstack-project-id, -project-name, -project-parent-id,
      projectcalico.org/openstack-network-name,
      sg.projectcalico.org/openstack-<security group ID>: <group name>
      sg-name.projectcalico.org/openstack-<group name>: <group ID>
  - every security group becomes the NetworkPolicy ossg.default.<group ID>
    selecting has(sg.projectcalico.org/openstack-<group ID>), with one Allow
    rule per group rule. It has no order, so operators' Calico policies that
    have one (GlobalNetworkPolicy with "order: 10", say) are always evaluated
    first and tenants cannot override them. A VM that no rule allows is denied.

The resources go to the namespace openstack-region-<--calico-region>, or
"openstack" without one. Each region's sync writes only its namespace, so run
one tabby-openstack per region, all against the same etcd, and write
GlobalNetworkPolicies that select VMs of several regions by their labels.

A sync reads the whole region before it writes anything: if Keystone or
Neutron fails, times out or answers nonsense, nothing is changed and the next
interval tries again. It only updates or deletes resources carrying the
annotation openstack.tabby-project.github.io/managed-by, so resources you
create in the namespace are left alone. Each sync compares everything, so
changes made while it was down are healed on start.

Credentials come from the OS_* variables your openrc or clouds.yaml export
(flags override them). The user needs the admin role (or reader on every
project) to list all ports and projects, as Calico's Neutron user does. An
application credential (OS_APPLICATION_CREDENTIAL_ID and _SECRET) can be used
instead of a password.

The datastore is etcd, configured as for calicoctl: ETCD_ENDPOINTS (default
` + defaultEtcdEndpoint + `, the embedded etcd of tabby-node), ETCD_CA_CERT_FILE,
ETCD_CERT_FILE, ETCD_KEY_FILE, ETCD_USERNAME and ETCD_PASSWORD.`,
		Example: `  # One region, every 30 s, with the variables of an openrc file
  source admin-openrc.sh
  ETCD_ENDPOINTS=http://10.0.0.5:2379 tabby-openstack --calico-region one

  # Two regions into one etcd
  OS_REGION_NAME=RegionOne tabby-openstack --calico-region one &
  OS_REGION_NAME=RegionTwo tabby-openstack --calico-region two &

  # One sync, then exit (for cron, or to check the credentials)
  tabby-openstack --calico-region one --once

  # An application credential and a private CA
  OS_AUTH_URL=https://keystone.example.com:5000/v3 \
  OS_APPLICATION_CREDENTIAL_ID=6cb5fa6a13184e6fab65ba2108adf50c \
  OS_APPLICATION_CREDENTIAL_SECRET=... OS_CACERT=/etc/ssl/cloud-ca.pem \
  tabby-openstack --calico-region west`,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runSync(cmd.Context(), e, o)
		},
	}
	f := cmd.Flags()
	c := &o.os
	for _, x := range []osFlag{
		{"os-auth-url", "OS_AUTH_URL", "Keystone identity endpoint, e.g. https://keystone:5000/v3", &c.AuthURL, false},
		{"os-username", "OS_USERNAME", "user name", &c.Username, false},
		{"os-user-id", "OS_USER_ID", "user ID (instead of the name)", &c.UserID, false},
		{"os-password", "OS_PASSWORD", "password", &c.Password, true},
		{"os-user-domain-name", "OS_USER_DOMAIN_NAME", "domain of the user (default: the default domain)", &c.UserDomainName, false},
		{"os-user-domain-id", "OS_USER_DOMAIN_ID", "domain ID of the user", &c.UserDomainID, false},
		{"os-project-name", "OS_PROJECT_NAME", "project to scope the token to", &c.ProjectName, false},
		{"os-project-id", "OS_PROJECT_ID", "project ID to scope the token to", &c.ProjectID, false},
		{"os-project-domain-name", "OS_PROJECT_DOMAIN_NAME", "domain of the project", &c.ProjectDomainName, false},
		{"os-project-domain-id", "OS_PROJECT_DOMAIN_ID", "domain ID of the project", &c.ProjectDomainID, false},
		{"os-application-credential-id", "OS_APPLICATION_CREDENTIAL_ID", "application credential ID", &c.ApplicationCredentialID, false},
		{"os-application-credential-name", "OS_APPLICATION_CREDENTIAL_NAME", "application credential name (with the user)", &c.ApplicationCredentialName, false},
		{"os-application-credential-secret", "OS_APPLICATION_CREDENTIAL_SECRET", "application credential secret", &c.ApplicationCredentialSecret, true},
		{"os-region-name", "OS_REGION_NAME", "region whose Neutron endpoint to use from the catalog", &c.RegionName, false},
		{"os-interface", "OS_INTERFACE", "catalog interface: public, internal or admin (default public)", &c.Interface, false},
		{"os-cacert", "OS_CACERT", "PEM file of the CA that signed the endpoints' certificates", &c.CACertFile, false},
	} {
		def, shown := e.getenv(x.env), e.getenv(x.env)
		if x.secret && shown != "" {
			shown = "(set)"
		}
		help := fmt.Sprintf("%s [$%s]", x.help, x.env)
		if shown != "" {
			help = fmt.Sprintf("%s [$%s: %s]", x.help, x.env, shown)
		}
		f.StringVar(x.dst, x.name, def, help)
		// The value is in the help already, masked when secret.
		f.Lookup(x.name).DefValue = ""
	}
	f.StringVar(&o.calicoRegion, "calico-region", e.getenv("TABBY_CALICO_REGION"),
		"region string of the Calico namespace openstack-region-<region>; empty writes to \"openstack\" "+
			"(as networking-calico's [calico] openstack_region) [$TABBY_CALICO_REGION]")
	f.DurationVar(&o.interval, "interval", openstack.DefaultInterval, "how often to poll Neutron: the bound on how late a change reaches the datastore")
	f.BoolVar(&o.once, "once", false, "sync once and exit (status 1 if the sync failed)")
	f.DurationVar(&o.os.Timeout, "timeout", openstack.DefaultTimeout, "timeout of each OpenStack request")
	return cmd
}

// etcdConfig reads the datastore configuration from the environment, as
// calicoctl does, defaulting to the embedded etcd's URL.
func etcdConfig(getenv func(string) string) (etcd.Config, error) {
	cfg, err := etcd.ConfigFromEnv(getenv)
	if err != nil {
		return etcd.Config{}, fmt.Errorf("%w (%s)", err, "tabby-openstack writes to etcdv3 only")
	}
	if len(cfg.Endpoints) == 0 {
		cfg.Endpoints = []string{defaultEtcdEndpoint}
	}
	return cfg, nil
}

func runSync(ctx context.Context, e env, o options) error {
	if err := openstack.CheckRegion(o.calicoRegion); err != nil {
		return err
	}
	client, err := openstack.NewClient(o.os)
	if err != nil {
		return err
	}
	ecfg, err := etcdConfig(e.getenv)
	if err != nil {
		return err
	}
	store, err := etcd.Open(ctx, ecfg)
	if err != nil {
		return fmt.Errorf("open the datastore: %w", err)
	}
	defer store.Close()
	log := slog.New(slog.NewTextHandler(e.stderr, nil))
	s, err := openstack.NewSyncer(openstack.SyncConfig{Source: client, Store: store, Region: o.calicoRegion,
		Interval: o.interval, Logger: log})
	if err != nil {
		return err
	}
	if !o.once {
		log.Info("syncing", "namespace", s.Namespace(), "interval", o.interval, "keystone", o.os.AuthURL)
		return s.Run(ctx)
	}
	res, err := s.SyncOnce(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%s: %d created, %d updated, %d deleted, %d unchanged, %d skipped (%v)\n", s.Namespace(),
		res.Created, res.Updated, res.Deleted, res.Unchanged, len(res.Problems), res.Duration.Round(time.Millisecond))
	for _, p := range res.Problems {
		fmt.Fprintf(e.stdout, "  skipped %s\n", p)
	}
	for _, k := range res.Foreign {
		fmt.Fprintf(e.stdout, "  not overwriting %s: it exists and Tabby did not create it\n", k)
	}
	return nil
}
