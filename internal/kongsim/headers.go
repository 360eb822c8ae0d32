package kongsim

import (
	"strings"
)

// Request headers in nginx are one list (r->headers_in.headers) that the
// downstream getters read and kong.service.request.* rewrites in place:
// what Kong proxies is that same list after the plugins ran. These helpers
// operate on that list with the exact matching rules of each layer, which
// differ on purpose:
//
//   - ngx.req.get_headers (lua-resty-core request.lua, lua-nginx-module
//     ngx_http_lua_ffi_req_get_headers): keys are lowercased, '_' is kept,
//     the table's __index also tries lower(key) with '_' → '-'.
//   - $http_<name> (nginx ngx_http_variable_unknown_header): compares the
//     lowercased header name with '-' read as '_', and joins every match
//     with ", " (since nginx 1.23).
//   - ngx.req.set_header / clear_header (lua-nginx-module
//     ngx_http_lua_headers_in.c ngx_http_set_header_helper): names equal
//     case-insensitively with the same length; '-' and '_' differ.
//
// All case folding is ASCII (ngx_strlow / ngx_strncasecmp), never Unicode.

// defaultMaxReqHeaders is lua_max_req_headers' default (kong.conf
// lua_max_req_headers = 100), used when get_headers gets no limit.
const defaultMaxReqHeaders = 100

func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if b[j] >= 'A' && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// asciiEqualFold is ngx_strncasecmp over equal lengths.
func asciiEqualFold(a, b string) bool {
	return len(a) == len(b) && asciiLower(a) == asciiLower(b)
}

// headersTable is ngx.req.get_headers(max): the first max header lines
// (max <= 0 means lua_max_req_headers), keys lowercased, repeated names
// collected into a list in order.
func headersTable(headers []Header, max int) *luaTable {
	if max <= 0 {
		max = defaultMaxReqHeaders
	}
	t := newLuaTable()
	for i, h := range headers {
		if i >= max {
			break
		}
		key := asciiLower(h.Name)
		switch existing := t.get(key).(type) {
		case nil:
			t.set(key, h.Value)
		case string:
			l := newLuaTable()
			l.arr = []any{existing, h.Value}
			t.set(key, l)
		case *luaTable:
			existing.arr = append(existing.arr, h.Value)
		}
	}
	return t
}

// headersTableLookup is `headers[name]` on a get_headers() table: a raw
// lookup, then the metatable's __index with lower(name) and '_' → '-'
// (lua-resty-core request.lua req_headers_mt).
func headersTableLookup(t *luaTable, name string) any {
	if v := t.get(name); v != nil {
		return v
	}
	return t.get(strings.ReplaceAll(asciiLower(name), "_", "-"))
}

// nginxHeaderVar is the value of $http_<suffix> (suffix as written after
// "http_"; nginx variable names are case-insensitive): every header whose
// lowercased name with '-' read as '_' equals the lowercased suffix, joined
// with ", " ("; " for $http_cookie, ngx_http_variable_cookies). ok is false
// when no header matches (the variable is "not found": Lua nil).
func nginxHeaderVar(headers []Header, suffix string) (string, bool) {
	want := asciiLower(suffix)
	var vals []string
	for _, h := range headers {
		if len(h.Name) != len(want) {
			continue
		}
		if strings.ReplaceAll(asciiLower(h.Name), "-", "_") == want {
			vals = append(vals, h.Value)
		}
	}
	if len(vals) == 0 {
		return "", false
	}
	sep := ", "
	if want == "cookie" {
		sep = "; "
	}
	return strings.Join(vals, sep), true
}

// getRequestHeader is kong.request.get_header(name) (kong/pdk/request.lua
// → kong/tools/http.lua get_header without ctx): $http_<name with '-' as
// '_'>; if that contains ", " (several lines, or a comma in one value) it
// falls back to ngx.req.get_headers()[name] and takes the first value.
func getRequestHeader(headers []Header, name string) (string, bool) {
	v, ok := nginxHeaderVar(headers, strings.ReplaceAll(name, "-", "_"))
	if !ok || !strings.Contains(v, ", ") {
		return v, ok
	}
	switch x := headersTableLookup(headersTable(headers, 0), name).(type) {
	case string:
		return x, true
	case *luaTable:
		if s, ok := x.first().(string); ok {
			return s, true
		}
	}
	return "", false
}

// setInputHeader is ngx_http_set_header_helper for a generic header.
// With override, the first header equal to key (ASCII case-insensitive,
// same length) gets the new value in place and keeps its spelling, later
// matches are removed, and the header is appended if none matched; an
// empty value removes every match. Without override the header is
// appended.
func setInputHeader(headers []Header, key, value string, override bool) []Header {
	if !override {
		if value == "" {
			// nginx appends it with hash 0: invisible to variables and
			// not proxied; dropping it is equivalent here.
			return headers
		}
		return append(headers, Header{Name: key, Value: value})
	}
	out := headers[:0:0]
	matched := false
	for _, h := range headers {
		if asciiEqualFold(h.Name, key) {
			if value == "" || matched {
				continue // removed
			}
			h.Value = value
			matched = true
		}
		out = append(out, h)
	}
	if !matched && value != "" {
		out = append(out, Header{Name: key, Value: value})
	}
	return out
}

// ngxReqSetHeader is ngx.req.set_header(name, value) for a string or a
// list of strings (lua-nginx-module ngx_http_lua_ngx_req_header_set_helper
// / ngx_http_lua_ffi_req_set_header): a list sets its first value with
// override and appends the others; an empty list removes the header.
func ngxReqSetHeader(headers []Header, name string, values []string, isList bool) []Header {
	if !isList {
		v := ""
		if len(values) > 0 {
			v = values[0]
		}
		return setInputHeader(headers, name, v, true)
	}
	if len(values) == 0 {
		return setInputHeader(headers, name, "", true)
	}
	for i, v := range values {
		headers = setInputHeader(headers, name, v, i == 0)
	}
	return headers
}

// ngxReqClearHeader is ngx.req.clear_header(name): set with an empty value
// and override, i.e. remove every case-insensitive match.
func ngxReqClearHeader(headers []Header, name string) []Header {
	return setInputHeader(headers, name, "", true)
}

// normalizeHeaderValue is kong/pdk/private/checks.lua normalize_header for
// a string: an empty value becomes " " (nginx would drop an empty one).
func normalizeHeaderValue(v string) string {
	if v == "" {
		return " "
	}
	return v
}

// hostVar is nginx's $host: the Host header lowercased without its port
// (ngx_http_validate_host), else the server_name of Kong's proxy server
// block, "kong".
func hostVar(headers []Header) string {
	for _, h := range headers {
		if asciiEqualFold(h.Name, "host") {
			host := asciiLower(h.Value)
			if strings.HasPrefix(host, "[") {
				if i := strings.IndexByte(host, ']'); i >= 0 {
					return host[:i+1]
				}
				return host
			}
			if i := strings.IndexByte(host, ':'); i >= 0 {
				host = host[:i]
			}
			return strings.TrimSuffix(host, ".")
		}
	}
	return "kong"
}
