package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	v3 "github.com/tabby-project/tabby/api/v3"
)

// validateOptions are the flags of calicoctl validate.
type validateOptions struct {
	filename  string
	recursive bool
	skipEmpty bool
	namespace string
}

func newValidateCommand(s streams) *cobra.Command {
	var o validateOptions
	cmd := &cobra.Command{
		Use:   "validate -f FILENAME",
		Short: "Check resource files without contacting a datastore",
		Long: `Check that every resource in the given files is a valid projectcalico.org/v3
resource, exactly as calicoctl create or apply would check it, without
contacting a datastore.

Each document is decoded strictly (an unknown or misspelt field is an error,
named with its full path), completed with the defaults Calico fills in (the
policy types from the rules present, the default tier...), and validated
against Calico's rules. A namespaced resource without a namespace gets the
one given with -n, or "default"; -n is an error for a global resource.

Every problem of every file is reported, one per line:

  FILE: document N (KIND NAMESPACE/NAME): FIELD PATH: "BAD VALUE" REASON

Documents of a Kubernetes API (a networking.k8s.io/v1 NetworkPolicy, for
instance) are not Calico resources: they are skipped with a note.

When every resource is valid, the command prints Calico's summary,
"Successfully validated N 'KIND' resource(s)" (or "N resource(s)" when
the kinds differ), and exits 0. Otherwise it prints every problem, then
"Validation failed: N problem(s) in M file(s)", and exits 1. Input without
resources is an error unless --skip-empty is given.`,
		Example: `  # Validate one file
  calicoctl validate -f policy.yaml

  # Validate the .yaml, .yml and .json files of a directory and its subdirectories
  calicoctl validate -f policies/ -R

  # Validate a policy from standard input, placing namespaced resources in "production"
  cat policy.yaml | calicoctl validate -f - -n production`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			return runValidate(s, o)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.filename, "filename", "f", "", `file or directory holding the resources, or "-" for standard input`)
	f.BoolVarP(&o.recursive, "recursive", "R", false, "with a directory, also read the files of its subdirectories")
	f.BoolVar(&o.skipEmpty, "skip-empty", false, "do not fail when the files hold no resources")
	f.StringVarP(&o.namespace, "namespace", "n", "", `namespace for namespaced resources that name none (default "default")`)
	if err := cmd.MarkFlagRequired("filename"); err != nil {
		// The flag is defined just above; failing to find it is a bug.
		panic(err)
	}
	return cmd
}

// validateReport is what calicoctl validate found.
type validateReport struct {
	resources int      // resources decoded and checked
	kind      string   // the kind of every resource, or "" if they differ
	problems  []string // one line per problem
	notes     []string // documents skipped, and why
	empty     []string // files without any document
}

func runValidate(s streams, o validateOptions) error {
	files, err := readInputs(s.in, o.filename, o.recursive)
	if err != nil {
		return err
	}
	var r validateReport
	for _, f := range files {
		r.file(f, o.namespace)
	}
	for _, n := range r.notes {
		fmt.Fprintln(s.err, n)
	}
	if !o.skipEmpty {
		for _, name := range r.empty {
			r.problems = append(r.problems, "No resources specified in file "+name)
		}
	}
	if len(r.problems) > 0 {
		for _, p := range r.problems {
			fmt.Fprintln(s.err, p)
		}
		fmt.Fprintf(s.err, "Validation failed: %d problem(s) in %d file(s)\n", len(r.problems), len(files))
		return &exitError{code: 1}
	}
	switch {
	case r.resources == 0:
		fmt.Fprintln(s.out, "No resources specified")
	case r.kind != "":
		fmt.Fprintf(s.out, "Successfully validated %d '%s' resource(s)\n", r.resources, r.kind)
	default:
		fmt.Fprintf(s.out, "Successfully validated %d resource(s)\n", r.resources)
	}
	return nil
}

// file decodes, defaults and validates every document of f.
func (r *validateReport) file(f inputFile, namespace string) {
	docs, err := v3.DecodeDocuments(f.data)
	var de *v3.DecodeError
	switch {
	case errors.As(err, &de):
		for _, p := range de.Problems {
			if errors.Is(p, v3.ErrKubernetesResource) {
				r.notes = append(r.notes, fmt.Sprintf("Note: %s: document %d (%s): skipped: a Kubernetes resource, not a Calico one",
					f.name, p.Document, v3.ResourceID(p.Kind, p.Namespace, p.Name)))
				continue
			}
			r.problems = append(r.problems, f.name+": "+p.Error())
		}
	case err != nil:
		r.problems = append(r.problems, f.name+": "+err.Error())
	case len(docs) == 0:
		r.empty = append(r.empty, f.name)
	}
	for _, d := range docs {
		obj := d.Object
		r.count(v3.KindOf(obj))
		if err := validateNamespace(obj, namespace); err != nil {
			r.problems = append(r.problems, fmt.Sprintf("%s: %s (%s): %v",
				f.name, d, v3.ResourceID(v3.KindOf(obj), obj.GetNamespace(), obj.GetName()), err))
			continue
		}
		v3.Default(obj)
		err := v3.Validate(obj)
		var ve *v3.ValidationError
		switch {
		case errors.As(err, &ve):
			for _, fe := range ve.Errors {
				r.problems = append(r.problems, fmt.Sprintf("%s: %s (%s): %s",
					f.name, d, v3.ResourceID(ve.Kind, ve.Namespace, ve.Name), fe.Error()))
			}
		case err != nil:
			r.problems = append(r.problems, fmt.Sprintf("%s: %s: %v", f.name, d, err))
		}
	}
}

// validateNamespace applies calicoctl's namespace rules (applyNamespace),
// and refuses -n for a global resource, as calicoctl does. A namespace
// written on a global resource is left for v3.Validate to report, with the
// resource's other problems.
func validateNamespace(o v3.Object, flagNamespace string) error {
	if info, ok := v3.LookupKind(v3.KindOf(o)); ok && !info.Namespaced && flagNamespace != "" && o.GetNamespace() == "" {
		return fmt.Errorf("%s is not namespaced", info.Kind)
	}
	return applyNamespace(o, flagNamespace)
}

// count records one more resource of kind.
func (r *validateReport) count(kind string) {
	if r.resources == 0 {
		r.kind = kind
	} else if r.kind != kind {
		r.kind = ""
	}
	r.resources++
}
