package kongsim

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func mustJSON(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("bad test JSON %s: %v", s, err)
	}
	return m
}

// schemaWithConfig wraps config field definitions in a plugin schema.
func schemaWithConfig(t *testing.T, fields string) map[string]any {
	return mustJSON(t, `{"name":"legacy-auth","fields":[{"config":{"type":"record","fields":[`+fields+`]}}]}`)
}

const goodConfigFields = `
	{"auth_url":{"type":"string","required":true,"match":"^https?://","description":"Where to authenticate."}},
	{"auth_method":{"type":"string","default":"GET","one_of":["GET","POST"]}},
	{"timeout":{"type":"integer","default":5000,"between":[1,60000]}},
	{"ratio":{"type":"number","gt":0,"default":0.5}},
	{"headers":{"type":"array","elements":{"type":"string","len_min":1},"default":[]}},
	{"methods":{"type":"set","elements":{"type":"string","one_of":["GET","POST"]}}},
	{"extra":{"type":"map","keys":{"type":"string"},"values":{"type":"string"}}},
	{"cache":{"type":"record","fields":[{"ttl":{"type":"integer","default":60}},{"enabled":{"type":"boolean","default":true}}]}},
	{"prefix":{"type":"string","starts_with":"/","len_max":64}},
	{"secret":{"type":"string","referenceable":true,"encrypted":true}}`

func TestValidateSubSchemaAccepts(t *testing.T) {
	tests := []struct {
		name   string
		schema map[string]any
	}{
		{"kong-style schema", schemaWithConfig(t, goodConfigFields)},
		{"go-pdk dump schema", mustJSON(t, `{"name":"echoplugin","fields":[{"config":{"type":"record","fields":[
			{"greeting":{"type":"string"}},{"limit":{"type":"integer"}},
			{"tags":{"elements":{"type":"string"},"type":"array"}},
			{"port":{"type":"integer","between":[0,2147483648]}},
			{"m":{"type":"map","keys":{"type":"string"},"values":{"type":"integer"}}},
			{"r":{"type":"record","fields":[]}}]}}]}`)},
		{"protocols override", mustJSON(t, `{"name":"p","fields":[
			{"protocols":{"type":"set","elements":{"type":"string","one_of":["http","https"]},"default":["http","https"],"required":true}},
			{"config":{"type":"record","fields":[]}}]}`)},
		{"entity checks", mustJSON(t, `{"name":"p","fields":[{"config":{"type":"record","fields":[
			{"a":{"type":"string"}},{"b":{"type":"string"}}],
			"entity_checks":[{"at_least_one_of":["a","b"]},{"mutually_exclusive":["a","b"]}]}}]}`)},
	}
	for _, tt := range tests {
		if err := ValidateSubSchema(tt.schema); err != nil {
			t.Errorf("%s: unexpected error: %v", tt.name, err)
		}
	}
}

