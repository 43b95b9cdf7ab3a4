package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/spf13/pflag"

	v3 "github.com/tabby-project/tabby/api/v3"
	"github.com/tabby-project/tabby/datastore"
)

// crudFlags are the flags calicoctl's resource commands share.
type crudFlags struct {
	filename  string
	recursive bool
	skipEmpty bool
	config    string
	namespace string
	// context and allowVersionMismatch are accepted for compatibility:
	// the first names a kubeconfig context (Tabby's calicoctl does not use
	// Kubernetes), the second skips a version check Tabby does not make.
	context              string
	allowVersionMismatch bool
}

// add registers the flags; verb completes the help of -f.
func (c *crudFlags) add(f *pflag.FlagSet, verb string) {
	f.StringVarP(&c.filename, "filename", "f", "", fmt.Sprintf(`file or directory of resources to %s, or "-" for standard input`, verb))
	f.BoolVarP(&c.recursive, "recursive", "R", false, "with a directory, also read the files of its subdirectories")
	f.BoolVar(&c.skipEmpty, "skip-empty", false, "do not fail when the files hold no resources")
	addConfigFlag(f, &c.config)
	f.StringVarP(&c.namespace, "namespace", "n", "", `namespace of namespaced resources that name none (default "default")`)
	addCompatFlags(f, &c.context, &c.allowVersionMismatch)
}

// addCompatFlags adds flags Calico's calicoctl takes everywhere that have no
// effect here.
func addCompatFlags(f *pflag.FlagSet, context *string, allowMismatch *bool) {
	f.StringVar(context, "context", "", "kubeconfig context (accepted for compatibility; unused with etcd)")
	f.BoolVar(allowMismatch, "allow-version-mismatch", false, "accepted for compatibility; Tabby makes no version check")
}

// failf prints a message on standard error, as calicoctl prints a failed
// command's error, and returns the exitError that ends the command with
// status 1.
func failf(s streams, format string, args ...any) error {
	fmt.Fprintf(s.err, format+"\n", args...)
	return &exitError{code: 1}
}

// problemsError lists everything wrong with a command's input, found
// before the datastore was touched.
type problemsError struct {
	problems []string
	files    int
}

func (e *problemsError) Error() string {
	return fmt.Sprintf("%d problem(s) in %d file(s)", len(e.problems), e.files)
}

// emptyInputError says that the input named no resource.
type emptyInputError struct{ msg string }

func (e *emptyInputError) Error() string { return e.msg }

// check says what loadFiles verifies beyond decoding.
type check int

const (
	// checkIdentity: namespace rules only (get, delete).
	checkIdentity check = iota
	// checkWrite: namespace rules, defaults and validation (create,
	// apply, replace).
	checkWrite
)

