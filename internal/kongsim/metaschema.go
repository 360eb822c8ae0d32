package kongsim

import (
	"fmt"
	"sort"
	"strings"
)

// This file rebuilds Kong's MetaSchema.MetaSubSchema
// (kong/db/schema/metaschema.lua) as a definition for the engine in
// schema.go, plus its Lua `check` (check_fields / check_field), and the
// compatibility checks Schema.new_subschema applies right after it when a
// plugin schema is loaded (kong/db/schema/plugin_loader.lua
// load_subschema → Entity.new_subschema).

// validTypes is keys(Schema.valid_types) in declaration order.
var validTypes = []string{
	"array", "set", "string", "number", "boolean", "integer",
	"foreign", "map", "record", "function", "json",
}

// schemaNamespaces is values(constants.SCHEMA_NAMESPACES).
var schemaNamespaces = []any{"proxy-wasm-filters"}

// fl builds a Kong "fields" array from name, definition pairs.
func fl(pairs ...any) []any {
	out := make([]any, 0, len(pairs)/2)
	for i := 0; i < len(pairs); i += 2 {
		out = append(out, map[string]any{pairs[i].(string): pairs[i+1]})
	}
	return out
}

func typ(t string, kv ...any) map[string]any {
	m := map[string]any{"type": t}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	return m
}

var metaSubSchema = buildMetaSubSchema()

