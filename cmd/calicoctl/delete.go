package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	v3 "github.com/tabby-project/tabby/api/v3"
	"github.com/tabby-project/tabby/datastore"
)

func newDeleteCommand(s streams) *cobra.Command {
	var (
		c             crudFlags
		skipNotExists bool
	)
	cmd := &cobra.Command{
		Use:   "delete ( KIND NAME... | -f FILENAME )",
		Short: "Delete resources by kind and name, or by file, directory or stdin",
		Long: `Delete resources from the datastore, named on the command line (KIND as
calicoctl spells it: networkpolicy, np, gnp, tier, hep, ...) or by the
documents of files (-f FILE, -f DIRECTORY, -f -). A resourceVersion in a
document makes its deletion conditional: it fails with "update conflict"
if the resource changed since.

Every resource is attempted: the command prints how many were deleted, then
each failure. A resource that does not exist is a failure, unless
-s/--skip-not-exists is given, which counts it as deleted.

A namespaced kind is deleted from the namespace given with -n, or
"default".

Exit status: 0 when every resource was deleted (or skipped), 1 otherwise.`,
		Example: `  # Delete two policies of namespace "prod"
  calicoctl delete networkpolicy allow-web allow-db -n prod

  # Delete what a file created, ignoring what is already gone
  calicoctl delete -f policies.yaml --skip-not-exists`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDelete(cmd, s, c, skipNotExists, args)
		},
	}
	c.add(cmd.Flags(), "delete")
	cmd.Flags().BoolVarP(&skipNotExists, "skip-not-exists", "s", false, "skip resources that do not exist")
	return cmd
}

func runDelete(cmd *cobra.Command, s streams, c crudFlags, skipNotExists bool, args []string) error {
	var (
		targets []v3.Object
		resErrs []error
		err     error
	)
	switch {
	case c.filename != "" && len(args) > 0:
		return failf(s, "give either KIND NAME... or -f FILENAME, not both")
	case c.filename != "":
		if targets, err = loadFiles(s.in, c, false, checkIdentity, "delete"); err != nil {
			return reportLoadError(s, err, true)
		}
		if len(targets) == 0 {
			fmt.Fprintln(s.out, "No resources specified")
			return nil
		}
	case len(args) == 0:
		return failf(s, "no resource type given: name a KIND and NAMEs, or give -f FILENAME")
	default:
		stubs, err := argResources(args[0], args[1:], c.namespace)
		if err != nil {
			return failf(s, "%v", err)
		}
		if len(args) == 1 {
			return failf(s, "No resources specified")
		}
		for _, obj := range stubs {
			info, _ := v3.LookupKind(v3.KindOf(obj))
			switch err := handleNamespace(obj, info, c.namespace, false); {
			case err != nil:
				resErrs = append(resErrs, err)
			case isKubernetesPolicy(obj):
				resErrs = append(resErrs, kubernetesPolicyError("delete", obj))
			default:
				targets = append(targets, obj)
			}
		}
	}
	kind := ""
	if len(args) > 0 {
		info, _ := v3.LookupKind(args[0])
		kind = info.Kind
	} else {
		kind = singleKind(targets)
	}
	deleted := 0
	if len(targets) > 0 {
		ctx := cmd.Context()
		store, err := connect(ctx, s, c.config)
		if err != nil {
			return err
		}
		defer store.Close()
		n, errs := deleteAll(ctx, store, targets, skipNotExists)
		deleted, resErrs = n, append(resErrs, errs...)
	}
	if deleted > 0 {
		if kind != "" {
			fmt.Fprintf(s.out, "Successfully deleted %d '%s' resource(s)\n", deleted, kind)
		} else {
			fmt.Fprintf(s.out, "Successfully deleted %d resource(s)\n", deleted)
		}
	}
	if len(resErrs) == 0 {
		return nil
	}
	for _, err := range resErrs {
		if kind != "" {
			fmt.Fprintf(s.err, "Failed to delete '%s' resource: %v\n", kind, err)
		} else {
			fmt.Fprintf(s.err, "Failed to delete resource: %v\n", err)
		}
	}
	return &exitError{code: 1}
}

// deleteAll deletes targets (conditionally on their resourceVersion, if
// any), many per transaction; when a transaction is refused, its
// resources are deleted one by one so that each failure is reported and
// the others still happen, as calicoctl does. It returns how many were
// deleted (or skipped because missing, with skipNotExists) and the errors
// of the others.
func deleteAll(ctx context.Context, store datastore.Store, targets []v3.Object, skipNotExists bool) (int, []error) {
	var errs []error
	deleted, limit := 0, initialChunk
	for i := 0; i < len(targets); {
		chunk := nextChunk(targets[i:], limit)
		ops := make([]datastore.Op, len(chunk))
		for j, t := range chunk {
			ops[j] = datastore.DeleteOp(v3.KeyOf(t), t.GetResourceVersion())
		}
		_, err := store.Txn(ctx, ops)
		switch {
		case err == nil:
			deleted += len(chunk)
		case errors.Is(err, datastore.ErrTooLarge) && len(chunk) > 1:
			limit = max(1, len(chunk)/2)
			continue
		case isResourceError(err):
			for _, op := range ops {
				_, err := store.Delete(ctx, op.Key, op.ResourceVersion)
				switch {
				case err == nil, skipNotExists && errors.Is(err, datastore.ErrNotFound):
					deleted++
				default:
					errs = append(errs, err)
				}
			}
		default:
			// The datastore stopped answering: whether this transaction
			// happened is unknown, and the rest would fail the same way.
			return deleted, append(errs, fmt.Errorf("%w (the datastore did not confirm the deletion of %d resource(s) from %v on; "+
				"they may or may not have been deleted: check with calicoctl get)", err, len(targets)-i, v3.KeyOf(chunk[0])))
		}
		i += len(chunk)
	}
	return deleted, errs
}
