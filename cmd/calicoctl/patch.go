package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"sigs.k8s.io/yaml"

	v3 "github.com/tabby-project/tabby/api/v3"
)

// patchOptions are the flags of calicoctl patch.
type patchOptions struct {
	patch, patchType, config, namespace string
	context                             string
	allowVersionMismatch                bool
}

func newPatchCommand(s streams) *cobra.Command {
	var o patchOptions
	cmd := &cobra.Command{
		Use:   "patch KIND NAME -p PATCH",
		Short: "Patch an existing resource in place",
		Long: `Change part of an existing resource: the patch is applied to the stored
resource, the result is defaulted and validated like a file given to apply,
and it replaces the stored resource if that has not changed meanwhile.

Patch types (-t):
  strategic (default)  a partial resource, merged field by field; lists are replaced
  merge                a JSON merge patch (RFC 7386): the same for these resources; null removes a field
  json                 a JSON patch (RFC 6902): a list of add, remove, replace, move, copy and test operations

The patch is JSON, or YAML. A namespaced kind is patched in the namespace
given with -n, or "default".

Exit status: 0 when the resource was patched, 1 otherwise.`,
		Example: `  # Move a policy to order 200
  calicoctl patch networkpolicy allow-web -n prod -p '{"spec":{"order":200}}'

  # Add a rule with a JSON patch
  calicoctl patch gnp deny-all -t json -p '[{"op":"add","path":"/spec/ingress/0","value":{"action":"Allow"}}]'`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPatch(cmd, s, o, args[0], args[1])
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.patch, "patch", "p", "", "the patch to apply to the resource")
	f.StringVarP(&o.patchType, "type", "t", "strategic", "format of the patch: strategic, merge or json")
	addConfigFlag(f, &o.config)
	f.StringVarP(&o.namespace, "namespace", "n", "", `namespace of a namespaced resource (default "default")`)
	addCompatFlags(f, &o.context, &o.allowVersionMismatch)
	return cmd
}

func runPatch(cmd *cobra.Command, s streams, o patchOptions, kind, name string) error {
	stubs, err := argResources(kind, []string{name}, o.namespace)
	if err != nil {
		return failf(s, "%v", err)
	}
	target := stubs[0]
	info, _ := v3.LookupKind(v3.KindOf(target))
	if err := handleNamespace(target, info, o.namespace, false); err != nil {
		return failf(s, "hit error: %v", err)
	}
	if o.patch == "" {
		return failf(s, "hit error: no patch given: use -p PATCH")
	}
	switch o.patchType {
	case "strategic", "merge", "json":
	default:
		return failf(s, "hit error: unknown patch type %q: want strategic, merge or json", o.patchType)
	}
	if isKubernetesPolicy(target) {
		return failf(s, "hit error: %v", kubernetesPolicyError("apply or replace", target))
	}
	ctx := cmd.Context()
	store, err := connect(ctx, s, o.config)
	if err != nil {
		return err
	}
	defer store.Close()
	cur, err := store.Get(ctx, v3.KeyOf(target))
	if err != nil {
		return failf(s, "hit error: %v", err)
	}
	patched, err := patchObject(cur, info, o.patchType, []byte(o.patch))
	if err != nil {
		return failf(s, "hit error: %v", err)
	}
	if _, err := store.Update(ctx, patched); err != nil {
		return failf(s, "hit error: updating existing resource: %v", err)
	}
	fmt.Fprintf(s.out, "Successfully patched 1 '%s' resource\n", info.Kind)
	return nil
}

