package kongsim

import (
	"fmt"
	"strings"
)

// Entity checks: Schema.entity_checkers and run_entity_check of
// kong/db/schema/init.lua (cross-field rules of a record).

// entityChecker describes one Schema.entity_checkers entry.
type entityChecker struct {
	runWithMissing bool
	runWithInvalid bool
	fieldSources   []string
	required       map[string]bool // keyed by source name (Lua required_fields)
	fn             func(input map[string]any, arg any, fields []namedField, errs *recordErrs) (ok bool, err string, customErr string)
	msg            string
}

// getField is init.lua get_field with dotted names.
func getField(input map[string]any, name string) (any, bool) {
	hd, tl, dotted := strings.Cut(name, ".")
	v, ok := input[hd]
	if !dotted || !ok {
		return v, ok
	}
	m, isMap := v.(map[string]any)
	if !isMap {
		return nil, false
	}
	return getField(m, tl)
}

// getSchemaField is init.lua get_schema_field with dotted names.
func getSchemaField(fields []namedField, name string) map[string]any {
	hd, tl, dotted := strings.Cut(name, ".")
	f := fieldByName(fields, hd)
	if !dotted || f == nil {
		return f
	}
	sub, err := recordFields(f)
	if err != nil {
		return nil
	}
	return getSchemaField(sub, tl)
}

