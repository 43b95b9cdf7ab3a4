package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	v3 "github.com/tabby-project/tabby/api/v3"
	"github.com/tabby-project/tabby/datastore"
)

// labelOptions are the flags of calicoctl label.
type labelOptions struct {
	overwrite, remove    bool
	config, namespace    string
	context              string
	allowVersionMismatch bool
}

// labelAttempts bounds how often label re-reads a resource that another
// writer changed between its read and its update.
const labelAttempts = 5

func newLabelCommand(s streams) *cobra.Command {
	var o labelOptions
	cmd := &cobra.Command{
		Use:   "label KIND NAME ( KEY=VALUE [--overwrite] | KEY --remove )",
		Short: "Add, update or remove a label of a resource",
		Long: `Set or remove one label of an existing resource's metadata.

KEY=VALUE sets the label; if the resource already has the key with another
value, --overwrite is needed. KEY --remove removes the label, which must
exist. The new labels are validated as any resource's, and the resource is
updated only if nobody changed it meanwhile (the command re-reads and tries
again if someone did).

A namespaced kind is labelled in the namespace given with -n, or "default".

Exit status: 0 when the label was set or removed, 1 otherwise.`,
		Example: `  # Label a host endpoint
  calicoctl label hostendpoint eth0.host1 environment=production

  # Change it
  calicoctl label hostendpoint eth0.host1 environment=staging --overwrite

  # Remove it
  calicoctl label hostendpoint eth0.host1 environment --remove`,
		Args: cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runLabel(cmd, s, o, args[0], args[1], args[2])
		},
	}
	f := cmd.Flags()
	addConfigFlag(f, &o.config)
	f.StringVarP(&o.namespace, "namespace", "n", "", `namespace of a namespaced resource (default "default")`)
	f.BoolVar(&o.overwrite, "overwrite", false, "replace the value of a label the resource already has")
	f.BoolVar(&o.remove, "remove", false, "remove the label KEY")
	addCompatFlags(f, &o.context, &o.allowVersionMismatch)
	return cmd
}

func runLabel(cmd *cobra.Command, s streams, o labelOptions, kind, name, arg string) error {
	key, value := arg, ""
	if !o.remove {
		var ok bool
		if key, value, ok = strings.Cut(arg, "="); !ok {
			return failf(s, "invalid label %s", arg)
		}
	}
	stubs, err := argResources(kind, []string{name}, o.namespace)
	if err != nil {
		return failf(s, "%v", err)
	}
	target := stubs[0]
	info, _ := v3.LookupKind(v3.KindOf(target))
	if err := handleNamespace(target, info, o.namespace, false); err != nil {
		return failf(s, "failed to get %s %s, error %v", kind, name, err)
	}
	ctx := cmd.Context()
	store, err := connect(ctx, s, o.config)
	if err != nil {
		return err
	}
	defer store.Close()
	for attempt := 1; ; attempt++ {
		obj, err := store.Get(ctx, v3.KeyOf(target))
		switch {
		case errors.Is(err, datastore.ErrNotFound):
			return failf(s, "%s %s not found", kind, name)
		case err != nil:
			return failf(s, "failed to get %s %s, error %v", kind, name, err)
		}
		labels := make(map[string]string, len(obj.GetLabels())+1)
		for k, v := range obj.GetLabels() {
			labels[k] = v
		}
		old, had := labels[key]
		switch {
		case o.remove && !had:
			return failf(s, "cannot remove label of %s %s, key %s does not exist", kind, name, key)
		case o.remove:
			delete(labels, key)
		case had && old != value && !o.overwrite:
			return failf(s, "failed to update label of %s %s, key %s is already present. please use '--overwrite' to set a new value", kind, name, key)
		default:
			labels[key] = value
		}
		if len(labels) == 0 {
			labels = nil
		}
		obj.SetLabels(labels)
		if err := v3.Validate(obj); err != nil {
			return failf(s, "failed to update %s %s, label not changed: %v", kind, name, err)
		}
		_, err = store.Update(ctx, obj)
		if errors.Is(err, datastore.ErrConflict) && attempt < labelAttempts {
			continue
		}
		if err != nil {
			return failf(s, "failed to update %s %s, label not changed: %v", kind, name, err)
		}
		switch {
		case o.remove:
			fmt.Fprintf(s.out, "Successfully removed label %s from %s %s\n", key, kind, name)
		case had:
			fmt.Fprintf(s.out, "Successfully updated label %s on %s %s\n", key, kind, name)
		default:
			fmt.Fprintf(s.out, "Successfully set label %s on %s %s\n", key, kind, name)
		}
		return nil
	}
}