// patchObject applies a patch of the given type to cur and returns the
// result, decoded strictly, defaulted and validated. The patch may change
// neither the kind nor the identity of the resource.
func patchObject(cur v3.Object, info v3.KindInfo, patchType string, patch []byte) (v3.Object, error) {
	original, err := json.Marshal(cur)
	if err != nil {
		return nil, fmt.Errorf("encode %v: %w", v3.KeyOf(cur), err)
	}
	patchJSON, err := yaml.YAMLToJSON(patch)
	if err != nil {
		return nil, fmt.Errorf("the patch is neither JSON nor YAML: %w", err)
	}
	var out []byte
	switch patchType {
	case "strategic":
		out, err = strategicpatch.StrategicMergePatch(original, patchJSON, info.New())
		if err != nil {
			err = fmt.Errorf("performing strategic merge patch: %w", err)
		}
	case "merge":
		out, err = mergePatch(original, patchJSON)
	case "json":
		out, err = jsonPatch(original, patchJSON)
	}
	if err != nil {
		return nil, err
	}
	docs, err := v3.DecodeDocuments(out)
	if err != nil {
		return nil, fmt.Errorf("creating resource from patched data: %w", err)
	}
	if len(docs) != 1 {
		return nil, fmt.Errorf("creating resource from patched data: %d resources, want 1", len(docs))
	}
	obj := docs[0].Object
	if v3.KeyOf(obj) != v3.KeyOf(cur) {
		return nil, fmt.Errorf("the patch changes the resource's identity from %v to %v", v3.KeyOf(cur), v3.KeyOf(obj))
	}
	v3.Default(obj)
	if err := v3.Validate(obj); err != nil {
		return nil, err
	}
	return obj, nil
}

// mergePatch applies a JSON merge patch (RFC 7386) to doc.
func mergePatch(doc, patch []byte) ([]byte, error) {
	var d, p any
	if err := json.Unmarshal(doc, &d); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(patch, &p); err != nil {
		return nil, fmt.Errorf("merge patch: %w", err)
	}
	if _, ok := p.(map[string]any); !ok {
		return nil, errors.New("merge patch: the patch must be an object")
	}
	return json.Marshal(mergeValue(d, p))
}

func mergeValue(target, patch any) any {
	pm, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	tm, ok := target.(map[string]any)
	if !ok {
		tm = map[string]any{}
	}
	for k, v := range pm {
		if v == nil {
			delete(tm, k)
			continue
		}
		tm[k] = mergeValue(tm[k], v)
	}
	return tm
}

// jsonPatchOp is one operation of a JSON patch (RFC 6902).
type jsonPatchOp struct {
	Op    string           `json:"op"`
	Path  string           `json:"path"`
	From  string           `json:"from"`
	Value *json.RawMessage `json:"value"`
}

// jsonPatch applies a JSON patch (RFC 6902) to doc: every operation in
// order, all or nothing.
func jsonPatch(doc, patch []byte) ([]byte, error) {
	var ops []jsonPatchOp
	if err := json.Unmarshal(patch, &ops); err != nil {
		return nil, fmt.Errorf("json patch: the patch must be a list of operations: %w", err)
	}
	var root any
	if err := json.Unmarshal(doc, &root); err != nil {
		return nil, err
	}
	for i, op := range ops {
		var err error
		if root, err = op.apply(root); err != nil {
			return nil, fmt.Errorf("json patch operation %d (%s %s): %w", i, op.Op, op.Path, err)
		}
	}
	return json.Marshal(root)
}

func (op jsonPatchOp) value() (any, error) {
	if op.Value == nil {
		return nil, errors.New(`missing "value"`)
	}
	var v any
	err := json.Unmarshal(*op.Value, &v)
	return v, err
}

