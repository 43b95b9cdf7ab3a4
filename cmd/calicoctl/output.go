package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"reflect"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"text/template"

	"sigs.k8s.io/yaml"

	v3 "github.com/tabby-project/tabby/api/v3"
)

// table says how calicoctl get prints a kind as a table: its default (-o
// ps) and -o wide columns, and the Go template of every column it knows
// (custom-columns may name any of them). These are Calico's, column for
// column (calicoctl's resourcemgr), so that scripts reading the tables keep
// working.
type table struct {
	columns, wide []string
	templates     map[string]string
}

// policyTable is shared by the four policy kinds; namespaced says whether
// the kind has a NAMESPACE column to prepend.
func policyTable(namespaced bool) table {
	t := table{
		columns: []string{"NAME", "TIER"},
		wide:    []string{"NAME", "TIER", "ORDER", "SELECTOR"},
		templates: map[string]string{
			"NAME":     "{{.ObjectMeta.Name}}",
			"ORDER":    "{{.Spec.Order}}",
			"SELECTOR": "{{.Spec.Selector}}",
			"TIER":     "{{.Spec.Tier}}",
		},
	}
	if namespaced {
		t.templates["NAMESPACE"] = "{{.ObjectMeta.Namespace}}"
	}
	return t
}

// tables holds the table of every kind Tabby stores.
var tables = map[string]table{
	v3.KindNetworkPolicy:             policyTable(true),
	v3.KindStagedNetworkPolicy:       policyTable(true),
	v3.KindGlobalNetworkPolicy:       policyTable(false),
	v3.KindStagedGlobalNetworkPolicy: policyTable(false),
	v3.KindTier: {
		columns: []string{"NAME", "ORDER"},
		wide:    []string{"NAME", "ORDER"},
		templates: map[string]string{
			"NAME":  "{{.ObjectMeta.Name}}",
			"ORDER": "{{.Spec.Order}}",
		},
	},
	v3.KindNetworkSet: {
		columns: []string{"NAME"},
		wide:    []string{"NAME", "NETS"},
		templates: map[string]string{
			"NAME":      "{{.ObjectMeta.Name}}",
			"NAMESPACE": "{{.ObjectMeta.Namespace}}",
			"NETS":      `{{joinAndTruncate .Spec.Nets "," 80}}`,
		},
	},
	v3.KindGlobalNetworkSet: {
		columns: []string{"NAME"},
		wide:    []string{"NAME", "NETS"},
		templates: map[string]string{
			"NAME": "{{.ObjectMeta.Name}}",
			"NETS": `{{joinAndTruncate .Spec.Nets "," 80}}`,
		},
	},
	v3.KindProfile: {
		columns: []string{"NAME"},
		wide:    []string{"NAME", "LABELS"},
		templates: map[string]string{
			"NAME":   "{{.ObjectMeta.Name}}",
			"LABELS": `{{join .Spec.LabelsToApply ","}}`,
		},
	},
	v3.KindHostEndpoint: {
		columns: []string{"NAME", "NODE"},
		wide:    []string{"NAME", "NODE", "INTERFACE", "IPS", "PROFILES"},
		templates: map[string]string{
			"NAME":      "{{.ObjectMeta.Name}}",
			"NODE":      "{{.Spec.Node}}",
			"INTERFACE": "{{.Spec.InterfaceName}}",
			"IPS":       `{{join .Spec.ExpectedIPs ","}}`,
			"PROFILES":  `{{join .Spec.Profiles ","}}`,
		},
	},
	v3.KindWorkloadEndpoint: {
		columns: []string{"WORKLOAD", "NODE", "NETWORKS", "INTERFACE"},
		wide:    []string{"NAME", "WORKLOAD", "NODE", "NETWORKS", "INTERFACE", "PROFILES", "NATS"},
		templates: map[string]string{
			"NAME":         "{{.ObjectMeta.Name}}",
			"NAMESPACE":    "{{.ObjectMeta.Namespace}}",
			"NODE":         "{{.Spec.Node}}",
			"ORCHESTRATOR": "{{.Spec.Orchestrator}}",
			"WORKLOAD":     "{{if .Spec.Workload}}{{.Spec.Workload}}{{else}}{{.Spec.Pod}}{{end}}",
			"NETWORKS":     `{{join .Spec.IPNetworks ","}}`,
			// Calico's IPNAT has only the two addresses, which its table
			// prints as Go prints the struct: {internal external}.
			"NATS":      `{{joinNATs .Spec.IPNATs ","}}`,
			"PROFILES":  `{{join .Spec.Profiles ","}}`,
			"INTERFACE": "{{.Spec.InterfaceName}}",
		},
	},
	v3.KindFelixConfiguration: {
		columns:   []string{"NAME"},
		wide:      []string{"NAME"},
		templates: map[string]string{"NAME": "{{.ObjectMeta.Name}}"},
	},
}

