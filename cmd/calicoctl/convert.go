package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	networkingv1 "k8s.io/api/networking/v1"

	v3 "github.com/tabby-project/tabby/api/v3"
	"github.com/tabby-project/tabby/k8s"
)

// convertOptions are the flags of calicoctl convert.
type convertOptions struct {
	filename             string
	output               string
	ignoreValidation     bool
	allowVersionMismatch bool
}

func newConvertCommand(s streams) *cobra.Command {
	var o convertOptions
	cmd := &cobra.Command{
		Use:   "convert -f FILENAME [-o yaml|json]",
		Short: "Convert Kubernetes NetworkPolicies to Calico projectcalico.org/v3 policies",
		Long: `Print the Calico NetworkPolicy that Calico enforces for each Kubernetes
NetworkPolicy (networking.k8s.io/v1, or the old extensions/v1beta1) of the
input, so that it can be edited and applied with calicoctl: the same name and
namespace, tier default, order 1000, the pod selector as a Calico selector
(with projectcalico.org/orchestrator == 'k8s'), and one Allow rule per protocol
per peer of each Kubernetes rule. The converted policies are validated unless
--ignore-validation is given.

As Calico's calicoctl convert does, the name is the Kubernetes one: the
"knp.default." prefix Calico gives the copy it keeps of a Kubernetes policy is
left out, so that the result can live beside the original. One policy prints
as itself; several print as a NetworkPolicyList, which calicoctl apply reads.
(Calico prints a Kubernetes v1 List there.)

Both YAML and JSON input are accepted; the output is YAML unless -o json is
given. Only NetworkPolicies are converted: any other document of the input is
an error, and so is Calico's old v1 API, which Tabby does not read. Every
problem is reported, naming its file and document, and nothing is printed on
standard output unless the whole input converts.`,
		Example: `  # Convert the Kubernetes policies of a file to Calico policies
  calicoctl convert -f ./k8s-policy.yaml -o yaml > calico-policy.yaml

  # Convert a policy read from standard input, as JSON
  cat k8s-policy.json | calicoctl convert -f - -o json`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			return runConvert(s, o)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.filename, "filename", "f", "", `file or directory holding the Kubernetes NetworkPolicies, or "-" for standard input`)
	f.StringVarP(&o.output, "output", "o", "yaml", "output format: yaml or json")
	f.BoolVar(&o.ignoreValidation, "ignore-validation", false, "print the converted policies even if they do not validate")
	f.BoolVar(&o.allowVersionMismatch, "allow-version-mismatch", false, "accepted for compatibility; Tabby makes no version check")
	if err := cmd.MarkFlagRequired("filename"); err != nil {
		// The flag is defined just above; failing to find it is a bug.
		panic(err)
	}
	return cmd
}

func runConvert(s streams, o convertOptions) error {
	var format v3.Format
	switch o.output {
	case "yaml", "yml":
		format = v3.FormatYAML
	case "json":
		format = v3.FormatJSON
	default:
		return fmt.Errorf("unrecognized output format '%s'", o.output)
	}
	files, err := readInputs(s.in, o.filename, false)
	if err != nil {
		return err
	}
	var (
		objs     []v3.Object
		problems []string
	)
	for _, f := range files {
		p, w := convertFile(f, &objs, o.ignoreValidation)
		problems = append(problems, p...)
		for _, warning := range w {
			fmt.Fprintln(s.err, "Warning: "+warning)
		}
	}
	if len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintln(s.err, p)
		}
		return failf(s, "Conversion failed: %d problem(s) in %d file(s)", len(problems), len(files))
	}
	switch len(objs) {
	case 0:
		return failf(s, "No Kubernetes NetworkPolicy in %s", o.filename)
	case 1:
		return v3.Encode(s.out, format, objs[0])
	}
	return v3.Encode(s.out, format, v3.NewList(v3.KindNetworkPolicy, objs))
}

