package kongsim

import (
	"fmt"
	"math"
	"sort"
	"strings"
)

// This file is a small re-implementation of Kong's schema engine
// (kong/db/schema/init.lua): Schema:process_auto_fields for the "insert"
// context and Schema:validate / Schema:validate_field with the validators
// and entity checkers a JSON-decoded schema can use. Both ProcessConfig
// (the Admin API path for a plugin's config) and ValidateSubSchema (the
// metaschema check Kong runs on the -dump output) drive it.
//
// Definitions are JSON-shaped maps exactly as decoded from the dump, so
// Lua's distinction between a missing key (nil) and a JSON null (ngx.null,
// which is truthy in Lua) is kept: "absent" is a missing map key, "null" is
// a key holding Go nil. Values are canonical JSON values (see cjson.go).

// Messages from kong/db/schema/init.lua validation_errors.
const (
	errArray                  = "expected an array"
	errSet                    = "expected a set"
	errMap                    = "expected a map"
	errRecord                 = "expected a record"
	errString                 = "expected a string"
	errNumber                 = "expected a number"
	errBoolean                = "expected a boolean"
	errInteger                = "expected an integer"
	errFunction               = "expected a function"
	errEQ                     = "value must be %s"
	errNE                     = "value must not be %s"
	errGT                     = "value must be greater than %s"
	errBetween                = "value should be between %d and %d"
	errLenEQ                  = "length must be %d"
	errLenMin                 = "length must be at least %d"
	errLenMax                 = "length must be at most %d"
	errMatch                  = "invalid value: %s"
	errStartsWith             = "should start with: %s"
	errContains               = "expected to contain: %s"
	errOneOf                  = "expected one of: %s"
	errNotOneOf               = "must not be one of: %s"
	errIsRegex                = "not a valid regex: %s"
	errTimestamp              = "expected a valid timestamp"
	errUUID                   = "expected a valid UUID"
	errValidation             = "failed validating: %s"
	errRequired               = "required field missing"
	errUnknown                = "unknown field"
	errRequiredForEntityCheck = "field required for entity check"
	errEntityCheck            = "failed entity check: %s(%s)"
	errConditional            = "failed conditional validation given value of field '%s'"
	errAtLeastOneOf           = "at least one of these fields must be non-empty: %s"
	errOnlyOneOf              = "exactly one of these fields must be non-empty: %s"
	errDistinct               = "values of these fields must be distinct: %s"
	errMutuallyRequired       = "all or none of these fields must be set: %s"
	errMutuallyExclusive      = "only one or none of these fields must be set: %s"
	errMutuallyExclusiveSets  = "these sets are mutually exclusive: %s"
	errSchemaCannotValidate   = "error in schema prevents from validating this field"
	errSchemaType             = "invalid type: %s"
	errAbstractField          = "error in schema definition: abstract field was not specialized"
)

// entityKey is the key Kong uses for errors that belong to a whole record
// (insert_entity_error).
const entityKey = "@entity"

// problem is one validation error; path is relative to the value that was
// validated ("" for the value itself, "name", "[2]", "a.b[1].c").
type problem struct{ path, msg string }

func joinPath(prefix, rel string) string {
	switch {
	case prefix == "":
		return rel
	case rel == "":
		return prefix
	case strings.HasPrefix(rel, "["):
		return prefix + rel
	}
	return prefix + "." + rel
}

func prefixProblems(prefix string, ps []problem) []problem {
	out := make([]problem, len(ps))
	for i, p := range ps {
		out[i] = problem{joinPath(prefix, p.path), p.msg}
	}
	return out
}

// SchemaError lists every problem found while validating against a Kong
// schema. Paths name fields with dots, array elements with 1-based [i]
// (Lua indices), map values with their key, and record-level (entity
// check) errors with "@entity", e.g. "config.auth_url",
// "config.allowed[2]", "fields[1].config.type".
type SchemaError struct {
	Problems map[string][]string
}