// templateFuncs are the functions calicoctl's table and go-template output
// offer.
var templateFuncs = template.FuncMap{
	"join":            join,
	"joinAndTruncate": joinAndTruncate,
	"joinNATs":        joinNATs,
}

// join joins the elements of a slice (or the sorted key=value pairs of a
// map) with sep, as calicoctl's template function of that name does.
func join(items any, sep string) string { return joinAndTruncate(items, sep, 0) }

// joinAndTruncate is join, cut to maxLen characters ending in "..." when
// maxLen > 0 and the result is longer.
func joinAndTruncate(items any, sep string, maxLen int) string {
	if items == nil {
		return ""
	}
	v := reflect.ValueOf(items)
	switch v.Kind() {
	case reflect.Map:
		pairs := make([]string, 0, v.Len())
		for it := v.MapRange(); it.Next(); {
			pairs = append(pairs, fmt.Sprintf("%v=%v", it.Key().Interface(), it.Value().Interface()))
		}
		sort.Strings(pairs)
		v = reflect.ValueOf(pairs)
	case reflect.Slice:
	default:
		v = reflect.ValueOf([]any{items})
	}
	var b bytes.Buffer
	for i := range v.Len() {
		if i > 0 {
			b.WriteString(sep)
		}
		fmt.Fprint(&b, v.Index(i).Interface())
		if maxLen > 0 && b.Len() > maxLen {
			const ellipsis = "..."
			b.Truncate(maxLen - len(ellipsis))
			b.WriteString(ellipsis)
			break
		}
	}
	return b.String()
}

// joinNATs prints NAT mappings as Calico's table does.
func joinNATs(nats []v3.IPNAT, sep string) string {
	parts := make([]string, len(nats))
	for i, n := range nats {
		parts[i] = "{" + n.InternalIP + " " + n.ExternalIP + "}"
	}
	return strings.Join(parts, sep)
}

// printer prints what calicoctl get found: each element is one result, a
// single resource or a *v3.List.
type printer interface {
	print(w io.Writer, results []v3.Object) error
}

// newPrinter parses the -o flag as calicoctl does. printNamespace puts a
// NAMESPACE column first in the default and wide tables of namespaced
// kinds.
func newPrinter(output string, printNamespace bool) (printer, error) {
	switch output {
	case "yaml", "yml":
		return yamlPrinter{}, nil
	case "json":
		return jsonPrinter{}, nil
	case "ps":
		return tablePrinter{printNamespace: printNamespace}, nil
	case "wide":
		return tablePrinter{wide: true, printNamespace: printNamespace}, nil
	}
	key, value, _ := strings.Cut(output, "=")
	switch key {
	case "go-template":
		if value == "" {
			return nil, fmt.Errorf("need to specify a template")
		}
		return templatePrinter{text: value}, nil
	case "go-template-file":
		if value == "" {
			return nil, fmt.Errorf("need to specify a template file")
		}
		return templatePrinter{file: value}, nil
	case "custom-columns":
		if value == "" {
			return nil, fmt.Errorf("need to specify at least one column")
		}
		return tablePrinter{columns: strings.Split(value, ",")}, nil
	}
	return nil, fmt.Errorf("unrecognized output format '%s'", output)
}

// jsonPrinter prints one result as itself and several as an array,
// indented by two spaces; nothing when there is no result.
type jsonPrinter struct{}

func (jsonPrinter) print(w io.Writer, results []v3.Object) error {
	if len(results) == 0 {
		return nil
	}
	return v3.Encode(w, v3.FormatJSON, results...)
}