func buildMetaSubSchema() map[string]any {
	matchList := typ("array", "elements", typ("record", "fields", fl(
		"pattern", typ("string", "required", true),
		"err", typ("string"),
	)))
	matchAnyList := typ("record", "fields", fl(
		"patterns", typ("array", "elements", typ("string"), "required", true),
		"err", typ("string"),
	))
	// metaschema.lua `validators`
	validators := fl(
		"between", typ("array", "elements", typ("number"), "len_eq", float64(2)),
		"eq", typ("any"),
		"ne", typ("any"),
		"gt", typ("number"),
		"len_eq", typ("integer"),
		"len_min", typ("integer"),
		"len_max", typ("integer"),
		"match", typ("string"),
		"not_match", typ("string"),
		"match_all", matchList,
		"match_none", matchList,
		"match_any", matchAnyList,
		"starts_with", typ("string"),
		"one_of", typ("array", "elements", typ("any")),
		"not_one_of", typ("array", "elements", typ("any")),
		"contains", typ("any"),
		"is_regex", typ("boolean"),
		"timestamp", typ("boolean"),
		"uuid", typ("boolean"),
		"custom_validator", typ("function"),
		"mutually_exclusive_subsets", typ("array", "elements", typ("array", "elements", typ("string"))),
	)
	// json_metaschema; the inline/default custom_validator
	// (json_lib.validate_schema) is not simulated.
	jsonMetaschema := typ("record",
		"fields", fl(
			"namespace", typ("string", "one_of", schemaNamespaces),
			"parent_subschema_key", typ("string"),
			"optional", typ("boolean"),
			"inline", typ("any"),
			"default", typ("any"),
		),
		"entity_checks", []any{
			map[string]any{"at_least_one_of": []any{"inline", "namespace", "parent_subschema_key"}},
			map[string]any{"mutually_required": []any{"namespace", "parent_subschema_key"}},
			map[string]any{"mutually_exclusive_sets": map[string]any{
				"set1": []any{"inline"},
				"set2": []any{"namespace", "parent_subschema_key", "optional"},
			}},
		},
	)
	typeNames := make([]any, len(validTypes))
	for i, t := range validTypes {
		typeNames[i] = t
	}
	fieldSchema := fl(
		"type", typ("string", "one_of", typeNames, "required", true),
		"required", typ("boolean"),
		"reference", typ("string"),
		"description", typ("string", "len_min", float64(10), "len_max", float64(500)),
		"examples", typ("array", "elements", typ("any")),
		"auto", typ("boolean"),
		"unique", typ("boolean"),
		"unique_across_ws", typ("boolean"),
		"on_delete", typ("string", "one_of", []any{"restrict", "cascade", "null"}),
		"default", typ("self"),
		"abstract", typ("boolean"),
		"generate_admin_api", typ("boolean"),
		"immutable", typ("boolean"),
		"err", typ("string"),
		"encrypted", typ("boolean"),
		"referenceable", typ("boolean"),
		"json_schema", jsonMetaschema,
		"transient", typ("boolean"),
		"deprecation", typ("record", "fields", fl(
			"message", typ("string", "required", true),
			"removal_in_version", typ("string", "required", true),
			"old_default", typ("any", "required", false),
			"replaced_with", typ("array", "required", false, "elements", typ("record",
				"required", false,
				"fields", fl(
					"path", typ("array", "len_min", float64(1), "required", true, "elements", typ("string")),
					"reverse_mapping_function", typ("function", "required", false),
				))),
		)),
	)
	fieldSchema = append(fieldSchema, validators...)
	// "Most of the above are optional"
	for _, item := range fieldSchema {
		for _, d := range item.(map[string]any) {
			dm := d.(map[string]any)
			dm["nilable"] = dm["required"] != true
		}
	}
	fieldEntityChecks := []any{map[string]any{"conditional": map[string]any{
		"if_field": "unique_across_ws", "if_match": map[string]any{"eq": true},
		"then_field": "unique", "then_match": map[string]any{"eq": true, "required": true},
	}}}
	fieldRecord := func() map[string]any { return typ("record") } // fields set below (recursive)
	fieldsArray := typ("array", "elements", typ("map",
		"keys", typ("string"),
		"values", typ("record", "entity_checks", fieldEntityChecks), // fields set below
		"required", true,
		"len_eq", float64(1),
	))

	elementsDef, keysDef, valuesDef := fieldRecord(), fieldRecord(), fieldRecord()
	fieldSchema = append(fieldSchema, fl(
		"elements", elementsDef,
		"keys", keysDef,
		"values", valuesDef,
		"fields", fieldsArray,
	)...)

	conditionalValidators := fl(
		"required", typ("boolean"),
		"elements", elementsDef,
		"keys", keysDef,
		"values", valuesDef,
	)
	conditionalValidators = append(conditionalValidators, validators...)
	strArray := func() map[string]any { return typ("array", "elements", typ("string")) }
	entityCheckers := fl(
		"at_least_one_of", strArray(),
		"conditional_at_least_one_of", typ("record", "fields", fl(
			"if_field", typ("string"),
			"if_match", typ("record", "fields", conditionalValidators),
			"then_at_least_one_of", strArray(),
			"then_err", typ("string"),
			"else_match", typ("record", "fields", conditionalValidators),
			"else_then_at_least_one_of", strArray(),
			"else_then_err", typ("string"),
		)),
		"only_one_of", strArray(),
		"distinct", strArray(),
		"conditional", typ("record", "fields", fl(
			"if_field", typ("string"),
			"if_match", typ("record", "fields", conditionalValidators),
			"then_field", typ("string"),
			"then_match", typ("record", "fields", conditionalValidators),
			"then_err", typ("string"),
		)),
		"custom_entity_check", typ("record", "fields", fl(
			"field_sources", strArray(),
			"fn", typ("function"),
			"run_with_missing_fields", typ("boolean"),
			"run_with_invalid_fields", typ("boolean"),
		)),
		"mutually_required", strArray(),
		"mutually_exclusive", strArray(),
		"mutually_exclusive_sets", typ("record", "fields", fl(
			"set1", strArray(),
			"set2", strArray(),
		)),
	)
	entityChecksSchema := typ("array",
		"elements", typ("record",
			"fields", entityCheckers,
			"entity_checks", []any{map[string]any{"only_one_of": anyList(entityCheckerNames)}},
		),
		"nilable", true,
	)
	shorthandFieldsArray := typ("array", "elements", typ("map",
		"keys", typ("string"),
		"required", true,
		"len_eq", float64(1),
	), "nilable", true)
	fieldSchema = append(fieldSchema, fl(
		"entity_checks", entityChecksSchema,
		"shorthand_fields", shorthandFieldsArray,
	)...)

	// close the recursion
	for _, d := range []map[string]any{elementsDef, keysDef, valuesDef} {
		d["fields"] = fieldSchema
	}
	fieldsArray["elements"].(map[string]any)["values"].(map[string]any)["fields"] = fieldSchema

	// make_shorthand_field_schema: no record/foreign/function shorthands,
	// plus func (a Lua function, so never satisfiable from JSON).
	var shortTypes []any
	for _, t := range validTypes {
		if t != "record" && t != "foreign" && t != "function" {
			shortTypes = append(shortTypes, t)
		}
	}
	shorthandFieldSchema := append([]any{}, fieldSchema...)
	shorthandFieldSchema[0] = map[string]any{"type": typ("string", "one_of", shortTypes, "required", true)}
	shorthandFieldSchema = append(shorthandFieldSchema, fl(
		"func", typ("function", "required", true),
		"translate_backwards", typ("array", "elements", typ("string"), "required", false),
	)...)
	shorthandFieldsArray["elements"].(map[string]any)["values"] = typ("record",
		"fields", shorthandFieldSchema,
		"entity_checks", fieldEntityChecks,
	)

	transformationsArray := typ("array", "nilable", true, "elements", typ("record",
		"fields", fl(
			"input", typ("array", "required", false, "elements", typ("string")),
			"needs", typ("array", "required", false, "elements", typ("string")),
			"on_write", typ("function", "required", false),
			"on_read", typ("function", "required", false),
		),
		"entity_checks", []any{map[string]any{"at_least_one_of": []any{"on_write", "on_read"}}},
	))

	return map[string]any{
		"type": "record",
		"fields": fl(
			"name", typ("string", "required", true),
			"fields", fieldsArray,
			"entity_checks", entityChecksSchema,
			"shorthand_fields", shorthandFieldsArray,
			"transformations", transformationsArray,
			"check", typ("function", "nilable", true),
		),
		checkKey: recordCheck(metaSubSchemaCheck),
	}
}