func newSchemaError(ps []problem) *SchemaError {
	if len(ps) == 0 {
		return nil
	}
	e := &SchemaError{Problems: map[string][]string{}}
	for _, p := range ps {
		e.Problems[p.path] = append(e.Problems[p.path], p.msg)
	}
	return e
}

// Error formats the problems like kong/db/errors.lua schema_violation:
// "schema violation (path: msg)" or "N schema violations (a: x; b: y)",
// sorted by path.
func (e *SchemaError) Error() string {
	paths := make([]string, 0, len(e.Problems))
	for p := range e.Problems {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	var buf []string
	for _, p := range paths {
		for _, m := range e.Problems[p] {
			if p == "" {
				buf = append(buf, m)
			} else {
				buf = append(buf, p+": "+m)
			}
		}
	}
	if len(buf) == 1 {
		return "schema violation (" + buf[0] + ")"
	}
	return fmt.Sprintf("%d schema violations (%s)", len(buf), strings.Join(buf, "; "))
}

// luaTruthy reports whether m[k] is truthy in Lua: present and not false
// (JSON null is ngx.null, a truthy lightuserdata).
func luaTruthy(m map[string]any, k string) bool {
	v, ok := m[k]
	return ok && v != false
}

func defType(f map[string]any) string {
	t, _ := f["type"].(string)
	return t
}

type namedField struct {
	name string
	def  map[string]any
}

// recordFields returns the ordered field list of a record definition
// (Schema:each_field).
func recordFields(def map[string]any) ([]namedField, error) {
	raw, ok := def["fields"].([]any)
	if !ok {
		return nil, fmt.Errorf("record has no 'fields' array")
	}
	out := make([]namedField, 0, len(raw))
	for i, item := range raw {
		m, ok := item.(map[string]any)
		if !ok || len(m) != 1 {
			return nil, fmt.Errorf("fields[%d] is not a single-key table", i+1)
		}
		for k, v := range m {
			d, ok := v.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("fields[%d].%s is not a table", i+1, k)
			}
			out = append(out, namedField{k, d})
		}
	}
	return out, nil
}

func fieldByName(fields []namedField, name string) map[string]any {
	var found map[string]any
	for _, f := range fields {
		if f.name == name {
			found = f.def // Schema.new indexes by name: the last one wins
		}
	}
	return found
}

// isTable reports whether v decodes to a Lua table.
func isTable(v any) bool {
	switch v.(type) {
	case map[string]any, []any:
		return true
	}
	return false
}

// asRecordInput views a table as string-keyed input. A JSON array is a Lua
// table with integer keys; those never name a field, so they are kept as
// their decimal form and end up reported as unknown fields.
func asRecordInput(v any) (map[string]any, bool) {
	switch x := v.(type) {
	case map[string]any:
		return x, true
	case []any:
		m := make(map[string]any, len(x))
		for i, e := range x {
			m[fmt.Sprint(i+1)] = e
		}
		return m, true
	}
	return nil, false
}

// isSequence is init.lua is_sequence: a JSON array (nulls are ngx.null, so
// not holes) or an empty object (an empty Lua table).
func isSequence(v any) bool {
	switch x := v.(type) {
	case []any:
		return true
	case map[string]any:
		return len(x) == 0
	}
	return false
}

func sequenceOf(v any) []any {
	if x, ok := v.([]any); ok {
		return x
	}
	return nil
}

// luaEqual is Lua's == on decoded JSON values: primitives by value, tables
// by identity (two decoded tables are never the same object).
func luaEqual(a, b any) bool {
	if isTable(a) || isTable(b) {
		return false
	}
	return a == b
}

// isNonEmpty is init.lua is_nonempty.
func isNonEmpty(v any, present bool) bool {
	if !present || v == nil {
		return false
	}
	switch x := v.(type) {
	case string:
		return x != ""
	case map[string]any:
		return len(x) > 0
	case []any:
		return len(x) > 0
	}
	return true
}

