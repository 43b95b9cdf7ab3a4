package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tabby-project/tabby/analysis"
)

// lintOptions are the flags of calicoctl policy lint.
type lintOptions struct {
	analysisFlags
	failOn string
}

// lintFindingsExit is the exit status of a lint that found something at
// or above --fail-on; loading problems end with status 1 as elsewhere.
const lintFindingsExit = 3

func newPolicyLintCommand(s streams) *cobra.Command {
	var o lintOptions
	cmd := &cobra.Command{
		Use:   "lint [-f FILENAME] [--fail-on warning|error] [-o text|json]",
		Short: "Find policy mistakes: dead selectors, unreachable rules, tiers that deny by accident",
		Long: `Check the policies for mistakes that validation cannot see, because each
resource is valid on its own:

  selector-matches-nothing     a policy selects no endpoint (warning), a rule's
                               selector matches no endpoint or network set (info)
  shadowed-rule                an earlier rule of the policy, or of an earlier policy
                               of the tier applying to every endpoint this one
                               applies to, matches all the rule matches and decides
                               first: the rule is never reached (warning)
  allow-before-deny            the same, an Allow before a Deny: the Deny never
                               denies anything (warning)
  log-or-pass-only-tier        the policies of a tier that apply to an endpoint only
                               Log or Pass, so the rest ends in the tier's implicit
                               deny (error when they only Log, else warning)
  unknown-named-port           a rule names a port no endpoint declares (warning)
  direction-without-rules      a policy's types include a direction it has no rules
                               for: it denies that direction (warning; meant only
                               for a default deny)
  rules-without-direction      a policy has rules for a direction its types leave
                               out: they are never used (warning)
  http-rule-needs-proxy        an HTTP rule, which only tabby-authz enforces (info)

Shadowing is reported only when certain: every condition of the earlier rule is
absent from the later one or the same (nets and port ranges may contain). The
selector checks are skipped when the input holds no endpoint.

Each finding names its severity, resource, field path and check. The command
exits with status 3 when a finding at or above --fail-on exists (default
error; "none" never fails), so that CI pipelines can gate on it.`,
		Example: `  # Lint the policies of the datastore
  calicoctl policy lint

  # Lint files in CI, failing on warnings too
  calicoctl policy lint -f policies/ -f endpoints.yaml --fail-on warning

  # Findings as JSON
  calicoctl policy lint -f examples/seeds/ -o json`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := checkOutput(o.output); err != nil {
				return err
			}
			failOn := analysis.Error + 1
			if !strings.EqualFold(o.failOn, "none") {
				sev, err := analysis.ParseSeverity(o.failOn)
				if err != nil {
					return fmt.Errorf("--fail-on: %w", err)
				}
				failOn = sev
			}
			m, err := loadModel(c.Context(), s, o.analysisFlags)
			if err != nil {
				return err
			}
			rep := m.Lint()
			if err := printResult(s.out, o.output, rep); err != nil {
				return err
			}
			if n := rep.Count(failOn); n > 0 {
				fmt.Fprintf(s.err, "%d finding(s) at or above %s\n", n, failOn)
				return &exitError{code: lintFindingsExit}
			}
			return nil
		},
	}
	o.add(cmd.Flags())
	cmd.Flags().StringVar(&o.failOn, "fail-on", "error", "exit with status 3 when a finding of this severity or higher exists: info, warning, error or none")
	return cmd
}
