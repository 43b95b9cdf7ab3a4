package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	v3 "github.com/tabby-project/tabby/api/v3"
	"github.com/tabby-project/tabby/datastore"
)

// writeHelp is the part of the help of create, apply and replace that they
// share.
const writeHelp = `
The input is -f FILE, -f DIRECTORY (its .yaml, .yml and .json files; -R
for subdirectories too) or -f - for standard input: YAML (documents
separated by "---") or JSON, one or many resources of any kinds, and
<Kind>List documents.

Every document is decoded, defaulted and validated before anything is
written: if any document of any file has a problem, every problem is listed
(file, document, resource, field) and the datastore is not touched.

Resources are then written in the order they were read, many per etcd
transaction. If one cannot be written, the command stops there and says
how many were: "Partial success: <verb> the first N out of M resources",
then the error. Re-running the command after fixing the cause continues
where it stopped (apply is idempotent).

A namespaced resource without a namespace takes the one given with -n, or
"default"; one with another namespace than -n is an error.

Before writing, the well-known tiers (default, kube-admin, kube-baseline)
are created if missing, as Calico's calicoctl does. A policy can only be
created in a tier that exists (or is created earlier in the same input).

The datastore is configured by -c FILE (default /etc/calico/calicoctl.cfg,
a CalicoAPIConfig) or, without that file, by the environment:
DATASTORE_TYPE=etcdv3, ETCD_ENDPOINTS (default http://127.0.0.1:2379, the
embedded etcd of tabby-node), ETCD_CA_CERT_FILE, ETCD_CERT_FILE,
ETCD_KEY_FILE, ETCD_USERNAME, ETCD_PASSWORD.

Exit status: 0 when every resource was written, 1 otherwise.`

func newCreateCommand(s streams) *cobra.Command {
	var (
		c          crudFlags
		skipExists bool
	)
	cmd := &cobra.Command{
		Use:   "create -f FILENAME",
		Short: "Create resources by file, directory or stdin",
		Long: `Create the resources of the given files in the datastore. A resource that
already exists is an error, unless --skip-exists is given, which skips it
(and counts it as handled).
` + writeHelp,
		Example: `  # Create the policies of a file
  calicoctl create -f policies.yaml

  # Create what is missing from a directory tree, leaving existing resources alone
  calicoctl create -f policies/ -R --skip-exists`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runWrite(cmd, s, c, verbCreate, skipExists)
		},
	}
	c.add(cmd.Flags(), "create")
	cmd.Flags().BoolVar(&skipExists, "skip-exists", false, "skip resources that already exist")
	return cmd
}

func newApplyCommand(s streams) *cobra.Command {
	var c crudFlags
	cmd := &cobra.Command{
		Use:   "apply -f FILENAME",
		Short: "Create or replace resources by file, directory or stdin",
		Long: `Apply the resources of the given files: create those that do not exist and
replace those that do. A replaced resource keeps its uid and
creationTimestamp; its labels and annotations are the stored ones with
those of the file added (as in Calico, apply never removes a label; use
calicoctl label --remove). A resourceVersion in the file makes the
replacement conditional: it fails with "update conflict" if the resource
changed since.
` + writeHelp,
		Example: `  # Apply a file
  calicoctl apply -f policy.yaml

  # Apply from standard input into the "prod" namespace
  cat policy.yaml | calicoctl apply -f - -n prod`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runWrite(cmd, s, c, verbApply, false)
		},
	}
	c.add(cmd.Flags(), "apply")
	return cmd
}