func TestValidateSubSchemaRejects(t *testing.T) {
	tests := []struct {
		class  string
		schema string
		path   string
		msg    string
	}{
		{"name required",
			`{"fields":[{"config":{"type":"record","fields":[]}}]}`,
			"name", "field required for entity check"},
		{"unknown top-level attribute",
			`{"name":"p","fields":[],"priority":5}`,
			"priority", "unknown field"},
		{"fields entry must be a single-key map",
			`{"name":"p","fields":[{"a":{"type":"string"},"b":{"type":"string"}}]}`,
			"fields[1]", "length must be 1"},
		{"type missing",
			`{"name":"p","fields":[{"config":{"type":"record","fields":[{"a":{"required":true}}]}}]}`,
			"fields[1].config.fields[1].a.type", "required field missing"},
		{"invalid type",
			`{"name":"p","fields":[{"config":{"type":"record","fields":[{"a":{"type":"strin"}}]}}]}`,
			"fields[1].config.fields[1].a.type", "expected one of: array, set, string, number, boolean, integer, foreign, map, record, function, json"},
		{"array needs elements",
			`{"name":"p","fields":[{"config":{"type":"record","fields":[{"a":{"type":"array"}}]}}]}`,
			"fields[1].config.fields[1].a", "field of type 'array' must declare 'elements'"},
		{"set needs elements",
			`{"name":"p","fields":[{"config":{"type":"record","fields":[{"a":{"type":"set"}}]}}]}`,
			"fields[1].config.fields[1].a", "field of type 'set' must declare 'elements'"},
		{"map needs keys",
			`{"name":"p","fields":[{"config":{"type":"record","fields":[{"a":{"type":"map","values":{"type":"string"}}}]}}]}`,
			"fields[1].config.fields[1].a", "field of type 'map' must declare 'keys'"},
		{"record needs fields",
			`{"name":"p","fields":[{"config":{"type":"record","fields":[{"a":{"type":"record"}}]}}]}`,
			"fields[1].config.fields[1].a", "field of type 'record' must declare 'fields'"},
		{"between only on numbers",
			`{"name":"p","fields":[{"config":{"type":"record","fields":[{"a":{"type":"string","between":[1,2]}}]}}]}`,
			"fields[1].config.fields[1].a", "field of type 'string' cannot have attribute 'between'"},
		{"one_of only on string/number/integer",
			`{"name":"p","fields":[{"config":{"type":"record","fields":[{"a":{"type":"boolean","one_of":[true]}}]}}]}`,
			"fields[1].config.fields[1].a", "field of type 'boolean' cannot have attribute 'one_of'"},
		{"match only on strings",
			`{"name":"p","fields":[{"config":{"type":"record","fields":[{"a":{"type":"integer","match":"%d"}}]}}]}`,
			"fields[1].config.fields[1].a", "field of type 'integer' cannot have attribute 'match'"},
		{"len_eq not on integers",
			`{"name":"p","fields":[{"config":{"type":"record","fields":[{"a":{"type":"integer","len_eq":2}}]}}]}`,
			"fields[1].config.fields[1].a", "field of type 'integer' cannot have attribute 'len_eq'"},
		{"restriction applies inside elements",
			`{"name":"p","fields":[{"config":{"type":"record","fields":[{"a":{"type":"array","elements":{"type":"boolean","uuid":true}}}]}}]}`,
			"fields[1].config.fields[1].a.elements", "field of type 'boolean' cannot have attribute 'uuid'"},
		{"unknown attribute",
			`{"name":"p","fields":[{"config":{"type":"record","fields":[{"a":{"type":"string","defualt":"x"}}]}}]}`,
			"fields[1].config.fields[1].a.defualt", "unknown field"},
		{"unknown attribute in elements",
			`{"name":"p","fields":[{"config":{"type":"record","fields":[{"a":{"type":"array","elements":{"type":"string","bogus":1}}}]}}]}`,
			"fields[1].config.fields[1].a.elements.bogus", "unknown field"},
		{"unknown attribute in map values",
			`{"name":"p","fields":[{"config":{"type":"record","fields":[{"a":{"type":"map","keys":{"type":"string"},"values":{"type":"string","nope":true}}}]}}]}`,
			"fields[1].config.fields[1].a.values.nope", "unknown field"},
		{"required must be boolean",
			`{"name":"p","fields":[{"config":{"type":"record","fields":[{"a":{"type":"string","required":"yes"}}]}}]}`,
			"fields[1].config.fields[1].a.required", "expected a boolean"},
		{"between needs two numbers",
			`{"name":"p","fields":[{"config":{"type":"record","fields":[{"a":{"type":"integer","between":[1]}}]}}]}`,
			"fields[1].config.fields[1].a.between", "length must be 2"},
		{"between elements are numbers",
			`{"name":"p","fields":[{"config":{"type":"record","fields":[{"a":{"type":"integer","between":[1,"x"]}}]}}]}`,
			"fields[1].config.fields[1].a.between[2]", "expected a number"},
		{"one_of is an array",
			`{"name":"p","fields":[{"config":{"type":"record","fields":[{"a":{"type":"string","one_of":"GET"}}]}}]}`,
			"fields[1].config.fields[1].a.one_of", "expected an array"},
		{"description too short",
			`{"name":"p","fields":[{"config":{"type":"record","fields":[{"a":{"type":"string","description":"short"}}]}}]}`,
			"fields[1].config.fields[1].a.description", "length must be at least 10"},
		{"description too long",
			`{"name":"p","fields":[{"config":{"type":"record","fields":[{"a":{"type":"string","description":"` + strings.Repeat("x", 501) + `"}}]}}]}`,
			"fields[1].config.fields[1].a.description", "length must be at most 500"},
		{"default of the field's own type",
			`{"name":"p","fields":[{"config":{"type":"record","fields":[{"a":{"type":"string","default":5}}]}}]}`,
			"fields[1].config.fields[1].a.default", "expected a string"},
		{"default must satisfy the field's validators",
			`{"name":"p","fields":[{"config":{"type":"record","fields":[{"a":{"type":"string","one_of":["GET","POST"],"default":"PUT"}}]}}]}`,
			"fields[1].config.fields[1].a.default", "expected one of: GET, POST"},
		{"default array elements are checked",
			`{"name":"p","fields":[{"config":{"type":"record","fields":[{"a":{"type":"array","elements":{"type":"integer"},"default":[1,"2"]}}]}}]}`,
			"fields[1].config.fields[1].a.default[2]", "expected an integer"},
		{"on_delete values",
			`{"name":"p","fields":[{"config":{"type":"record","fields":[{"a":{"type":"string","on_delete":"boom"}}]}}]}`,
			"fields[1].config.fields[1].a.on_delete", "expected one of: restrict, cascade, null"},
		{"nested record fields are checked",
			`{"name":"p","fields":[{"config":{"type":"record","fields":[{"r":{"type":"record","fields":[{"x":{"type":"number","len_eq":1}}]}}]}}]}`,
			"fields[1].config.fields[1].r.fields[1].x", "field of type 'number' cannot have attribute 'len_eq'"},
		{"unique_across_ws requires unique",
			`{"name":"p","fields":[{"config":{"type":"record","fields":[{"a":{"type":"string","unique_across_ws":true}}]}}]}`,
			"fields[1].config.fields[1].a.unique", "required field missing"},
		{"entity check names",
			`{"name":"p","fields":[{"config":{"type":"record","fields":[{"a":{"type":"string"}}],"entity_checks":[{"at_most_one_of":["a"]}]}}]}`,
			"fields[1].config.entity_checks[1].at_most_one_of", "unknown field"},
		{"functions cannot come from JSON",
			`{"name":"p","fields":[{"config":{"type":"record","fields":[{"a":{"type":"string","custom_validator":"f"}}]}}]}`,
			"fields[1].config.fields[1].a.custom_validator", "expected a function"},
		{"subschema cannot create plugin fields",
			`{"name":"p","fields":[{"config":{"type":"record","fields":[]}},{"priority":{"type":"integer"}}]}`,
			"fields[2].priority", "error in definition of 'p': priority: cannot create a new field"},
		{"subschema cannot change field types",
			`{"name":"p","fields":[{"config":{"type":"record","fields":[]}},{"enabled":{"type":"string"}}]}`,
			"fields[2].enabled", "error in definition of 'p': enabled: cannot change type in a specialized field"},
	}
	for _, tt := range tests {
		err := ValidateSubSchema(mustJSON(t, tt.schema))
		var se *SchemaError
		if !errors.As(err, &se) {
			t.Errorf("%s: want *SchemaError, got %v", tt.class, err)
			continue
		}
		found := false
		for _, m := range se.Problems[tt.path] {
			if m == tt.msg {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: want %q at %q, got %v", tt.class, tt.msg, tt.path, err)
		}
	}
}

func TestValidateSubSchemaListsEveryProblem(t *testing.T) {
	err := ValidateSubSchema(mustJSON(t, `{"name":"p","fields":[{"config":{"type":"record","fields":[
		{"a":{"type":"array"}},
		{"b":{"type":"string","between":[1,2]}},
		{"c":{"type":"string","description":"short"}}]}}]}`))
	var se *SchemaError
	if !errors.As(err, &se) {
		t.Fatalf("want *SchemaError, got %v", err)
	}
	msg := se.Error()
	for _, want := range []string{
		"3 schema violations (",
		"fields[1].config.fields[1].a: field of type 'array' must declare 'elements'",
		"fields[1].config.fields[2].b: field of type 'string' cannot have attribute 'between'",
		"fields[1].config.fields[3].c.description: length must be at least 10",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
}
