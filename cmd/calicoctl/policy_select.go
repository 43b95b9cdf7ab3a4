package main

import (
	"github.com/spf13/cobra"
)

func newPolicySelectCommand(s streams) *cobra.Command {
	var o analysisFlags
	cmd := &cobra.Command{
		Use:   "select POLICY [-n NAMESPACE] -f FILENAME",
		Short: "Show the endpoints a policy applies to and what each of its rules matches",
		Long: `Show what a policy does to the endpoints at hand: its tier, order and the
directions it governs; its effective selector (scoped to its namespace as Felix
scopes it) and every endpoint it applies to; then, rule by rule, what the source
and destination match: the endpoints and network sets of each selector, the nets
and the ports.

POLICY is named as calicoctl names it: a NetworkPolicy of the namespace given
with -n ("default" without it), or a GlobalNetworkPolicy, or a staged one. When
a name is both, put the kind first: "gnp/NAME", "np/NAME" or any calicoctl
alias. The tier prefix Calico 3.29-3.31 wrote into policy names is optional:
"security.allow-dns" and "allow-dns" in tier security name the same policy, and
a Kubernetes NetworkPolicy is found by its own name as well as by its Calico
one (knp.default.NAME).`,
		Example: `  # Which endpoints does the global policy deny-blue apply to, and which does it deny?
  calicoctl policy select deny-blue -f examples/seeds/

  # A namespaced policy, as JSON
  calicoctl policy select allow-tcp-6379 -n production -f examples/seeds/ -o json

  # A Kubernetes NetworkPolicy of the demo, by its Kubernetes name
  calicoctl policy select default-deny -n y -f examples/demo/`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if err := checkOutput(o.output); err != nil {
				return err
			}
			m, err := loadModel(c.Context(), s, o)
			if err != nil {
				return err
			}
			sel, err := m.Select(args[0], o.namespace)
			if err != nil {
				return err
			}
			return printResult(s.out, o.output, sel)
		},
	}
	o.add(cmd.Flags())
	o.addNamespace(cmd.Flags(), "the policy")
	return cmd
}

func newPolicyForCommand(s streams) *cobra.Command {
	var o analysisFlags
	cmd := &cobra.Command{
		Use:   "for ENDPOINT [-n NAMESPACE] -f FILENAME",
		Short: "Show the tiers, policies and profiles that apply to an endpoint, in order",
		Long: `Show everything that decides the traffic of one endpoint, in the order Felix
evaluates it: for ingress and for egress, the tiers with at least one policy
that applies, each with its applicable policies in order, then the profiles
consulted when no tier decides. Host endpoints also show their doNotTrack,
preDNAT and applyOnForward policies.

ENDPOINT is "namespace/pod" (or namespace/workload) for a workload, a name for
a host endpoint or for a workload of the namespace given with -n, or an IP
address the endpoint holds.`,
		Example: `  # What applies to pod a of namespace x?
  calicoctl policy for x/a -f examples/demo/

  # The same by address, as JSON
  calicoctl policy for 10.100.1.1 -f examples/demo/ -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if err := checkOutput(o.output); err != nil {
				return err
			}
			m, err := loadModel(c.Context(), s, o)
			if err != nil {
				return err
			}
			res, err := m.For(args[0], o.namespace)
			if err != nil {
				return err
			}
			return printResult(s.out, o.output, res)
		},
	}
	o.add(cmd.Flags())
	o.addNamespace(cmd.Flags(), "the endpoint")
	return cmd
}