// Messages from metaschema.lua meta_errors.
const (
	metaErrAttribute        = "field of type '%s' cannot have attribute '%s'"
	metaErrRequired         = "field of type '%s' must declare '%s'"
	metaErrTable            = "'%s' must be a table"
	metaErrType             = "missing type declaration"
	metaErrFieldEmpty       = "field entry table is empty"
	metaErrFieldsArray      = "each entry in fields must be a sub-table"
	metaErrJSONParentKey    = "value must be a field name of the parent schema"
	metaErrJSONParentKeyTyp = "value must be a string field of the parent schema"
)

// requiredAttributes is metaschema.lua required_attributes.
var requiredAttributes = map[string][]string{
	"array":  {"elements"},
	"set":    {"elements"},
	"map":    {"keys", "values"},
	"record": {"fields"},
	"json":   {"json_schema"},
}

// attributeTypes is metaschema.lua attribute_types: attribute → the field
// types allowed to carry it.
var attributeTypes = map[string][]string{
	"between":          {"integer", "number"},
	"len_eq":           {"array", "set", "string", "map"},
	"match":            {"string"},
	"one_of":           {"string", "number", "integer"},
	"contains":         {"array", "set"},
	"is_regex":         {"string"},
	"timestamp":        {"number", "integer"},
	"uuid":             {"string"},
	"unique":           {"string", "number", "integer", "foreign"},
	"unique_across_ws": {"string", "number", "integer", "foreign"},
	"abstract":         {"string", "number", "integer", "record", "array", "set", "map"},
	"json_schema":      {"json"},
	"transient":        {"string", "number", "integer", "array", "set", "boolean"},
}

// metaSubSchemaCheck is MetaSubSchema's `check` (check_fields), with
// errors keyed by the field's path instead of Kong's flat field name.
func metaSubSchemaCheck(schema map[string]any) []problem {
	fields, ok := schema["fields"]
	if !ok || fields == nil {
		return []problem{{"fields", fmt.Sprintf(metaErrTable, "fields")}}
	}
	return checkFields(schema, "")
}

// fieldsPath names item i of a "fields" array under prefix.
func fieldsPath(prefix string, i int) string {
	return joinPath(prefix, fmt.Sprintf("fields[%d]", i+1))
}

