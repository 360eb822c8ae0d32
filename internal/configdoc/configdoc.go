// Package configdoc renders the plugin's Kong schema (what legacy-auth -dump
// gives Kong) as the README's configuration tables, so field names,
// defaults, bounds and descriptions have one source: plugin.Schema.
//
// The README holds each table between two markers:
//
//	<!-- config-table:start -->    every field but redis_*
//	<!-- config-table:end -->
//	<!-- config-table:redis:start -->  the redis_* fields
//	<!-- config-table:redis:end -->
//	<!-- config-table:issuers:start -->  the fields of a jwt_issuers entry
//	<!-- config-table:issuers:end -->
//
// `make docs` rewrites them; a test fails when they differ.
package configdoc

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/legacy-auth/legacy-auth/plugin"
)

// Field is one config field as Kong reads it from the -dump schema.
type Field struct {
	Name  string
	Attrs map[string]any
	// Together are the fields Kong requires with this one
	// (mutually_required entity checks).
	Together []string
}

// Fields returns the config fields of plugin.Schema in schema order, with
// values as JSON-decoded (what Kong sees), not as Go typed them.
func Fields() ([]Field, error) {
	b, err := json.Marshal(plugin.Schema("legacy-auth"))
	if err != nil {
		return nil, fmt.Errorf("encoding schema: %w", err)
	}
	var schema struct {
		Fields []map[string]map[string]any `json:"fields"`
	}
	if err := json.Unmarshal(b, &schema); err != nil {
		return nil, fmt.Errorf("decoding schema: %w", err)
	}
	for _, f := range schema.Fields {
		cfg, ok := f["config"]
		if !ok {
			continue
		}
		together := map[string][]string{}
		checks, _ := cfg["entity_checks"].([]any)
		for _, c := range checks {
			m, _ := c.(map[string]any)
			names, _ := m["mutually_required"].([]any)
			for _, n := range names {
				for _, o := range names {
					if o != n {
						together[str(n)] = append(together[str(n)], str(o))
					}
				}
			}
		}
		raw, _ := cfg["fields"].([]any)
		out := make([]Field, 0, len(raw))
		for _, r := range raw {
			m, _ := r.(map[string]any)
			if len(m) != 1 {
				return nil, fmt.Errorf("config field %v: want one name", r)
			}
			for name, a := range m {
				attrs, _ := a.(map[string]any)
				out = append(out, Field{Name: name, Attrs: attrs, Together: together[name]})
				out = append(out, recordFields(name, attrs)...)
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("schema has no config record")
}

// recordFields are the fields of an array of records, named
// parent[].field (jwt_issuers[].issuer).
func recordFields(parent string, attrs map[string]any) []Field {
	el, _ := attrs["elements"].(map[string]any)
	if str(el["type"]) != "record" {
		return nil
	}
	raw, _ := el["fields"].([]any)
	var out []Field
	for _, r := range raw {
		m, _ := r.(map[string]any)
		for name, a := range m {
			sub, _ := a.(map[string]any)
			out = append(out, Field{Name: parent + "[]." + name, Attrs: sub})
		}
	}
	return out
}

// Group is one README table: its marker name and which fields it shows.
type Group struct {
	Marker string
	Has    func(name string) bool
}

func isRedis(name string) bool { return strings.HasPrefix(name, "redis_") }

// Groups are the README's tables.
var Groups = []Group{
	{"config-table", func(n string) bool { return !isRedis(n) && !strings.Contains(n, "[].") }},
	{"config-table:redis", isRedis},
	{"config-table:issuers", func(n string) bool { return strings.HasPrefix(n, "jwt_issuers[].") }},
}

// Table renders the fields g selects as a Markdown table.
func Table(fields []Field, g Group) string {
	var b strings.Builder
	b.WriteString("| field | type | default | accepted | meaning |\n|---|---|---|---|---|\n")
	for _, f := range fields {
		if !g.Has(f.Name) {
			continue
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s |\n",
			f.Name, typeOf(f.Attrs), defaultOf(f.Attrs), accepted(f), cell(str(f.Attrs["description"])))
	}
	return b.String()
}

// Update returns readme with every group's table replaced by the one the
// schema gives.
func Update(readme []byte, fields []Field) ([]byte, error) {
	out := readme
	for _, g := range Groups {
		start := []byte("<!-- " + g.Marker + ":start -->\n")
		end := []byte("<!-- " + g.Marker + ":end -->")
		i := bytes.Index(out, start)
		j := bytes.Index(out, end)
		if i < 0 || j < i {
			return nil, fmt.Errorf("README lacks %s and %s in that order", bytes.TrimSpace(start), end)
		}
		var next []byte
		next = append(next, out[:i+len(start)]...)
		next = append(next, Table(fields, g)...)
		next = append(next, out[j:]...)
		out = next
	}
	return out, nil
}

func typeOf(a map[string]any) string {
	t := str(a["type"])
	switch t {
	case "array", "set":
		if e, ok := a["elements"].(map[string]any); ok {
			return t + " of " + str(e["type"])
		}
	case "map":
		k, _ := a["keys"].(map[string]any)
		v, _ := a["values"].(map[string]any)
		return fmt.Sprintf("map %s → %s", str(k["type"]), str(v["type"]))
	}
	return t
}

func defaultOf(a map[string]any) string {
	d, ok := a["default"]
	switch {
	case ok:
		return "`" + value(d) + "`"
	case a["required"] == true:
		return "*(required)*"
	default:
		return "none"
	}
}

// accepted states the bounds Kong enforces before the plugin sees a value.
func accepted(f Field) string {
	a := f.Attrs
	var parts []string
	if b, ok := a["between"].([]any); ok && len(b) == 2 {
		parts = append(parts, value(b[0])+"–"+value(b[1]))
	}
	if o, ok := a["one_of"].([]any); ok {
		parts = append(parts, quoted(o))
	}
	if m := str(a["match"]); m != "" {
		parts = append(parts, matchText(m))
	}
	if e, ok := a["elements"].(map[string]any); ok {
		if o, ok := e["one_of"].([]any); ok {
			parts = append(parts, "each "+quoted(o))
		}
		if m := str(e["match"]); m != "" {
			parts = append(parts, "each "+matchText(m))
		}
	}
	if n, ok := a["len_max"].(float64); ok {
		parts = append(parts, "at most "+value(n))
	}
	if a["referenceable"] == true {
		parts = append(parts, "a Kong vault reference")
	}
	for _, o := range f.Together {
		parts = append(parts, "only with `"+o+"`")
	}
	if len(parts) == 0 {
		return ""
	}
	return cell(strings.Join(parts, "; "))
}

// matchText names the Lua patterns of the schema in words; an unknown one
// is shown as it is.
func matchText(p string) string {
	switch p {
	case "^[%w!#$%%&'*+.^_`|~-]+$":
		return "a header name"
	case `^https?://[^%s/?#]+[^%s]*$`:
		return "an http(s) URL"
	case `^[^%s/]+:%d+$`:
		return "host:port"
	case `^[^%s]+$`:
		return "no spaces"
	}
	return "Lua pattern `" + p + "`"
}

func quoted(vs []any) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = "`" + value(v) + "`"
	}
	return strings.Join(s, ", ")
}

// value writes a JSON value as a deck file would show it.
func value(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case []any:
		s := make([]string, len(x))
		for i, e := range x {
			s[i] = value(e)
		}
		return "[" + strings.Join(s, ", ") + "]"
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		s := make([]string, len(keys))
		for i, k := range keys {
			s[i] = k + ": " + value(x[k])
		}
		return "{" + strings.Join(s, ", ") + "}"
	case nil:
		return "null"
	}
	return fmt.Sprint(v)
}

func str(v any) string { s, _ := v.(string); return s }

// cell keeps a table cell on one line and its pipes literal.
func cell(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	return strings.ReplaceAll(s, "|", `\|`)
}