// yamlPrinter prints one result as a YAML document and several as a YAML
// sequence, keys sorted; nothing when there is no result.
type yamlPrinter struct{}

func (yamlPrinter) print(w io.Writer, results []v3.Object) error {
	switch len(results) {
	case 0:
		return nil
	case 1:
		return v3.Encode(w, v3.FormatYAML, results...)
	}
	var j bytes.Buffer
	if err := v3.Encode(&j, v3.FormatJSON, results...); err != nil {
		return err
	}
	y, err := yaml.JSONToYAML(j.Bytes())
	if err != nil {
		return fmt.Errorf("encode as YAML: %w", err)
	}
	_, err = w.Write(y)
	return err
}

// tablePrinter prints each result as a table, followed by a blank line: a
// list is one table with a row per item.
type tablePrinter struct {
	wide, printNamespace bool
	// columns, if set, are the custom columns to print instead of the
	// kind's defaults.
	columns []string
}

func (p tablePrinter) print(w io.Writer, results []v3.Object) error {
	for _, r := range results {
		kind, list := resultKind(r)
		t, ok := tables[kind]
		if !ok {
			return fmt.Errorf("no table format for kind %s", kind)
		}
		columns := p.columns
		if columns == nil {
			columns = t.columns
			if p.wide {
				columns = t.wide
			}
			if _, ok := t.templates["NAMESPACE"]; ok && p.printNamespace {
				columns = append([]string{"NAMESPACE"}, columns...)
			}
		}
		text, err := t.template(columns, list)
		if err != nil {
			return err
		}
		tmpl, err := template.New("get").Funcs(templateFuncs).Parse(text)
		if err != nil {
			return fmt.Errorf("table template for %s: %w", kind, err)
		}
		tw := tabwriter.NewWriter(w, 5, 1, 3, ' ', 0)
		if err := tmpl.Execute(tw, r); err != nil {
			return fmt.Errorf("print %s table: %w", kind, err)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		if _, err := io.WriteString(w, "\n"); err != nil {
			return err
		}
	}
	return nil
}

// template returns the Go template of a table with the given columns: a
// heading line, then a line per resource.
func (t table) template(columns []string, list bool) (string, error) {
	var b strings.Builder
	for _, c := range columns {
		b.WriteString(c)
		b.WriteByte('\t')
	}
	b.WriteByte('\n')
	if list {
		b.WriteString("{{range .Items}}")
	}
	for _, c := range columns {
		tmpl, ok := t.templates[c]
		if !ok {
			valid := make([]string, 0, len(t.templates))
			for h := range t.templates {
				valid = append(valid, h)
			}
			slices.Sort(valid)
			return "", &unknownHeadingError{heading: c, valid: valid}
		}
		b.WriteString(tmpl)
		b.WriteByte('\t')
	}
	b.WriteByte('\n')
	if list {
		b.WriteString("{{end}}")
	}
	return b.String(), nil
}

// unknownHeadingError is a custom column the kind does not have. It
// prints as calicoctl's message, capital letter included.
type unknownHeadingError struct {
	heading string
	valid   []string
}

func (e *unknownHeadingError) Error() string {
	return "Unknown heading " + e.heading + ", valid values are: " + strings.Join(e.valid, ", ")
}

// resultKind returns the kind of a result's resources and whether it is a
// list.
func resultKind(r v3.Object) (string, bool) {
	if l, ok := r.(*v3.List); ok {
		return strings.TrimSuffix(l.Kind, "List"), true
	}
	return v3.KindOf(r), false
}

// templatePrinter executes a user's Go template, given inline or in a
// file, on the slice of results, with calicoctl's template functions.
type templatePrinter struct {
	text, file string
}

func (p templatePrinter) print(w io.Writer, results []v3.Object) error {
	text := p.text
	if p.file != "" {
		data, err := os.ReadFile(p.file)
		if err != nil {
			return err
		}
		text = string(data)
	}
	tmpl, err := template.New("get").Funcs(templateFuncs).Parse(text)
	if err != nil {
		return err
	}
	return tmpl.Execute(w, results)
}