// checkFields is metaschema.lua check_fields (including its
// transformations input/needs check).
func checkFields(schema map[string]any, prefix string) []problem {
	var ps []problem
	if trs, ok := schema["transformations"].([]any); ok {
		for i, tr := range trs {
			trm, _ := tr.(map[string]any)
			for _, kind := range []string{"input", "needs"} {
				for j, name := range sequenceOf(trm[kind]) {
					s, _ := name.(string)
					if !hasSchemaField(schema, s) {
						ps = append(ps, problem{
							joinPath(prefix, fmt.Sprintf("transformations[%d].%s[%d]", i+1, kind, j+1)),
							"invalid field name: " + s,
						})
					}
				}
			}
		}
	}
	items, ok := schema["fields"].([]any)
	if !ok {
		return append(ps, problem{joinPath(prefix, "fields"), fmt.Sprintf(metaErrTable, "fields")})
	}
	for i, item := range items {
		m, ok := item.(map[string]any)
		if !ok {
			ps = append(ps, problem{fieldsPath(prefix, i), metaErrFieldsArray})
			break
		}
		if len(m) == 0 {
			ps = append(ps, problem{fieldsPath(prefix, i), metaErrFieldEmpty})
			break
		}
		for _, k := range sortedKeys(m) {
			path := joinPath(fieldsPath(prefix, i), k)
			field, ok := m[k].(map[string]any)
			if !ok {
				ps = append(ps, problem{path, fmt.Sprintf(metaErrTable, k)})
				continue
			}
			ps = append(ps, checkField(k, field, schema, path)...)
		}
	}
	return ps
}

func sortedKeys(m map[string]any) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// hasSchemaField is metaschema.lua has_schema_field.
func hasSchemaField(schema map[string]any, name string) bool {
	if schema == nil {
		return false
	}
	hd, tl, dotted := strings.Cut(name, ".")
	items, _ := schema["fields"].([]any)
	for _, item := range items {
		m, _ := item.(map[string]any)
		for k, v := range m {
			if k != hd {
				continue
			}
			if !dotted {
				return true
			}
			vm, _ := v.(map[string]any)
			if vm != nil && vm["type"] == "foreign" {
				return true
			}
			return hasSchemaField(vm, tl)
		}
	}
	return false
}

// checkField is metaschema.lua check_field.
func checkField(k string, field map[string]any, parent map[string]any, path string) []problem {
	t, hasType := field["type"]
	if !hasType {
		return []problem{{path, metaErrType}}
	}
	ts := jsonToString(t)
	var ps []problem
	if req, ok := requiredAttributes[ts]; ok {
		if luaTruthy(field, "abstract") && ts == "record" {
			req = nil
		}
		for _, attr := range req {
			if !luaTruthy(field, attr) {
				ps = append(ps, problem{path, fmt.Sprintf(metaErrRequired, ts, attr)})
			}
		}
	}
	for _, attr := range sortedKeys(field) {
		allowed, restricted := attributeTypes[attr]
		if !restricted {
			continue
		}
		ok := false
		for _, a := range allowed {
			if a == ts {
				ok = true
			}
		}
		if !ok {
			ps = append(ps, problem{path, fmt.Sprintf(metaErrAttribute, ts, attr)})
		}
	}
	for _, name := range []string{"elements", "keys", "values"} {
		v, ok := field[name]
		if !ok || v == false {
			continue
		}
		sub, isMap := v.(map[string]any)
		if !isMap {
			ps = append(ps, problem{path, fmt.Sprintf(metaErrTable, name)})
			continue
		}
		ps = append(ps, checkField(k, sub, field, joinPath(path, name))...)
	}
	if ts == "json" {
		if js, ok := field["json_schema"].(map[string]any); ok {
			if key, ok := js["parent_subschema_key"].(string); ok {
				found := false
				items, _ := parent["fields"].([]any)
				for _, item := range items {
					m, _ := item.(map[string]any)
					if pf, ok := m[key].(map[string]any); ok {
						if pf["type"] != "string" {
							ps = append(ps, problem{joinPath(path, "json_schema.parent_subschema_key"), metaErrJSONParentKeyTyp})
						}
						found = true
						break
					}
				}
				if !found {
					return append(ps, problem{joinPath(path, "json_schema.parent_subschema_key"), metaErrJSONParentKey})
				}
			}
		}
	}
	if luaTruthy(field, "fields") {
		ps = append(ps, checkFields(field, path)...)
	}
	return ps
}