func (op jsonPatchOp) apply(root any) (any, error) {
	switch op.Op {
	case "add":
		v, err := op.value()
		if err != nil {
			return nil, err
		}
		return pointerSet(root, op.Path, v, true)
	case "replace":
		v, err := op.value()
		if err != nil {
			return nil, err
		}
		if _, err := pointerGet(root, op.Path); err != nil {
			return nil, err
		}
		return pointerSet(root, op.Path, v, false)
	case "remove":
		return pointerRemove(root, op.Path)
	case "move", "copy":
		v, err := pointerGet(root, op.From)
		if err != nil {
			return nil, fmt.Errorf("from: %w", err)
		}
		if op.Op == "move" {
			if strings.HasPrefix(op.Path, op.From+"/") {
				return nil, errors.New("cannot move a value into itself")
			}
			if root, err = pointerRemove(root, op.From); err != nil {
				return nil, err
			}
		} else {
			// Copy through JSON so that the copy shares nothing.
			b, err := json.Marshal(v)
			if err != nil {
				return nil, err
			}
			if err := json.Unmarshal(b, &v); err != nil {
				return nil, err
			}
		}
		return pointerSet(root, op.Path, v, true)
	case "test":
		want, err := op.value()
		if err != nil {
			return nil, err
		}
		got, err := pointerGet(root, op.Path)
		if err != nil {
			return nil, err
		}
		if !reflect.DeepEqual(got, want) {
			return nil, fmt.Errorf("test failed: the value is %s", mustJSON(got))
		}
		return root, nil
	}
	return nil, fmt.Errorf("unknown operation %q", op.Op)
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// splitPointer parses a JSON pointer (RFC 6901) into its reference tokens.
func splitPointer(p string) ([]string, error) {
	if p == "" {
		return nil, nil
	}
	if !strings.HasPrefix(p, "/") {
		return nil, fmt.Errorf("path %q does not start with /", p)
	}
	toks := strings.Split(p[1:], "/")
	for i, t := range toks {
		toks[i] = strings.ReplaceAll(strings.ReplaceAll(t, "~1", "/"), "~0", "~")
	}
	return toks, nil
}

// arrayIndex parses tok as an index of a list of length n; "-" (the end)
// is allowed when end is set.
func arrayIndex(tok string, n int, end bool) (int, error) {
	if tok == "-" && end {
		return n, nil
	}
	i, err := strconv.Atoi(tok)
	max := n - 1
	if end {
		max = n
	}
	if err != nil || i < 0 || i > max || (len(tok) > 1 && tok[0] == '0') {
		return 0, fmt.Errorf("index %q out of range", tok)
	}
	return i, nil
}

func pointerGet(root any, p string) (any, error) {
	toks, err := splitPointer(p)
	if err != nil {
		return nil, err
	}
	cur := root
	for _, t := range toks {
		switch c := cur.(type) {
		case map[string]any:
			v, ok := c[t]
			if !ok {
				return nil, fmt.Errorf("path %s: no member %q", p, t)
			}
			cur = v
		case []any:
			i, err := arrayIndex(t, len(c), false)
			if err != nil {
				return nil, fmt.Errorf("path %s: %w", p, err)
			}
			cur = c[i]
		default:
			return nil, fmt.Errorf("path %s: %q is inside a value that is neither an object nor a list", p, t)
		}
	}
	return cur, nil
}

// pointerSet sets the value at p and returns the new root: with insert, a
// list index inserts before it (add); without, it replaces the element.
func pointerSet(root any, p string, v any, insert bool) (any, error) {
	toks, err := splitPointer(p)
	if err != nil {
		return nil, err
	}
	if len(toks) == 0 {
		return v, nil
	}
	pp := parentPointer(toks)
	parent, err := pointerGet(root, pp)
	if err != nil {
		return nil, err
	}
	last := toks[len(toks)-1]
	switch c := parent.(type) {
	case map[string]any:
		c[last] = v
		return root, nil
	case []any:
		i, err := arrayIndex(last, len(c), insert)
		if err != nil {
			return nil, fmt.Errorf("path %s: %w", p, err)
		}
		if !insert {
			c[i] = v
			return root, nil
		}
		c = append(c[:i:i], append([]any{v}, c[i:]...)...)
		if pp == "" {
			return c, nil
		}
		return pointerSet(root, pp, c, false)
	}
	return nil, fmt.Errorf("path %s: the parent is neither an object nor a list", p)
}

func pointerRemove(root any, p string) (any, error) {
	toks, err := splitPointer(p)
	if err != nil {
		return nil, err
	}
	if len(toks) == 0 {
		return nil, errors.New("cannot remove the whole resource")
	}
	pp := parentPointer(toks)
	parent, err := pointerGet(root, pp)
	if err != nil {
		return nil, err
	}
	last := toks[len(toks)-1]
	switch c := parent.(type) {
	case map[string]any:
		if _, ok := c[last]; !ok {
			return nil, fmt.Errorf("path %s: no member %q", p, last)
		}
		delete(c, last)
		return root, nil
	case []any:
		i, err := arrayIndex(last, len(c), false)
		if err != nil {
			return nil, fmt.Errorf("path %s: %w", p, err)
		}
		c = append(c[:i:i], c[i+1:]...)
		if pp == "" {
			return c, nil
		}
		return pointerSet(root, pp, c, false)
	}
	return nil, fmt.Errorf("path %s: the parent is neither an object nor a list", p)
}

// parentPointer returns the pointer to the parent of the value toks
// names ("" for the root).
func parentPointer(toks []string) string {
	var b strings.Builder
	for _, t := range toks[:len(toks)-1] {
		b.WriteByte('/')
		b.WriteString(strings.ReplaceAll(strings.ReplaceAll(t, "~", "~0"), "/", "~1"))
	}
	return b.String()
}