func stringList(v any) []string {
	var out []string
	for _, e := range sequenceOf(v) {
		if s, ok := e.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func anyList(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

func countNonEmpty(input map[string]any, names []string) []string {
	var out []string
	for _, n := range names {
		if v, ok := getField(input, n); isNonEmpty(v, ok) {
			out = append(out, n)
		}
	}
	return out
}

// mergeDef is a definition table with __index falling back to base (the
// metatable trick the conditional checkers use).
func mergeDef(over, base map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		out[k] = v
	}
	return out
}

// validateMaybeAbsent is Schema.validate_field on a value that may be nil:
// a nil value fails the type check (or any validator) in Lua.
func validateMaybeAbsent(f map[string]any, v any, present bool) []problem {
	if !present {
		return []problem{{"", "value is nil"}}
	}
	return validateField(f, v)
}

// entityCheckers is Schema.entity_checkers (custom_entity_check needs a Lua
// function and is not simulated). Filled in init because the checkers
// call back into validateField.
var entityCheckers map[string]*entityChecker

func init() { entityCheckers = buildEntityCheckers() }

func buildEntityCheckers() map[string]*entityChecker {
	return map[string]*entityChecker{
		"at_least_one_of": {
			runWithMissing: true, runWithInvalid: true, msg: errAtLeastOneOf,
			fn: func(input map[string]any, arg any, _ []namedField, _ *recordErrs) (bool, string, string) {
				names := stringList(arg)
				if len(countNonEmpty(input, names)) > 0 {
					return true, "", ""
				}
				return false, quotedList(anyList(names)), ""
			},
		},
		"conditional_at_least_one_of": {
			runWithMissing: true, runWithInvalid: true, msg: errAtLeastOneOf,
			fieldSources: []string{"if_field", "then_at_least_one_of", "else_then_at_least_one_of"},
			// required_fields is declared as an array in init.lua, so the
			// lookup by source name never matches: nothing is required.
			required: map[string]bool{},
			fn: func(input map[string]any, arg any, fields []namedField, _ *recordErrs) (bool, string, string) {
				a, _ := arg.(map[string]any)
				ifField, _ := a["if_field"].(string)
				ifValue, present := getField(input, ifField)
				if !present {
					return true, "", ""
				}
				base := getSchemaField(fields, ifField)
				ifMatch, _ := a["if_match"].(map[string]any)
				check := func(names []string, errFmt any) (bool, string, string) {
					if len(countNonEmpty(input, names)) > 0 {
						return true, "", ""
					}
					list := quotedList(anyList(names))
					custom := ""
					if s, ok := errFmt.(string); ok {
						custom = strings.ReplaceAll(s, "%s", list)
					}
					return false, list, custom
				}
				if len(validateField(mergeDef(ifMatch, base), ifValue)) > 0 {
					elseMatch, ok := a["else_match"].(map[string]any)
					if !ok {
						return true, "", ""
					}
					if len(validateField(mergeDef(elseMatch, base), ifValue)) > 0 {
						return true, "", ""
					}
					return check(stringList(a["else_then_at_least_one_of"]), a["else_then_err"])
				}
				return check(stringList(a["then_at_least_one_of"]), a["then_err"])
			},
		},
		"only_one_of": {
			runWithInvalid: true, msg: errOnlyOneOf,
			fn: func(input map[string]any, arg any, _ []namedField, _ *recordErrs) (bool, string, string) {
				names := stringList(arg)
				if len(countNonEmpty(input, names)) == 1 {
					return true, "", ""
				}
				return false, quotedList(anyList(names)), ""
			},
		},
		"distinct": {
			runWithInvalid: true, msg: errDistinct,
			fn: func(input map[string]any, arg any, _ []namedField, _ *recordErrs) (bool, string, string) {
				names := stringList(arg)
				seen := map[any]bool{}
				for _, n := range names {
					v, ok := getField(input, n)
					if !isNonEmpty(v, ok) || isTable(v) {
						continue
					}
					if seen[v] {
						return false, quotedList(anyList(names)), ""
					}
					seen[v] = true
				}
				return true, "", ""
			},
		},
		"conditional": {
			runWithInvalid: true, msg: errConditional,
			fieldSources: []string{"if_field", "then_field"},
			required:     map[string]bool{"if_field": true},
			fn: func(input map[string]any, arg any, fields []namedField, errs *recordErrs) (bool, string, string) {
				a, _ := arg.(map[string]any)
				ifField, _ := a["if_field"].(string)
				thenField, _ := a["then_field"].(string)
				ifValue, ifPresent := getField(input, ifField)
				thenValue, _ := getField(input, thenField) // nil and null both end up null
				ifMatch, _ := a["if_match"].(map[string]any)
				if len(validateMaybeAbsent(mergeDef(ifMatch, getSchemaField(fields, ifField)), ifValue, ifPresent)) > 0 {
					return true, "", ""
				}
				thenMatch, _ := a["then_match"].(map[string]any)
				if thenMatch["required"] == true && thenValue == nil {
					errs.set(thenField, []problem{{"", errRequired}})
					return false, ifField, ""
				}
				if ps := validateField(mergeDef(thenMatch, getSchemaField(fields, thenField)), thenValue); len(ps) > 0 {
					errs.set(thenField, ps)
					custom := ""
					if s, ok := a["then_err"].(string); ok {
						custom = strings.ReplaceAll(s, "%s", ifField)
					}
					return false, ifField, custom
				}
				return true, "", ""
			},
		},
		"mutually_required": {
			runWithMissing: true, msg: errMutuallyRequired,
			fn: func(input map[string]any, arg any, _ []namedField, _ *recordErrs) (bool, string, string) {
				names := stringList(arg)
				n := len(countNonEmpty(input, names))
				if n == 0 || n == len(names) {
					return true, "", ""
				}
				return false, quotedList(anyList(names)), ""
			},
		},
		"mutually_exclusive": {
			runWithMissing: true, msg: errMutuallyExclusive,
			fn: func(input map[string]any, arg any, _ []namedField, _ *recordErrs) (bool, string, string) {
				names := stringList(arg)
				if len(countNonEmpty(input, names)) <= 1 {
					return true, "", ""
				}
				return false, quotedList(anyList(names)), ""
			},
		},
		"mutually_exclusive_sets": {
			runWithMissing: true, msg: errMutuallyExclusiveSets,
			fieldSources: []string{"set1", "set2"},
			required:     map[string]bool{}, // declared as an array in init.lua
			fn: func(input map[string]any, arg any, _ []namedField, _ *recordErrs) (bool, string, string) {
				a, _ := arg.(map[string]any)
				n1 := countNonEmpty(input, stringList(a["set1"]))
				n2 := countNonEmpty(input, stringList(a["set2"]))
				if len(n1) > 0 && len(n2) > 0 {
					return false, fmt.Sprintf("(%s), (%s)", quotedList(anyList(n1)), quotedList(anyList(n2))), ""
				}
				return true, "", ""
			},
		},
	}
}

// entityCheckerNames lists Schema.entity_checkers in declaration order
// (Kong prints keys() of that table, whose order is unspecified).
var entityCheckerNames = []string{
	"at_least_one_of", "conditional_at_least_one_of", "only_one_of", "distinct",
	"conditional", "custom_entity_check", "mutually_required", "mutually_exclusive",
	"mutually_exclusive_sets",
}

func runEntityChecks(def map[string]any, fields []namedField, input map[string]any, errs *recordErrs) {
	checks, _ := def["entity_checks"].([]any)
	for _, c := range checks {
		cm, ok := c.(map[string]any)
		if !ok {
			continue
		}
		for name, arg := range cm {
			if arg == nil {
				continue // `if arg and arg ~= null`
			}
			runEntityCheck(name, fields, input, arg, errs)
		}
	}
}

// runEntityCheck follows init.lua run_entity_check with full_check = true.
func runEntityCheck(name string, fields []namedField, input map[string]any, arg any, errs *recordErrs) {
	checker := entityCheckers[name]
	if checker == nil {
		errs.entity(fmt.Sprintf("kongsim: entity check '%s' is not simulated (it needs Lua functions)", name))
		return
	}
	argMap, _ := arg.(map[string]any)
	var toCheck []string
	required := map[string]bool{}
	if checker.fieldSources != nil {
		for _, src := range checker.fieldSources {
			switch v := argMap[src].(type) {
			case string:
				toCheck = append(toCheck, v)
				if checker.required[src] {
					required[v] = true
				}
			case []any:
				for _, n := range stringList(v) {
					toCheck = append(toCheck, n)
					if checker.required[src] {
						required[n] = true
					}
				}
			}
		}
	} else {
		toCheck = stringList(arg)
		for _, n := range toCheck {
			required[n] = true
		}
	}
	runWithMissing := checker.runWithMissing || luaTruthy(argMap, "run_with_missing_fields")
	runWithInvalid := checker.runWithInvalid || luaTruthy(argMap, "run_with_invalid_fields")

	var missing []string
	allNil, allOK := true, true
	for _, fname := range toCheck {
		v, present := getField(input, fname)
		if !present {
			sf := getSchemaField(fields, fname)
			if !runWithMissing && required[fname] && !(sf != nil && luaTruthy(sf, "nilable")) {
				missing = append(missing, fname)
			}
		} else {
			allNil = false
			if sf := getSchemaField(fields, fname); sf != nil && defType(sf) == "string" && luaTruthy(sf, "referenceable") {
				if s, ok := v.(string); ok && isVaultReference(s) {
					return
				}
			}
		}
		if errs.has(fname) {
			allOK = false
		}
	}
	if !allOK && !runWithInvalid {
		return
	}
	if allNil && !checker.runWithMissing {
		return
	}
	if len(missing) > 0 {
		for _, m := range missing {
			errs.set(m, []problem{{"", errRequiredForEntityCheck}})
		}
		return
	}
	ok, err, custom := checker.fn(input, arg, fields, errs)
	if ok {
		return
	}
	switch {
	case custom != "":
		errs.entity(custom)
	case err != "":
		errs.entity(fmt.Sprintf(checker.msg, err))
	default:
		errs.entity(fmt.Sprintf(errEntityCheck, name, jsonToString(arg)))
	}
}