// jsonToString is tostring() on a decoded value (ngx.null prints as
// "userdata: NULL").
func jsonToString(v any) string {
	switch x := v.(type) {
	case nil:
		return "userdata: NULL"
	case bool, float64, string:
		return luaToString(x)
	case map[string]any, []any:
		return fmt.Sprintf("table: %p", &x)
	}
	return fmt.Sprint(v)
}

// quotedList is init.lua quoted_list.
func quotedList(words []any) string {
	var msg []string
	for _, w := range words {
		if l, ok := w.([]any); ok {
			msg = append(msg, "("+quotedList(l)+")")
		} else {
			msg = append(msg, "'"+jsonToString(w)+"'")
		}
	}
	return strings.Join(msg, ", ")
}

// luaRuntimeError reports a Lua error Kong itself would raise while
// validating (the Admin API answers 500); we surface it as a problem.
func luaRuntimeError(format string, args ...any) []problem {
	return []problem{{"", "kongsim: Lua error in Kong's validator: " + fmt.Sprintf(format, args...)}}
}

// ---------------------------------------------------------------------------
// process_auto_fields ("insert" context)

// processRecord follows Schema:process_auto_fields(data, "insert") for a
// record definition: a deep copy of data where every declared field is
// adjusted (adjust_field_for_context) and missing ones are filled by
// handle_missing_field. Unknown keys are kept (validation reports them).
func processRecord(def map[string]any, data map[string]any) map[string]any {
	out := make(map[string]any, len(data))
	for k, v := range data {
		out[k] = deepCopyJSON(v)
	}
	fields, err := recordFields(def)
	if err != nil {
		return out
	}
	for _, f := range fields {
		v, present := out[f.name]
		nv, npresent := adjustField(f.def, v, present)
		if npresent {
			out[f.name] = nv
		} else {
			delete(out, f.name)
		}
	}
	return out
}

// adjustField follows init.lua adjust_field_for_context for "insert".
func adjustField(f map[string]any, v any, present bool) (any, bool) {
	if luaTruthy(f, "abstract") {
		return v, present
	}
	switch t := defType(f); {
	case t == "record":
		// should_recurse_record: value ~= null and (value ~= nil or required)
		if (present && v != nil) || (!present && f["required"] == true) {
			if !present {
				v, present = handleMissingField(f)
			}
			if m, ok := asRecordInput(v); ok && present {
				return processRecord(f, m), true
			}
		}
	case present && isTable(v):
		var sub map[string]any
		switch t {
		case "array":
			sub, _ = f["elements"].(map[string]any)
		case "set":
			v = makeSet(v)
			sub, _ = f["elements"].(map[string]any)
		case "map":
			sub, _ = f["values"].(map[string]any)
		}
		if sub != nil {
			switch x := v.(type) {
			case []any:
				for i, e := range x {
					x[i], _ = adjustField(sub, e, true)
				}
			case map[string]any:
				for k, e := range x {
					x[k], _ = adjustField(sub, e, true)
				}
			}
		}
	}
	if !present {
		return handleMissingField(f)
	}
	return v, true
}

// handleMissingField follows init.lua handle_missing_field: the default
// (even a JSON null default), nothing for nilable (metaschema-only)
// fields, null for non-required ones, and the expanded structure for
// required records.
func handleMissingField(f map[string]any) (any, bool) {
	if d, ok := f["default"]; ok {
		return deepCopyJSON(d), true
	}
	if luaTruthy(f, "nilable") {
		return nil, false
	}
	if f["required"] != true {
		return nil, true
	}
	if luaTruthy(f, "abstract") {
		return nil, false
	}
	if defType(f) == "record" {
		return processRecord(f, map[string]any{}), true
	}
	return nil, false
}

// makeSet is init.lua make_set: duplicates removed (Lua table-key
// equality: primitives and ngx.null by value, tables by identity).
func makeSet(v any) any {
	seq, ok := v.([]any)
	if !ok {
		return v
	}
	out := make([]any, 0, len(seq))
	seen := map[any]bool{}
	for _, e := range seq {
		if !isTable(e) {
			if seen[e] {
				continue
			}
			seen[e] = true
		}
		out = append(out, e)
	}
	return out
}

