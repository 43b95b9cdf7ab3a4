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
one given with -n, or "default".

Every problem of every file is reported, one per line:

  FILE: document N (KIND NAMESPACE/NAME): FIELD PATH: "BAD VALUE" REASON

Documents of a Kubernetes API (a networking.k8s.io/v1 NetworkPolicy, for
instance) are not Calico resources: they are skipped with a note.

The exit status is 0 when every resource is valid, 1 otherwise.`,
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
	problems  []string // one line per problem
	notes     []string // documents skipped, and why
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
	if len(r.problems) > 0 {
		for _, p := range r.problems {
			fmt.Fprintln(s.err, p)
		}
		fmt.Fprintf(s.err, "Validation failed: %d problem(s) in %d file(s)\n", len(r.problems), len(files))
		return &exitError{code: 1}
	}
	if r.resources == 0 && len(r.notes) == 0 {
		return errors.New("no resources specified")
	}
	skipped := ""
	if len(r.notes) > 0 {
		skipped = fmt.Sprintf(" (skipped %d Kubernetes document(s))", len(r.notes))
	}
	fmt.Fprintf(s.out, "Successfully validated %d resource(s) in %d file(s)%s\n", r.resources, len(files), skipped)
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
					f.name, p.Document, resourceName(p.Kind, p.Namespace, p.Name)))
				continue
			}
			r.problems = append(r.problems, f.name+": "+p.Error())
		}
	case err != nil:
		r.problems = append(r.problems, f.name+": "+err.Error())
	}
	for _, d := range docs {
		obj := d.Object
		r.resources++
		if err := applyNamespace(obj, namespace); err != nil {
			r.problems = append(r.problems, fmt.Sprintf("%s: %s (%s): %v",
				f.name, d, resourceName(v3.KindOf(obj), obj.GetNamespace(), obj.GetName()), err))
			continue
		}
		v3.Default(obj)
		err := v3.Validate(obj)
		var ve *v3.ValidationError
		switch {
		case errors.As(err, &ve):
			for _, fe := range ve.Errors {
				r.problems = append(r.problems, fmt.Sprintf("%s: %s (%s): %s",
					f.name, d, resourceName(ve.Kind, ve.Namespace, ve.Name), fe.Error()))
			}
		case err != nil:
			r.problems = append(r.problems, fmt.Sprintf("%s: %s: %v", f.name, d, err))
		}
	}
}