// loadFiles reads, decodes and checks every resource of the -f input, as
// one unit: if any document of any file has a problem, it returns a
// *problemsError listing all of them and no resource, so that a command
// changes nothing unless the whole input is good. With knpOp set, a
// NetworkPolicy named as a Kubernetes one (knp.default.*) is a problem:
// calicoctl refuses operation knpOp on it. Namespaced resources
// take their namespace as calicoctl gives it (handleNamespace). An input
// without resources is an *emptyInputError unless skipEmpty is set.
func loadFiles(in io.Reader, c crudFlags, allNamespaces bool, chk check, knpOp string) ([]v3.Object, error) {
	if c.skipEmpty && c.filename != "-" {
		if st, err := os.Stat(c.filename); err == nil && st.IsDir() {
			if names, err := resourceFiles(c.filename, c.recursive); err == nil && len(names) == 0 {
				return nil, nil
			}
		}
	}
	files, err := readInputs(in, c.filename, c.recursive)
	if err != nil {
		return nil, err
	}
	var (
		objs     []v3.Object
		problems []string
	)
	for _, f := range files {
		// fp are the file's problems with the document each is about, to
		// list them in document order.
		type docProblem struct {
			doc  int
			line string
		}
		var fp []docProblem
		docs, err := v3.DecodeDocuments(f.data)
		var de *v3.DecodeError
		switch {
		case errors.As(err, &de):
			for _, p := range de.Problems {
				fp = append(fp, docProblem{p.Document, f.name + ": " + p.Error()})
			}
		case err != nil:
			fp = append(fp, docProblem{0, f.name + ": " + err.Error()})
		}
		if len(docs) == 0 && err == nil && !c.skipEmpty {
			return nil, &emptyInputError{"No resources specified in file " + f.name}
		}
		for _, d := range docs {
			obj := d.Object
			info, _ := v3.LookupKind(v3.KindOf(obj))
			nsErr := handleNamespace(obj, info, c.namespace, allNamespaces)
			where := fmt.Sprintf("%s: %s (%s): ", f.name, d, resourceName(v3.KindOf(obj), obj.GetNamespace(), obj.GetName()))
			problem := func(msg string) { fp = append(fp, docProblem{d.Index, where + msg}) }
			switch {
			case nsErr != nil:
				problem(nsErr.Error())
				continue
			case knpOp != "" && isKubernetesPolicy(obj):
				problem(kubernetesPolicyError(knpOp, obj).Error())
				continue
			}
			if chk == checkWrite {
				v3.Default(obj)
				var ve *v3.ValidationError
				switch err := v3.Validate(obj); {
				case errors.As(err, &ve):
					for _, fe := range ve.Errors {
						problem(fe.Error())
					}
					continue
				case err != nil:
					problem(err.Error())
					continue
				}
			}
			objs = append(objs, obj)
		}
		sort.SliceStable(fp, func(i, j int) bool { return fp[i].doc < fp[j].doc })
		for _, p := range fp {
			problems = append(problems, p.line)
		}
	}
	if len(problems) > 0 {
		return nil, &problemsError{problems: problems, files: len(files)}
	}
	if len(objs) == 0 && !c.skipEmpty {
		return nil, &emptyInputError{"No resources specified in directory " + c.filename}
	}
	return objs, nil
}

// handleNamespace applies calicoctl's namespace rules to a resource about
// to be sent to the datastore, given the -n and -A flags: a namespaced
// resource without a namespace takes -n's, or "default" (with -A it keeps
// none, for listing); one whose namespace differs from -n is an error. A
// global resource may have neither a namespace nor -n or -A.
func handleNamespace(obj v3.Object, info v3.KindInfo, cliNamespace string, allNamespaces bool) error {
	ns := obj.GetNamespace()
	if !info.Namespaced {
		switch {
		case ns != "":
			return fmt.Errorf("namespace should not be specified for a non-namespaced resource. %s is not a namespaced resource", info.Kind)
		case allNamespaces || cliNamespace != "":
			return fmt.Errorf("%s is not namespaced", info.Kind)
		}
		return nil
	}
	switch {
	case allNamespaces && cliNamespace != "":
		return errors.New("cannot use both --namespace and --all-namespaces flags at the same time")
	case allNamespaces:
		obj.SetNamespace("")
	case ns == "" && cliNamespace != "":
		obj.SetNamespace(cliNamespace)
	case ns == "":
		obj.SetNamespace(defaultNamespace)
	case cliNamespace != "" && ns != cliNamespace:
		return fmt.Errorf("resource namespace does not match client namespace. %s != %s", ns, cliNamespace)
	}
	return nil
}

