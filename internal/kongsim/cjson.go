package kongsim

import (
	"fmt"
	"math"
	"reflect"
	"sort"
	"strings"
)

// JSON values in this package use the shape encoding/json produces when
// decoding into `any`: nil (JSON null, Lua's ngx.null / cjson.null), bool,
// float64, string, []any, map[string]any. normalizeJSON converts the Go
// values callers commonly pass (ints, []string, map[string]string, ...)
// into that shape so comparisons and encoding behave like Kong's.

// normalizeJSON deep-copies v into the canonical JSON shape.
func normalizeJSON(v any) (any, error) {
	switch x := v.(type) {
	case nil, bool, string, float64:
		return x, nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			n, err := normalizeJSON(e)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i+1, err)
			}
			out[i] = n
		}
		return out, nil
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			n, err := normalizeJSON(e)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			out[k] = n
		}
		return out, nil
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return float64(rv.Int()), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return float64(rv.Uint()), nil
	case reflect.Float32, reflect.Float64:
		return rv.Float(), nil
	case reflect.Bool:
		return rv.Bool(), nil
	case reflect.String:
		return rv.String(), nil
	case reflect.Slice, reflect.Array:
		if rv.Kind() == reflect.Slice && rv.IsNil() {
			return []any{}, nil
		}
		out := make([]any, rv.Len())
		for i := range out {
			n, err := normalizeJSON(rv.Index(i).Interface())
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i+1, err)
			}
			out[i] = n
		}
		return out, nil
	case reflect.Map:
		if rv.Type().Key().Kind() != reflect.String {
			return nil, fmt.Errorf("map key type %s is not string", rv.Type().Key())
		}
		out := make(map[string]any, rv.Len())
		it := rv.MapRange()
		for it.Next() {
			n, err := normalizeJSON(it.Value().Interface())
			if err != nil {
				return nil, fmt.Errorf("%s: %w", it.Key().String(), err)
			}
			out[it.Key().String()] = n
		}
		return out, nil
	case reflect.Pointer, reflect.Interface:
		if rv.IsNil() {
			return nil, nil
		}
		return normalizeJSON(rv.Elem().Interface())
	}
	return nil, fmt.Errorf("unsupported value of type %T", v)
}

// deepCopyJSON copies a canonical JSON value.
func deepCopyJSON(v any) any {
	switch x := v.(type) {
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = deepCopyJSON(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = deepCopyJSON(e)
		}
		return out
	}
	return v
}

// cjsonEncode encodes a canonical JSON value the way lua-cjson's
// cjson.encode does with Kong's settings (follows lua-cjson's
// json_append_data / json_append_string, used by pb_rpc.lua
// Rpc:call_start_instance): numbers with "%.14g", '/' escaped as "\/",
// control characters and DEL as \u00XX, non-ASCII bytes raw, NaN and
// infinities rejected. Object key order is unspecified in cjson (Lua table
// order); we sort keys so the output is reproducible. Arrays and sets are
// encoded as [] even when empty because Kong's process_auto_fields gives
// them cjson.array_mt; map and record fields are Lua hash tables, {}.
func cjsonEncode(v any) ([]byte, error) {
	var b strings.Builder
	if err := cjsonAppend(&b, v, 0); err != nil {
		return nil, err
	}
	return []byte(b.String()), nil
}

// cjsonMaxDepth is lua-cjson's default encode_max_depth.
const cjsonMaxDepth = 1000

func cjsonAppend(b *strings.Builder, v any, depth int) error {
	if depth > cjsonMaxDepth {
		return fmt.Errorf("Cannot serialise, excessive nesting (%d)", depth)
	}
	switch x := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		if x {
			b.WriteString("true")
		} else {
			b.WriteString("false")
		}
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Errorf("Cannot serialise number: must not be NaN or Infinity")
		}
		b.WriteString(fmtNumber(x))
	case string:
		cjsonAppendString(b, x)
	case []any:
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := cjsonAppend(b, e, depth+1); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			cjsonAppendString(b, k)
			b.WriteByte(':')
			if err := cjsonAppend(b, x[k], depth+1); err != nil {
				return err
			}
		}
		b.WriteByte('}')
	default:
		return fmt.Errorf("Cannot serialise %T: type not supported", v)
	}
	return nil
}

func cjsonAppendString(b *strings.Builder, s string) {
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '/':
			b.WriteString(`\/`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			if c < 0x20 || c == 0x7f {
				fmt.Fprintf(b, `\u%04x`, c)
			} else {
				b.WriteByte(c)
			}
		}
	}
	b.WriteByte('"')
}