// convertFile converts the NetworkPolicies of one file, appending them to
// objs, and returns its problems and warnings, each naming the document.
func convertFile(f inputFile, objs *[]v3.Object, ignoreValidation bool) (problems, warnings []string) {
	docs := k8s.SplitYAML(f.data)
	if len(docs) == 0 {
		return []string{"No resources specified in file " + f.name}, nil
	}
	for i, doc := range docs {
		at := fmt.Sprintf("%s: document %d", f.name, i+1)
		kobjs, isKubernetes, err := k8s.DecodeKubernetes(doc)
		switch {
		case isKubernetes && err != nil:
			problems = append(problems, at+": "+err.Error())
			continue
		case !isKubernetes:
			problems = append(problems, at+notConvertible(doc))
			continue
		}
		for _, kobj := range kobjs {
			np, ok := kobj.(*networkingv1.NetworkPolicy)
			if !ok {
				kind := kobj.GetObjectKind().GroupVersionKind().Kind
				problems = append(problems, fmt.Sprintf("%s: conversion for the Kubernetes resource type '%s' is not supported: calicoctl convert converts NetworkPolicy only", at, kind))
				continue
			}
			pol, warns, err := convertPolicy(np, ignoreValidation)
			for _, w := range warns {
				warnings = append(warnings, at+": "+w)
			}
			if err != nil {
				problems = append(problems, fmt.Sprintf("%s (NetworkPolicy %s/%s): %v", at, np.Namespace, np.Name, err))
				continue
			}
			*objs = append(*objs, pol)
		}
	}
	return problems, warnings
}

// convertPolicy converts one Kubernetes NetworkPolicy as Calico's
// calicoctl convert does: Calico's conversion, named as in Kubernetes.
func convertPolicy(np *networkingv1.NetworkPolicy, ignoreValidation bool) (*v3.NetworkPolicy, []string, error) {
	pol, warnings, err := k8s.NetworkPolicy(np)
	if err != nil {
		return nil, nil, err
	}
	pol.Name = strings.TrimPrefix(pol.Name, v3.KubernetesNetworkPolicyPrefix)
	if ignoreValidation {
		return pol, warnings, nil
	}
	var ve *v3.ValidationError
	switch err := v3.Validate(pol); {
	case errors.As(err, &ve):
		msgs := make([]string, len(ve.Errors))
		for i, fe := range ve.Errors {
			msgs[i] = fe.Error()
		}
		return nil, warnings, fmt.Errorf("converted policy failed validation: %s (give --ignore-validation to see it)", strings.Join(msgs, "; "))
	case err != nil:
		return nil, warnings, err
	}
	return pol, warnings, nil
}

// notConvertible explains why a document that is not a Kubernetes object
// this command reads cannot be converted, to follow "document N": it
// starts with the resource in parentheses, when known, or with ": ".
func notConvertible(doc []byte) string {
	objs, err := v3.Decode(doc)
	var de *v3.DecodeError
	switch {
	case errors.As(err, &de) && len(de.Problems) == 1 && errors.Is(de.Problems[0], v3.ErrKubernetesResource):
		p := de.Problems[0]
		return fmt.Sprintf(": conversion for the Kubernetes resource type '%s' is not supported: calicoctl convert converts NetworkPolicy only", p.Kind)
	case errors.As(err, &de):
		msgs := make([]string, len(de.Problems))
		for i, p := range de.Problems {
			msgs[i] = p.Reason
			if p.Path != "" {
				msgs[i] = p.Path + ": " + p.Reason
			}
			if id := v3.ResourceID(p.Kind, p.Namespace, p.Name); id != "" {
				msgs[i] = " (" + id + "): " + msgs[i]
			} else {
				msgs[i] = ": " + msgs[i]
			}
		}
		return strings.Join(msgs, ";")
	case err != nil:
		return ": " + err.Error()
	case len(objs) > 0:
		return fmt.Sprintf(" (%s): already a %s resource: there is nothing to convert", v3.ResourceID(v3.KindOf(objs[0]), objs[0].GetNamespace(), objs[0].GetName()), v3.APIVersion)
	}
	return ": no resource"
}
