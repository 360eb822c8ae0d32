package kongsim

import (
	"fmt"
	"math"
	"sort"
	"strconv"
)

// This file models the few Lua value semantics that leak through Kong's
// side of the protocol: Kong converts protobuf messages to Lua values
// (pb_rpc.lua pb_unwrap), runs its PDK functions on them, and converts the
// results back (pb_rpc.lua pb_wrap). Lua has one "table" type for arrays and
// maps, nil cannot be stored, and only nil and false are falsy, so a Go value
// that makes the round trip can come back changed. Modelling that here is
// what lets tests see what a Go plugin really sees under Kong.
//
// Go representation of Lua values used in this package:
//   nil      → Lua nil
//   bool     → boolean
//   float64  → number
//   string   → string
//   *luaTable → table

// luaTable is a Lua table: an array part (t[1..n], holes allowed because
// assigning nil to t[i] is a no-op in Lua) and string-keyed hash part.
type luaTable struct {
	arr  []any          // arr[i] is t[i+1]; nil entries are holes
	hash map[string]any // never holds nil values
}

func newLuaTable() *luaTable { return &luaTable{hash: map[string]any{}} }

// first reports t[1] ~= nil, the test pb_rpc.lua pb_wrap structpb_value
// uses to decide between a ListValue and a Struct.
func (t *luaTable) first() any {
	if len(t.arr) == 0 {
		return nil
	}
	return t.arr[0]
}

// ipairs returns t[1], t[2], ... up to the first nil, like Lua's ipairs.
func (t *luaTable) ipairs() []any {
	var out []any
	for _, v := range t.arr {
		if v == nil {
			break
		}
		out = append(out, v)
	}
	return out
}

// length models the # operator. For tables with holes Lua may return any
// border; we return the highest non-nil index, which is what LuaJIT
// returns for tables whose array part was filled in order.
func (t *luaTable) length() int {
	for i := len(t.arr) - 1; i >= 0; i-- {
		if t.arr[i] != nil {
			return i + 1
		}
	}
	return 0
}

// luaKV is one pair from pairs().
type luaKV struct {
	key any // float64 for array indices, string otherwise
	val any
}

// pairs returns every non-nil entry. Lua's order is unspecified; we use
// array part first, then hash keys sorted, so results are deterministic.
func (t *luaTable) pairs() []luaKV {
	var out []luaKV
	for i, v := range t.arr {
		if v != nil {
			out = append(out, luaKV{float64(i + 1), v})
		}
	}
	keys := make([]string, 0, len(t.hash))
	for k := range t.hash {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		out = append(out, luaKV{k, t.hash[k]})
	}
	return out
}

// get returns t[k] for a string key (string keys never alias array slots in
// Lua: t["1"] and t[1] are different entries).
func (t *luaTable) get(k string) any { return t.hash[k] }

// set assigns t[k] = v for a string key; nil deletes, as in Lua.
func (t *luaTable) set(k string, v any) {
	if v == nil {
		delete(t.hash, k)
		return
	}
	t.hash[k] = v
}

// luaTypeName is Lua's type().
func luaTypeName(v any) string {
	switch v.(type) {
	case nil:
		return "nil"
	case bool:
		return "boolean"
	case float64:
		return "number"
	case string:
		return "string"
	case *luaTable:
		return "table"
	}
	return fmt.Sprintf("userdata(%T)", v)
}

// fmtNumber formats a number as Lua's tostring does (LUAI_NUMFFORMAT
// "%.14g"); lua-cjson uses the same precision by default.
func fmtNumber(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	case math.IsNaN(f):
		return "nan"
	}
	return strconv.FormatFloat(f, 'g', 14, 64)
}

// luaToString is Lua's tostring(), used by kong.log to build its message.
func luaToString(v any) string {
	switch x := v.(type) {
	case nil:
		return "nil"
	case bool:
		if x {
			return "true"
		}
		return "false"
	case float64:
		return fmtNumber(x)
	case string:
		return x
	case *luaTable:
		return fmt.Sprintf("table: %p", x)
	}
	return fmt.Sprintf("%v", v)
}

// luaToGo converts a Lua value to plain Go for test assertions: tables with
// only a hole-free array part become []any, every other table (including
// the empty one, which Kong hands back as a Struct) becomes map[string]any
// with array indices as decimal keys.
func luaToGo(v any) any {
	t, ok := v.(*luaTable)
	if !ok {
		return v
	}
	n := t.length()
	if n > 0 && len(t.hash) == 0 && len(t.ipairs()) == n {
		out := make([]any, n)
		for i := 0; i < n; i++ {
			out[i] = luaToGo(t.arr[i])
		}
		return out
	}
	out := map[string]any{}
	for _, kv := range t.pairs() {
		out[luaKeyString(kv.key)] = luaToGo(kv.val)
	}
	return out
}

// luaKeyString converts a table key to a string the way lua-protobuf does
// when it encodes a map<string, ...> key given a number (lua_tolstring).
func luaKeyString(k any) string {
	if f, ok := k.(float64); ok {
		return fmtNumber(f)
	}
	return luaToString(k)
}
