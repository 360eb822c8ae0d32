package kongsim

import (
	"fmt"
	"regexp"
	"strings"
)

// Schema.validators of kong/db/schema/init.lua, run on decoded JSON values
// with Lua semantics.

// validatorsOrder is Schema.validators_order.
var validatorsOrder = []string{
	"eq", "ne", "not_one_of", "one_of",
	"gt", "timestamp", "uuid", "is_regex", "between",
	"len_eq", "len_min", "len_max",
	"starts_with", "not_match", "match_none", "match", "match_all", "match_any",
	"contains",
	"custom_validator", "mutually_exclusive_subsets",
}

var uuidRegexp = regexp.MustCompile(`(?i)^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// runValidators runs Schema.validators in Schema.validators_order; the
// first failure wins and field.err replaces its message.
func runValidators(f map[string]any, v any, lenMinDefault bool) []problem {
	for _, k := range validatorsOrder {
		arg, ok := f[k]
		if k == "len_min" && lenMinDefault {
			arg, ok = float64(1), true
		}
		if !ok {
			continue
		}
		okv, msg, lerr := runValidator(k, f, v, arg)
		if lerr != "" {
			return luaRuntimeError("%s: %s", k, lerr)
		}
		if okv {
			continue
		}
		if msg == "" {
			switch k {
			case "timestamp":
				msg = errTimestamp
			case "uuid":
				msg = errUUID
			case "is_regex":
				msg = fmt.Sprintf(errIsRegex, jsonToString(v))
			case "match", "not_match", "match_all", "match_none", "match_any":
				msg = fmt.Sprintf(errMatch, jsonToString(v))
			default:
				msg = fmt.Sprintf(errValidation, jsonToString(v))
			}
		}
		if e, ok := f["err"].(string); ok {
			msg = e
		}
		return []problem{{"", msg}}
	}
	return nil
}

func luaLen(v any, f map[string]any) (int, string) {
	switch x := v.(type) {
	case string:
		return len(x), ""
	case []any:
		return len(x), ""
	case map[string]any:
		if defType(f) == "map" {
			return len(x), "" // #value is 0 for a hash table, plus the pairs
		}
		return 0, ""
	}
	return 0, "attempt to get length of a " + luaJSONType(v) + " value"
}

func luaJSONType(v any) string {
	switch v.(type) {
	case nil:
		return "userdata"
	case bool:
		return "boolean"
	case float64:
		return "number"
	case string:
		return "string"
	}
	return "table"
}

func asNumberArg(arg any) (float64, bool) {
	n, ok := arg.(float64)
	return n, ok
}

// luaCompareLT is a < b with Lua's rules (numbers or strings only).
func luaCompareLT(a, b any) (bool, string) {
	switch x := a.(type) {
	case float64:
		if y, ok := b.(float64); ok {
			return x < y, ""
		}
	case string:
		if y, ok := b.(string); ok {
			return x < y, ""
		}
	}
	return false, fmt.Sprintf("attempt to compare %s with %s", luaJSONType(a), luaJSONType(b))
}

// luaConcat is table.concat(list, ", ").
func luaConcat(list []any) (string, string) {
	parts := make([]string, len(list))
	for i, e := range list {
		switch x := e.(type) {
		case string:
			parts[i] = x
		case float64:
			parts[i] = fmtNumber(x)
		default:
			return "", fmt.Sprintf("invalid value (at index %d) in table for 'concat'", i+1)
		}
	}
	return strings.Join(parts, ", "), ""
}

func luaStringMatch(v any, pattern any) (bool, string) {
	s, ok := v.(string)
	if !ok {
		return false, "attempt to index a " + luaJSONType(v) + " value"
	}
	p, ok := pattern.(string)
	if !ok {
		return false, "bad argument #1 to 'match' (string expected, got " + luaJSONType(pattern) + ")"
	}
	m, err := luaPatternMatches(s, p)
	if err != nil {
		return false, err.Error()
	}
	return m, ""
}

// runValidator runs one Schema.validators entry: (ok, message, luaError).
func runValidator(k string, f map[string]any, v, arg any) (bool, string, string) {
	switch k {
	case "eq":
		if luaEqual(v, arg) {
			return true, "", ""
		}
		s := "null"
		if arg != nil {
			s = jsonToString(arg)
		}
		return false, fmt.Sprintf(errEQ, s), ""
	case "ne":
		if !luaEqual(v, arg) {
			return true, "", ""
		}
		s := "null"
		if arg != nil {
			s = jsonToString(v)
		}
		return false, fmt.Sprintf(errNE, s), ""
	case "one_of", "not_one_of":
		opts, ok := arg.([]any)
		if !ok {
			return false, "", "attempt to get length of option list"
		}
		found := false
		for _, o := range opts {
			if luaEqual(v, o) {
				found = true
				break
			}
		}
		if found == (k == "one_of") {
			return true, "", ""
		}
		list, lerr := luaConcat(opts)
		if lerr != "" {
			return false, "", lerr
		}
		if k == "one_of" {
			return false, fmt.Sprintf(errOneOf, list), ""
		}
		return false, fmt.Sprintf(errNotOneOf, list), ""
	case "gt":
		lt, lerr := luaCompareLT(arg, v)
		if lerr != "" {
			return false, "", lerr
		}
		if lt {
			return true, "", ""
		}
		return false, fmt.Sprintf(errGT, jsonToString(arg)), ""
	case "timestamp":
		lt, lerr := luaCompareLT(float64(0), v)
		if lerr != "" {
			return false, "", lerr
		}
		return lt, "", ""
	case "uuid":
		s, ok := v.(string)
		if !ok {
			return false, "", "attempt to get length of a " + luaJSONType(v) + " value"
		}
		return len(s) == 36 && uuidRegexp.MatchString(s), "", ""
	case "is_regex":
		s, ok := v.(string)
		if !ok {
			return false, "", "bad argument #2 to 're_match'"
		}
		// PCRE is approximated by Go's RE2 syntax here.
		_, err := regexp.Compile(s)
		return err == nil, "", ""
	case "between":
		lim, ok := arg.([]any)
		if !ok || len(lim) < 2 {
			return false, "", "attempt to index between limits"
		}
		lo, ok1 := asNumberArg(lim[0])
		hi, ok2 := asNumberArg(lim[1])
		n, ok3 := v.(float64)
		if !ok1 || !ok2 || !ok3 {
			return false, "", fmt.Sprintf("attempt to compare %s with number", luaJSONType(v))
		}
		if n < lo || n > hi {
			return false, fmt.Sprintf(errBetween, int64(lo), int64(hi)), ""
		}
		return true, "", ""
	case "len_eq", "len_min", "len_max":
		n, ok := asNumberArg(arg)
		if !ok {
			return false, "", "attempt to compare number with " + luaJSONType(arg)
		}
		l, lerr := luaLen(v, f)
		if lerr != "" {
			return false, "", lerr
		}
		var good bool
		var format string
		switch k {
		case "len_eq":
			good, format = float64(l) == n, errLenEQ
		case "len_min":
			good, format = float64(l) >= n, errLenMin
		default:
			good, format = float64(l) <= n, errLenMax
		}
		if good {
			return true, "", ""
		}
		return false, fmt.Sprintf(format, int64(n)), ""
	case "starts_with":
		exp, ok := arg.(string)
		if !ok {
			return false, "", "attempt to get length of a " + luaJSONType(arg) + " value"
		}
		var s string
		switch x := v.(type) {
		case string:
			s = x
		case float64:
			s = fmtNumber(x) // string.sub coerces numbers
		default:
			return false, "", "bad argument #1 to 'sub' (string expected, got " + luaJSONType(v) + ")"
		}
		if strings.HasPrefix(s, exp) {
			return true, "", ""
		}
		return false, fmt.Sprintf(errStartsWith, exp), ""
	case "match", "not_match":
		m, lerr := luaStringMatch(v, arg)
		if lerr != "" {
			return false, "", lerr
		}
		if m == (k == "match") {
			return true, "", ""
		}
		return false, fmt.Sprintf(errMatch, jsonToString(v)), ""
	case "match_all", "match_none":
		list, ok := arg.([]any)
		if !ok {
			return false, "", "attempt to get length of match list"
		}
		for _, item := range list {
			rec, _ := item.(map[string]any)
			m, lerr := luaStringMatch(v, rec["pattern"])
			if lerr != "" {
				return false, "", lerr
			}
			if m != (k == "match_all") {
				e, _ := rec["err"].(string)
				return false, e, ""
			}
		}
		return true, "", ""
	case "match_any":
		rec, ok := arg.(map[string]any)
		if !ok {
			return false, "", "attempt to index match_any argument"
		}
		pats, _ := rec["patterns"].([]any)
		for _, p := range pats {
			m, lerr := luaStringMatch(v, p)
			if lerr != "" {
				return false, "", lerr
			}
			if m {
				return true, "", ""
			}
		}
		e, _ := rec["err"].(string)
		return false, e, ""
	case "contains":
		seq, ok := v.([]any)
		if !ok {
			if isTable(v) {
				return false, fmt.Sprintf(errContains, jsonToString(arg)), ""
			}
			return false, "", "attempt to get length of a " + luaJSONType(v) + " value"
		}
		for _, e := range seq {
			if luaEqual(e, arg) {
				return true, "", ""
			}
		}
		return false, fmt.Sprintf(errContains, jsonToString(arg)), ""
	case "custom_validator":
		return false, "", "attempt to call a " + luaJSONType(arg) + " value"
	case "mutually_exclusive_subsets":
		subsets, _ := arg.([]any)
		union := map[any]int{}
		for i, s := range subsets {
			for _, e := range sequenceOf(s) {
				if !isTable(e) {
					union[e] = i
				}
			}
		}
		var memberOf []any
		seenSet := map[int]bool{}
		for _, e := range sequenceOf(v) {
			if isTable(e) {
				continue
			}
			if i, ok := union[e]; ok && !seenSet[i] {
				seenSet[i] = true
				memberOf = append(memberOf, subsets[i])
			}
		}
		if len(memberOf) <= 1 {
			return true, "", ""
		}
		return false, fmt.Sprintf(errMutuallyExclusiveSets, quotedList(memberOf)), ""
	}
	return true, "", ""
}
