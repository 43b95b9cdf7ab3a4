package main

import (
	"errors"
	"fmt"
	"sort"
	"strconv"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/tabby-project/tabby/api/v3"
)

// getOptions are the flags of calicoctl get.
type getOptions struct {
	crudFlags
	output        string
	allNamespaces bool
	// allNamespacesCompat is -a, the spelling docopt-era calicoctl took.
	allNamespacesCompat bool
	export              bool
}

func newGetCommand(s streams) *cobra.Command {
	var o getOptions
	cmd := &cobra.Command{
		Use:   "get ( KIND [NAME...] | -f FILENAME )",
		Short: "Get resources by kind and name, or by file, directory or stdin",
		Long: `Print resources of the datastore. KIND is a resource type, in any case,
singular, plural or abbreviated as calicoctl accepts it (networkpolicy,
networkpolicies, policy, np, gnp, tier, hep, wep, netsets, ...). With names,
those resources are printed, and a missing one is an error; without, every
resource of the kind is listed (an empty list is not an error). With -f,
the resources named by the files' documents are printed.

A namespaced kind is read in the namespace given with -n, "default" without
it, or every namespace with -A (-A cannot be combined with a name).

Output formats (-o):
  ps (default)            a table of the kind's main columns (NAMESPACE first with -n or -A)
  wide                    a table with more columns
  custom-columns=A,B,...  a table of the named columns (as headed by ps and wide)
  yaml | yml, json        the resources; a listing is a <Kind>List with the datastore revision
  go-template=TEMPLATE    a Go template executed on the list of results, with the
  go-template-file=FILE   functions join and joinAndTruncate

--export leaves out the namespace, uid, resourceVersion and creationTimestamp
of named resources, so that the output can be applied elsewhere.

Exit status: 0 when everything asked for was printed, 1 otherwise.`,
		Example: `  # List the policies of namespace "prod", then of every namespace, with their order and selector
  calicoctl get networkpolicies -n prod
  calicoctl get np -A -o wide

  # Print one policy as YAML
  calicoctl get np allow-web -n prod -o yaml

  # Names of every global policy, one per line
  calicoctl get gnp -o go-template='{{range .}}{{range .Items}}{{.ObjectMeta.Name}}{{"\n"}}{{end}}{{end}}'`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runGet(cmd, s, o, args)
		},
	}
	f := cmd.Flags()
	o.crudFlags.add(f, "get")
	f.StringVarP(&o.output, "output", "o", "ps", "output format: ps, wide, custom-columns=..., yaml, json, go-template=..., go-template-file=...")
	f.BoolVarP(&o.allNamespaces, "all-namespaces", "A", false, "list the resources of every namespace")
	f.BoolVarP(&o.allNamespacesCompat, "all-namespaces-compat", "a", false, "the same as -A")
	if err := f.MarkHidden("all-namespaces-compat"); err != nil {
		// The flag is defined just above; failing to find it is a bug.
		panic(err)
	}
	f.BoolVar(&o.export, "export", false, "leave out cluster-specific metadata of named resources")
	return cmd
}

func runGet(cmd *cobra.Command, s streams, o getOptions, args []string) error {
	allNamespaces := o.allNamespaces || o.allNamespacesCompat
	p, err := newPrinter(o.output, allNamespaces || o.namespace != "")
	if err != nil {
		return failf(s, "%v", err)
	}
	var targets []v3.Object
	var resErrs []error
	switch {
	case o.filename != "" && len(args) > 0:
		return failf(s, "failed to get resources: give either KIND [NAME...] or -f FILENAME, not both")
	case o.filename != "":
		if targets, err = loadFiles(s.in, o.crudFlags, allNamespaces, checkIdentity, ""); err != nil {
			return reportLoadError(s, err, false)
		}
	case len(args) == 0:
		return failf(s, "failed to get resources: no resource type given: name a KIND (such as networkpolicy) or give -f FILENAME")
	default:
		stubs, err := argResources(args[0], args[1:], o.namespace)
		if err != nil {
			return failf(s, "failed to get resources: %v", err)
		}
		for _, obj := range stubs {
			info, _ := v3.LookupKind(v3.KindOf(obj))
			if err := handleNamespace(obj, info, o.namespace, allNamespaces); err != nil {
				resErrs = append(resErrs, err)
				continue
			}
			targets = append(targets, obj)
		}
	}
	ctx := cmd.Context()
	var results []v3.Object
	if len(targets) > 0 {
		store, err := connect(ctx, s, o.config)
		if err != nil {
			return err
		}
		defer store.Close()
		for _, t := range targets {
			info, _ := v3.LookupKind(v3.KindOf(t))
			key := v3.KeyOf(t)
			if key.Name == "" {
				l, err := store.List(ctx, info.Kind, key.Namespace)
				if err != nil {
					resErrs = append(resErrs, err)
					continue
				}
				if info.Kind == v3.KindTier {
					sortTiers(l.Items)
				}
				list := v3.NewList(info.Kind, append([]v3.Object{}, l.Items...))
				list.SetResourceVersion(strconv.FormatInt(l.Revision, 10))
				results = append(results, list)
				continue
			}
			if info.Namespaced && key.Namespace == "" {
				resErrs = append(resErrs, errors.New("cannot use --all-namespace flag for getting a single resource"))
				continue
			}
			obj, err := store.Get(ctx, key)
			if err != nil {
				resErrs = append(resErrs, err)
				continue
			}
			if o.export {
				exportMeta(obj)
			}
			results = append(results, obj)
		}
	}
	if err := p.print(s.out, results); err != nil {
		return failf(s, "%v", err)
	}
	if len(resErrs) > 0 {
		for _, err := range resErrs {
			fmt.Fprintln(s.err, err)
		}
		return &exitError{code: 1}
	}
	return nil
}

// sortTiers orders tiers as calicoctl lists them: by order, tiers without
// one last, ties in the order given (by name).
func sortTiers(tiers []v3.Object) {
	order := func(o v3.Object) *float64 {
		if t, ok := o.(*v3.Tier); ok {
			return t.Spec.Order
		}
		return nil
	}
	sort.SliceStable(tiers, func(i, j int) bool {
		a, b := order(tiers[i]), order(tiers[j])
		switch {
		case a == nil:
			return false
		case b == nil:
			return true
		}
		return *a < *b
	})
}

// exportMeta removes what ties a resource to one datastore, as get --export
// does.
func exportMeta(obj v3.Object) {
	obj.SetNamespace("")
	obj.SetUID("")
	obj.SetResourceVersion("")
	obj.SetCreationTimestamp(metav1.Time{})
	obj.SetDeletionTimestamp(nil)
	obj.SetDeletionGracePeriodSeconds(nil)
}