func newReplaceCommand(s streams) *cobra.Command {
	var c crudFlags
	cmd := &cobra.Command{
		Use:   "replace -f FILENAME",
		Short: "Replace existing resources by file, directory or stdin",
		Long: `Replace resources that exist with the versions in the given files. A
resource that does not exist is an error ("resource does not exist"). With
a resourceVersion in the file, the replacement fails with "update conflict"
if the resource changed since that version; without one, it replaces
whatever is stored.
` + writeHelp,
		Example: `  # Edit a policy safely: fetch it with its resourceVersion, change it, replace it
  calicoctl get networkpolicy allow-web -n prod -o yaml > p.yaml
  vi p.yaml
  calicoctl replace -f p.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runWrite(cmd, s, c, verbReplace, false)
		},
	}
	c.add(cmd.Flags(), "replace")
	return cmd
}

// runWrite runs create, apply or replace.
func runWrite(cmd *cobra.Command, s streams, c crudFlags, v verb, skipExists bool) error {
	knpOp := "create or apply"
	if v == verbReplace {
		knpOp = "apply or replace"
	}
	objs, err := loadFiles(s.in, c, false, checkWrite, knpOp)
	if err != nil {
		return reportLoadError(s, err, true)
	}
	if len(objs) == 0 {
		fmt.Fprintln(s.out, "No resources specified")
		return nil
	}
	ctx := cmd.Context()
	store, err := connect(ctx, s, c.config)
	if err != nil {
		return err
	}
	defer store.Close()
	ensureInitialized(ctx, store)
	res := newWriter(store, v, skipExists).write(ctx, objs)
	return reportWrite(s, v, objs, res)
}

// reportLoadError prints why the input could not be used, as calicoctl
// does; for a write, it adds that nothing was changed.
func reportLoadError(s streams, err error, write bool) error {
	var pe *problemsError
	var ee *emptyInputError
	switch {
	case errors.As(err, &pe):
		for _, p := range pe.problems {
			fmt.Fprintln(s.err, p)
		}
		suffix := ""
		if write {
			suffix = "; no resource was changed"
		}
		return failf(s, "failed to execute command: %d problem(s) in %d file(s)%s", len(pe.problems), pe.files, suffix)
	case errors.As(err, &ee):
		return failf(s, "%s", ee.msg)
	}
	return failf(s, "failed to execute command: %v", err)
}

// reportWrite prints the outcome of a write with calicoctl's messages.
func reportWrite(s streams, v verb, objs []v3.Object, res outcome) error {
	kind := singleKind(objs)
	total := len(objs)
	if res.err == nil {
		if kind != "" {
			fmt.Fprintf(s.out, "Successfully %s %d '%s' resource(s)\n", v.past(), res.done, kind)
		} else {
			fmt.Fprintf(s.out, "Successfully %s %d resource(s)\n", v.past(), res.done)
		}
		return nil
	}
	err := res.err
	if res.unknown > 0 {
		err = fmt.Errorf("%w (the datastore did not confirm the transaction holding the next %d resource(s), from %v on: "+
			"they may or may not have been %s; check with calicoctl get)", err, res.unknown, v3.KeyOf(objs[res.done]), v.past())
	}
	// Calico reports create and apply errors as a list, replace's as one.
	detail := fmt.Sprintf("[%v]", err)
	if v == verbReplace {
		detail = err.Error()
	}
	if res.done == 0 {
		switch {
		case total == 1:
			return failf(s, "failed to %s '%s' resource: %s", v, kind, detail)
		case kind != "":
			return failf(s, "failed to %s any '%s' resources: %s", v, kind, detail)
		}
		return failf(s, "failed to %s any resources: %s", v, detail)
	}
	if kind != "" {
		fmt.Fprintf(s.out, "Partial success: %s the first %d out of %d '%s' resources:\n", v.past(), res.done, total, kind)
	} else {
		fmt.Fprintf(s.out, "Partial success: %s the first %d out of %d resources:\n", v.past(), res.done, total)
	}
	return failf(s, "hit error: %s", detail)
}

// isResourceError reports whether err concerns one resource (as opposed to
// the datastore as a whole).
func isResourceError(err error) bool {
	var re *datastore.ResourceError
	return errors.As(err, &re)
}