// unmanagedKinds are calicoctl's names for the Calico kinds Tabby does not
// store (routing, IPAM, cluster information), so that naming one gives a
// clear answer rather than an unknown type.
var unmanagedKinds = map[string]string{
	"node": "Node", "nodes": "Node", "no": "Node", "nos": "Node",
	"ippool": "IPPool", "ippools": "IPPool", "ipp": "IPPool", "ipps": "IPPool", "pool": "IPPool", "pools": "IPPool",
	"bgpconfiguration": "BGPConfiguration", "bgpconfigurations": "BGPConfiguration", "bgpconfig": "BGPConfiguration", "bgpconfigs": "BGPConfiguration",
	"bgppeer": "BGPPeer", "bgppeers": "BGPPeer", "bgpp": "BGPPeer", "bgpps": "BGPPeer", "bp": "BGPPeer", "bps": "BGPPeer",
	"bgpfilter": "BGPFilter", "bgpfilters": "BGPFilter", "bgpf": "BGPFilter", "bgpfs": "BGPFilter", "bf": "BGPFilter", "bfs": "BGPFilter",
	"clusterinformation": "ClusterInformation", "clusterinformations": "ClusterInformation", "clusterinfo": "ClusterInformation", "clusterinfos": "ClusterInformation",
	"ipamconfiguration": "IPAMConfiguration", "ipamconfigurations": "IPAMConfiguration", "ipamconfig": "IPAMConfiguration", "ipamconfigs": "IPAMConfiguration",
	"ipreservation": "IPReservation", "ipreservations": "IPReservation", "reservation": "IPReservation", "reservations": "IPReservation",
	"kubecontrollersconfiguration": "KubeControllersConfiguration", "kubecontrollersconfigurations": "KubeControllersConfiguration",
	"kubecontrollersconfig": "KubeControllersConfiguration", "kubecontrollersconfigs": "KubeControllersConfiguration",
	"caliconodestatus": "CalicoNodeStatus", "caliconodestatuses": "CalicoNodeStatus", "nodestatus": "CalicoNodeStatus", "nodestatuses": "CalicoNodeStatus",
	"stagedkubernetesnetworkpolicy": "StagedKubernetesNetworkPolicy", "stagedkubernetesnetworkpolicies": "StagedKubernetesNetworkPolicy",
	"stagedkubernetespolicy": "StagedKubernetesNetworkPolicy", "sknp": "StagedKubernetesNetworkPolicy",
	"stagedkubernetespolicies": "StagedKubernetesNetworkPolicy", "skpol": "StagedKubernetesNetworkPolicy", "skpols": "StagedKubernetesNetworkPolicy",
}

// lookupKind resolves the KIND argument as calicoctl does (any case, any
// alias), with Calico's error for a type it does not know.
func lookupKind(kind string) (v3.KindInfo, error) {
	if info, ok := v3.LookupKind(kind); ok {
		return info, nil
	}
	if k, ok := unmanagedKinds[strings.ToLower(kind)]; ok {
		return v3.KindInfo{}, fmt.Errorf("resource type '%s' is not supported: %s is a Calico kind that Tabby does not manage", kind, k)
	}
	return v3.KindInfo{}, fmt.Errorf("resource type '%s' is not supported", kind)
}

// argResources returns the resources named on the command line: one per
// name, or, with no name, one without a name (a list), each in the
// namespace -n gives for a namespaced kind.
func argResources(kind string, names []string, namespace string) ([]v3.Object, error) {
	info, err := lookupKind(kind)
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		names = []string{""}
	} else if slices.Contains(names, "") {
		return nil, errors.New("resource name may not be empty")
	}
	objs := make([]v3.Object, len(names))
	for i, n := range names {
		o := info.New()
		o.SetName(n)
		if info.Namespaced {
			o.SetNamespace(namespace)
		}
		objs[i] = o
	}
	return objs, nil
}

// singleKind returns the kind every object shares, or "" if they differ.
func singleKind(objs []v3.Object) string {
	kind := ""
	for i, o := range objs {
		k := v3.KindOf(o)
		if i > 0 && k != kind {
			return ""
		}
		kind = k
	}
	return kind
}

// isKubernetesPolicy reports whether obj is a NetworkPolicy whose name says
// it mirrors a Kubernetes NetworkPolicy, which calicoctl refuses to write or
// delete.
func isKubernetesPolicy(obj v3.Object) bool {
	return v3.KindOf(obj) == v3.KindNetworkPolicy && strings.HasPrefix(obj.GetName(), v3.KubernetesNetworkPolicyPrefix)
}

// kubernetesPolicyError is calicoctl's refusal to touch such a policy.
func kubernetesPolicyError(op string, obj v3.Object) error {
	return datastore.NotSupportedError(op, v3.KeyOf(obj), "kubernetes network policies must be managed through the kubernetes API")
}