// pluginEntityFields are the fields of kong/db/schema/entities/plugins.lua
// with the type Schema.new_subschema compares (compatible_fields).
var pluginEntityFields = map[string]map[string]any{
	"id":            typ("string"),
	"name":          typ("string"),
	"instance_name": typ("string"),
	"created_at":    typ("integer"),
	"updated_at":    typ("integer"),
	"route":         typ("foreign"),
	"service":       typ("foreign"),
	"consumer":      typ("foreign"),
	"config":        typ("record"),
	"protocols":     typ("set", "elements", typ("string")),
	"enabled":       typ("boolean"),
	"tags":          typ("set", "elements", typ("string")),
}

// checkNewSubschema follows Schema.new_subschema (compatible_fields) for a
// plugin schema added under the plugins entity.
func checkNewSubschema(schema map[string]any) []problem {
	name := jsonToString(schema["name"])
	items, _ := schema["fields"].([]any)
	var ps []problem
	for i, item := range items {
		m, _ := item.(map[string]any)
		for fname, v := range m {
			path := joinPath(fieldsPath("", i), fname)
			f, _ := v.(map[string]any)
			parent, ok := pluginEntityFields[fname]
			if !ok {
				ps = append(ps, problem{path, fmt.Sprintf("error in definition of '%s': %s: cannot create a new field", name, fname)})
				continue
			}
			if f != nil && !compatibleFields(parent, f) {
				ps = append(ps, problem{path, fmt.Sprintf("error in definition of '%s': %s: cannot change type in a specialized field", name, fname)})
			}
		}
	}
	return ps
}

// compatibleFields is init.lua compatible_fields.
func compatibleFields(f1, f2 map[string]any) bool {
	t1, t2 := f1["type"], f2["type"]
	if t1 == "record" && t2 == "json" {
		return true
	}
	if t1 != t2 {
		return false
	}
	switch t1 {
	case "array", "set":
		e1, _ := f1["elements"].(map[string]any)
		e2, _ := f2["elements"].(map[string]any)
		return e1 != nil && e2 != nil && e1["type"] == e2["type"]
	case "map":
		k1, _ := f1["keys"].(map[string]any)
		k2, _ := f2["keys"].(map[string]any)
		v1, _ := f1["values"].(map[string]any)
		v2, _ := f2["values"].(map[string]any)
		return k1 != nil && k2 != nil && v1 != nil && v2 != nil &&
			k1["type"] == k2["type"] && v1["type"] == v2["type"]
	}
	return true
}

// ValidateSubSchema applies the checks Kong runs when it loads a plugin
// schema (kong/db/schema/plugin_loader.lua load_subschema): first
// MetaSchema.MetaSubSchema:validate (kong/db/schema/metaschema.lua, the
// field definitions, attribute types and names, attribute values,
// recursively through elements/keys/values/fields, then its check_fields),
// then the Entity.new_subschema compatibility checks (every top-level
// field must exist in the plugins entity with a compatible type). The
// schema is the JSON-decoded "Schema" object of a -dump. Every problem is
// returned in one *SchemaError, paths like
// "fields[1].config.fields[2].auth_url.description". Lua functions
// (custom validators, shorthand funcs, transformations) cannot appear in
// JSON, so definitions that need them are rejected, as Kong would.
func ValidateSubSchema(schema map[string]any) error {
	if schema == nil {
		return fmt.Errorf("kongsim: no schema (Kong: %q)", "no configuration schema found for plugin")
	}
	norm, err := normalizeJSON(schema)
	if err != nil {
		return fmt.Errorf("kongsim: schema is not JSON data: %w", err)
	}
	s := norm.(map[string]any)
	ps := validateRecord(metaSubSchema, s)
	if len(ps) == 0 {
		ps = checkNewSubschema(s)
	}
	if e := newSchemaError(ps); e != nil {
		return e
	}
	return nil
}