// ---------------------------------------------------------------------------
// validation

// withRequired returns a shallow copy of f with required = true (init.lua
// sets field.elements.required / keys / values .required = true before
// validating members).
func withRequired(f map[string]any) map[string]any {
	c := make(map[string]any, len(f)+1)
	for k, v := range f {
		c[k] = v
	}
	c["required"] = true
	return c
}

// validateField follows Schema:validate_field(field, value) for a present
// value (v == nil is JSON null).
func validateField(f map[string]any, v any) []problem {
	fieldErr := func(msg string) []problem {
		if e, ok := f["err"].(string); ok {
			msg = e
		}
		return []problem{{"", msg}}
	}
	if v == nil {
		if ne, ok := f["ne"]; ok && ne == nil {
			return fieldErr(fmt.Sprintf(errNE, "null"))
		}
		if eq, ok := f["eq"]; ok && eq != nil {
			return []problem{{"", fmt.Sprintf(errEQ, jsonToString(eq))}}
		}
		if luaTruthy(f, "required") {
			return []problem{{"", errRequired}}
		}
		return nil
	}
	if eq, ok := f["eq"]; ok && eq == nil {
		return fieldErr(fmt.Sprintf(errEQ, "null"))
	}
	if luaTruthy(f, "abstract") {
		return []problem{{"", errAbstractField}}
	}
	lenMinDefault := false
	switch t := defType(f); t {
	case "array", "set":
		if !isSequence(v) {
			if t == "array" {
				return []problem{{"", errArray}}
			}
			return []problem{{"", errSet}}
		}
		sub, ok := f["elements"].(map[string]any)
		if !ok {
			return []problem{{"", errSchemaCannotValidate}}
		}
		sub = withRequired(sub)
		var ps []problem
		for i, e := range sequenceOf(v) {
			ps = append(ps, prefixProblems(fmt.Sprintf("[%d]", i+1), validateField(sub, e))...)
		}
		if len(ps) > 0 {
			return ps
		}
	case "map":
		if !isTable(v) {
			return []problem{{"", errMap}}
		}
		keys, ok1 := f["keys"].(map[string]any)
		values, ok2 := f["values"].(map[string]any)
		if !ok1 || !ok2 {
			return []problem{{"", errSchemaCannotValidate}}
		}
		keys, values = withRequired(keys), withRequired(values)
		switch x := v.(type) {
		case []any:
			for i, e := range x {
				if ps := validateField(keys, float64(i+1)); len(ps) > 0 {
					return ps
				}
				if ps := validateField(values, e); len(ps) > 0 {
					return prefixProblems(fmt.Sprintf("[%d]", i+1), ps)
				}
			}
		case map[string]any:
			ks := make([]string, 0, len(x))
			for k := range x {
				ks = append(ks, k)
			}
			sort.Strings(ks)
			for _, k := range ks {
				if ps := validateField(keys, k); len(ps) > 0 {
					return ps
				}
				if ps := validateField(values, x[k]); len(ps) > 0 {
					// Kong returns the value's error without the key;
					// we keep the key in the path so it can be found.
					return prefixProblems(k, ps)
				}
			}
		}
	case "record":
		m, ok := asRecordInput(v)
		if !ok {
			return []problem{{"", errRecord}}
		}
		if _, err := recordFields(f); err != nil {
			return []problem{{"", errSchemaCannotValidate}}
		}
		if ps := validateRecord(f, processRecord(f, m)); len(ps) > 0 {
			return ps
		}
	case "foreign":
		// Foreign keys are validated against the referenced entity's
		// primary key; plugin configs cannot contain them.
	case "integer":
		n, ok := v.(float64)
		if !ok || n != math.Floor(n) || math.IsInf(n, 0) {
			return []problem{{"", errInteger}}
		}
	case "string":
		s, ok := v.(string)
		if !ok {
			return []problem{{"", errString}}
		}
		// "empty strings are not accepted by default"
		if lm, ok := f["len_min"]; !ok || lm == false {
			lenMinDefault = true
		}
		if luaTruthy(f, "referenceable") && isVaultReference(s) {
			return nil
		}
	case "function":
		return []problem{{"", errFunction}}
	case "boolean":
		if _, ok := v.(bool); !ok {
			return []problem{{"", errBoolean}}
		}
	case "number":
		if _, ok := v.(float64); !ok {
			return []problem{{"", errNumber}}
		}
	case "json":
		// JSON-schema fields (validate_json_field) are not simulated.
	case "any":
	default:
		return []problem{{"", fmt.Sprintf(errSchemaType, jsonToString(f["type"]))}}
	}
	return runValidators(f, v, lenMinDefault)
}

