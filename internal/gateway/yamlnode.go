package gateway

// The declarative file is walked as yaml.Node trees rather than decoded
// straight into structs: that gives line numbers for every error, exact
// unknown-key reporting and strict scalar types, which a plain Unmarshal
// (even with KnownFields) reports with Go type names instead of deck keys.
//
// YAML library: go.yaml.in/yaml/v3 is the YAML organisation's maintained
// continuation of gopkg.in/yaml.v3 (archived, no longer maintained), with
// the same API; it keeps the Node API used here.

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// mapNode is a YAML mapping whose keys were checked against a whitelist.
type mapNode struct {
	src   string
	where string
	line  int
	vals  map[string]*yaml.Node
}

// entityKeys describes the keys of one kind of entity: the ones the local
// gateway supports, and the ones Kong knows but the gateway does not (to
// tell "typo" from "not supported here" in the error).
type entityKeys struct {
	supported []string
	kongOnly  []string
}

// resolve follows YAML aliases so anchors (&x / *x) work as in Kong.
func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	n = resolve(n)
	return n == nil || (n.Kind == yaml.ScalarNode && n.Tag == "!!null")
}

func (p *parser) errAt(line int, where, format string, args ...any) error {
	return &DeckError{Source: p.src, Line: line, Where: where, Msg: fmt.Sprintf(format, args...)}
}

// asMap checks that n is a mapping with only allowed keys, each once. what
// names the kind of entity in messages ("route", "service", ...).
func (p *parser) asMap(n *yaml.Node, where, what string, keys entityKeys) (*mapNode, error) {
	n = resolve(n)
	if n == nil || n.Kind != yaml.MappingNode {
		line := 0
		if n != nil {
			line = n.Line
		}
		return nil, p.errAt(line, where, "%s: expected a mapping", what)
	}
	m := &mapNode{src: p.src, where: where, line: n.Line, vals: map[string]*yaml.Node{}}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return nil, p.errAt(k.Line, where, "%s keys must be strings", what)
		}
		name := k.Value
		if _, dup := m.vals[name]; dup {
			return nil, p.errAt(k.Line, where, "duplicate key %q", name)
		}
		if !slices.Contains(keys.supported, name) {
			supported := strings.Join(keys.supported, ", ")
			if slices.Contains(keys.kongOnly, name) {
				return nil, p.errAt(k.Line, where, "%s key %q is valid in Kong but not supported by the local gateway (supported: %s)", what, name, supported)
			}
			return nil, p.errAt(k.Line, where, "unknown %s key %q (supported: %s)", what, name, supported)
		}
		m.vals[name] = v
	}
	return m, nil
}

func (m *mapNode) has(key string) bool { return !isNull(m.vals[key]) }

// lineOf is the line of key's value, or of the mapping if absent.
func (m *mapNode) lineOf(key string) int {
	if n := resolve(m.vals[key]); n != nil {
		return n.Line
	}
	return m.line
}

func (p *parser) scalar(m *mapNode, key, tag, kind string) (*yaml.Node, error) {
	n := resolve(m.vals[key])
	if isNull(n) {
		return nil, nil
	}
	if n.Kind != yaml.ScalarNode || n.Tag != tag {
		return nil, p.errAt(n.Line, m.where, "%s: expected %s", key, kind)
	}
	return n, nil
}

// str returns a string value, "" when absent or null.
func (p *parser) str(m *mapNode, key string) (string, error) {
	n, err := p.scalar(m, key, "!!str", "a string")
	if n == nil || err != nil {
		return "", err
	}
	return n.Value, nil
}

// boolean returns a boolean value, def when absent or null.
func (p *parser) boolean(m *mapNode, key string, def bool) (bool, error) {
	n, err := p.scalar(m, key, "!!bool", "a boolean")
	if n == nil || err != nil {
		return def, err
	}
	var b bool
	if err := n.Decode(&b); err != nil {
		return def, p.errAt(n.Line, m.where, "%s: %v", key, err)
	}
	return b, nil
}

// integer returns an integer value and whether it was set.
func (p *parser) integer(m *mapNode, key string) (int, bool, error) {
	n, err := p.scalar(m, key, "!!int", "an integer")
	if n == nil || err != nil {
		return 0, false, err
	}
	var v int
	if err := n.Decode(&v); err != nil {
		return 0, false, p.errAt(n.Line, m.where, "%s: %v", key, err)
	}
	return v, true, nil
}

// seq returns the items of a sequence, nil when absent or null.
func (p *parser) seq(m *mapNode, key string) ([]*yaml.Node, error) {
	n := resolve(m.vals[key])
	if isNull(n) {
		return nil, nil
	}
	if n.Kind != yaml.SequenceNode {
		return nil, p.errAt(n.Line, m.where, "%s: expected a list", key)
	}
	return n.Content, nil
}

// strs returns a list of strings, nil when absent or null.
func (p *parser) strs(m *mapNode, key string) ([]string, error) {
	items, err := p.seq(m, key)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(items))
	for i, it := range items {
		it = resolve(it)
		if it.Kind != yaml.ScalarNode || it.Tag != "!!str" {
			return nil, p.errAt(it.Line, m.where, "%s[%d]: expected a string", key, i)
		}
		out = append(out, it.Value)
	}
	return out, nil
}

// object decodes a mapping into JSON-shaped Go values (map[string]any,
// []any, float64, string, bool, nil): exactly what Kong gets from a JSON
// Admin API call, so schema validation sees the same types. Absent or null
// gives an empty map.
func (p *parser) object(m *mapNode, key string) (map[string]any, error) {
	n := resolve(m.vals[key])
	if isNull(n) {
		return map[string]any{}, nil
	}
	if n.Kind != yaml.MappingNode {
		return nil, p.errAt(n.Line, m.where, "%s: expected a mapping", key)
	}
	var raw any
	if err := n.Decode(&raw); err != nil {
		return nil, p.errAt(n.Line, m.where, "%s: %v", key, err)
	}
	b, err := json.Marshal(raw)
	if err != nil {
		// Only non-string map keys (e.g. `1: x`) get here.
		return nil, p.errAt(n.Line, m.where, "%s: cannot be expressed as JSON (are all keys strings?): %v", key, err)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, p.errAt(n.Line, m.where, "%s: %v", key, err)
	}
	return out, nil
}

// ref reads a foreign key: a name string, or a mapping {name: ...} as
// Kong's declarative format also allows.
func (p *parser) ref(m *mapNode, key string) (string, error) {
	n := resolve(m.vals[key])
	if isNull(n) {
		return "", nil
	}
	switch {
	case n.Kind == yaml.ScalarNode && n.Tag == "!!str" && n.Value != "":
		return n.Value, nil
	case n.Kind == yaml.MappingNode:
		fk, err := p.asMap(n, m.where+"."+key, key+" reference", entityKeys{supported: []string{"name"}, kongOnly: []string{"id"}})
		if err != nil {
			return "", err
		}
		name, err := p.str(fk, "name")
		if err == nil && name == "" {
			err = p.errAt(n.Line, m.where, "%s: name is required", key)
		}
		return name, err
	}
	return "", p.errAt(n.Line, m.where, "%s: expected a %s name", key, key)
}
