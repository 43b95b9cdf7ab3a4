package main

import (
	"fmt"

	v3 "github.com/tabby-project/tabby/api/v3"
)

// defaultNamespace is the namespace calicoctl gives namespaced resources
// that name none, when -n is not given either.
const defaultNamespace = "default"

// applyNamespace applies calicoctl's namespace rules to a resource read
// from a file: a namespaced resource without a namespace takes the -n
// namespace, or "default"; one whose namespace differs from -n is an
// error. A namespace on a global resource is left for v3.Validate to
// report.
func applyNamespace(o v3.Object, flagNamespace string) error {
	info, ok := v3.LookupKind(v3.KindOf(o))
	if !ok || !info.Namespaced {
		return nil
	}
	switch ns := o.GetNamespace(); {
	case ns == "" && flagNamespace != "":
		o.SetNamespace(flagNamespace)
	case ns == "":
		o.SetNamespace(defaultNamespace)
	case flagNamespace != "" && ns != flagNamespace:
		return fmt.Errorf("resource namespace does not match client namespace. %s != %s", ns, flagNamespace)
	}
	return nil
}

// resourceName prints a resource as the v3 package's messages do:
// "Kind namespace/name", or "Kind name" for a global one.
func resourceName(kind, namespace, name string) string {
	switch {
	case namespace != "" && name != "":
		return kind + " " + namespace + "/" + name
	case name != "":
		return kind + " " + name
	}
	return kind
}