// isVaultReference is kong/pdk/vault.lua is_reference.
func isVaultReference(s string) bool {
	return strings.HasPrefix(s, "{vault://") && strings.HasSuffix(s, "}")
}

// recordErrs accumulates a record's errors keyed by field name like the
// Lua errors table: "errors[k] = x" replaces, entity errors append.
type recordErrs struct {
	m map[string][]problem
}

func (e *recordErrs) set(key string, ps []problem) {
	if len(ps) == 0 {
		return
	}
	e.m[key] = prefixProblems(key, ps)
}

func (e *recordErrs) entity(msg string) {
	e.m[entityKey] = append(e.m[entityKey], problem{entityKey, msg})
}

func (e *recordErrs) has(key string) bool { return len(e.m[key]) > 0 }

func (e *recordErrs) list() []problem {
	keys := make([]string, 0, len(e.m))
	for k := range e.m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []problem
	for _, k := range keys {
		out = append(out, e.m[k]...)
	}
	return out
}

// recordCheck is a Go stand-in for a schema's Lua `check` function
// (run_self_check), used by the metaschema.
type recordCheck func(input map[string]any) []problem

// checkKey is where a Go recordCheck is stored inside a definition map.
const checkKey = "\x00check"

// validateRecord follows Schema:validate(input) with full_check = true:
// validate_fields, the required-field pass, entity checks and the custom
// check.
func validateRecord(def map[string]any, input map[string]any) []problem {
	fields, err := recordFields(def)
	if err != nil {
		return []problem{{"", errSchemaCannotValidate}}
	}
	errs := &recordErrs{m: map[string][]problem{}}

	keys := make([]string, 0, len(input))
	for k := range input {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := input[k]
		// unvalidated_fields: updated_at always, ttl when the schema has ttl
		if k == "updated_at" || (k == "ttl" && luaTruthy(def, "ttl")) {
			continue
		}
		fd := fieldByName(fields, k)
		switch {
		case fd == nil:
			errs.set(k, []problem{{"", errUnknown}})
		case defType(fd) == "self":
			// validate the value against the record being validated
			// (used by the metaschema's `default = { type = "self" }`)
			errs.set(k, validateField(input, v))
		case defType(fd) == "json":
			// validate_json_field: not simulated
		default:
			errs.set(k, validateField(fd, v))
		}
	}

	for _, f := range fields {
		v, present := input[f.name]
		if luaTruthy(f.def, "required") && (!present || v == nil) {
			errs.set(f.name, []problem{{"", errRequired}})
		}
	}

	runEntityChecks(def, fields, input, errs)

	if check, ok := def[checkKey].(recordCheck); ok {
		ok := true
		for _, f := range fields {
			if _, present := input[f.name]; !present && !luaTruthy(f.def, "nilable") {
				errs.set(f.name, []problem{{"", errRequiredForEntityCheck}})
				ok = false
			}
		}
		if ok {
			for _, p := range check(input) {
				errs.m[p.path] = append(errs.m[p.path], p)
			}
		}
	}
	return errs.list()
}
