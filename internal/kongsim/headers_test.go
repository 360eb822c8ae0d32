package kongsim

import (
	"reflect"
	"testing"

	"google.golang.org/protobuf/types/known/structpb"
)

func hdrs(pairs ...string) []Header {
	var out []Header
	for i := 0; i < len(pairs); i += 2 {
		out = append(out, Header{pairs[i], pairs[i+1]})
	}
	return out
}

func TestGetRequestHeader(t *testing.T) {
	tests := []struct {
		name    string
		headers []Header
		get     string
		want    string
		found   bool
	}{
		{"case-insensitive", hdrs("X-User-ID", "42"), "x-user-id", "42", true},
		{"dash read as underscore", hdrs("X-User-ID", "42"), "x_user_id", "42", true},
		{"underscore header found by dashed name", hdrs("X_User_ID", "evil"), "X-User-ID", "evil", true},
		{"first of several lines", hdrs("X-A", "1", "x-a", "2"), "X-A", "1", true},
		{"dash and underscore spellings: first line wins", hdrs("X-A", "1", "X_A", "2"), "x-a", "1", true},
		// "a, b" in one underscore-spelled line: $http_x_a contains ", " so
		// Kong falls back to get_headers()["X-A"], whose __index looks up
		// "x-a" only, and finds nothing (kong/tools/http.lua get_header).
		{"comma value in underscore header is lost", hdrs("X_A", "a, b"), "X-A", "", false},
		{"comma value in dashed header", hdrs("X-A", "a, b"), "X-A", "a, b", true},
		{"missing", hdrs("X-B", "1"), "X-A", "", false},
		{"unicode folding is not ASCII folding", hdrs("X-\u212a", "1"), "x-k", "", false},
	}
	for _, tt := range tests {
		got, found := getRequestHeader(tt.headers, tt.get)
		if got != tt.want || found != tt.found {
			t.Errorf("%s: get_header(%q) = %q, %v; want %q, %v", tt.name, tt.get, got, found, tt.want, tt.found)
		}
	}
}

func TestHeadersTable(t *testing.T) {
	h := hdrs("Host", "example.com", "X-A", "1", "x-a", "2", "X_B", "3")
	tbl := headersTable(h, 0)
	got := luaToGo(tbl)
	want := map[string]any{"host": "example.com", "x-a": []any{"1", "2"}, "x_b": "3"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("get_headers() = %#v, want %#v", got, want)
	}
	if got := luaToGo(headersTable(h, 2)); !reflect.DeepEqual(got, map[string]any{"host": "example.com", "x-a": "1"}) {
		t.Errorf("get_headers(2) = %#v", got)
	}
	if v := headersTableLookup(tbl, "X-A"); !reflect.DeepEqual(luaToGo(v), []any{"1", "2"}) {
		t.Errorf(`headers["X-A"] = %#v`, v)
	}
	if v := headersTableLookup(tbl, "X_A"); !reflect.DeepEqual(luaToGo(v), []any{"1", "2"}) {
		t.Errorf(`headers["X_A"] = %#v (the __index maps '_' to '-')`, v)
	}
	if v := headersTableLookup(tbl, "X-B"); v != nil {
		t.Errorf(`headers["X-B"] = %#v, want nil ("x_b" is only reachable raw)`, v)
	}
	if v := headersTableLookup(tbl, "x_b"); v != "3" {
		t.Errorf(`headers["x_b"] = %#v, want "3"`, v)
	}
}

func TestSetHeaders(t *testing.T) {
	tests := []struct {
		name   string
		in     []Header
		set    string
		values []string
		isList bool
		want   []Header
	}{
		{"replace in place keeps the client's spelling",
			hdrs("A", "1", "x-user-id", "spoof", "B", "2"), "X-User-ID", []string{"42"}, false,
			hdrs("A", "1", "x-user-id", "42", "B", "2")},
		{"later duplicates removed",
			hdrs("X-User-ID", "a", "B", "2", "X-USER-ID", "b"), "x-user-id", []string{"42"}, false,
			hdrs("X-User-ID", "42", "B", "2")},
		{"underscore spelling is a different header",
			hdrs("X_User_ID", "evil"), "X-User-ID", []string{"42"}, false,
			hdrs("X_User_ID", "evil", "X-User-ID", "42")},
		{"appended when absent",
			hdrs("A", "1"), "X-New", []string{"v"}, false,
			hdrs("A", "1", "X-New", "v")},
		{"empty list removes every case-insensitive match",
			hdrs("X-User-ID", "a", "B", "2", "x-user-id", "b", "X_User_ID", "c"), "X-User-Id", nil, true,
			hdrs("B", "2", "X_User_ID", "c")},
		{"list: first in place, rest appended",
			hdrs("A", "1", "B", "2", "a", "3"), "A", []string{"x", "y"}, true,
			hdrs("A", "x", "B", "2", "A", "y")},
	}
	for _, tt := range tests {
		got := ngxReqSetHeader(append([]Header(nil), tt.in...), tt.set, tt.values, tt.isList)
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s:\n got %v\nwant %v", tt.name, got, tt.want)
		}
	}
}

func TestClearHeader(t *testing.T) {
	got := ngxReqClearHeader(hdrs("X-A", "1", "x-a", "2", "X_A", "3", "B", "4"), "X-A")
	if want := hdrs("X_A", "3", "B", "4"); !reflect.DeepEqual(got, want) {
		t.Errorf("clear_header: got %v, want %v", got, want)
	}
}

// pdkArgsHeaders builds the Lua table pb_unwrap makes from a go-pdk
// headers Struct.
func pdkArgsHeaders(t *testing.T, m map[string]any) *luaTable {
	t.Helper()
	s, err := structpb.NewStruct(m)
	if err != nil {
		t.Fatal(err)
	}
	return luaFromStruct(s)
}

func TestPDKServiceRequestHeaders(t *testing.T) {
	ev := newEvent(&Server{}, PluginRef{Name: "p"}, &Request{Headers: hdrs("X-User-ID", "spoof", "X-Empty", "x", "Accept", "*/*")})
	// set_headers with go-pdk's shape: every value a list of strings
	_, err := pdkServiceRequestSetHeaders(ev, []any{pdkArgsHeaders(t, map[string]any{
		"x-user-id": []any{},   // removes X-User-ID
		"X-Empty":   []any{""}, // "" becomes " "
		"X-Multi":   []any{"a", "b"},
	})})
	if err != nil {
		t.Fatal(err)
	}
	want := hdrs("X-Empty", " ", "Accept", "*/*", "X-Multi", "a", "X-Multi", "b")
	if !reflect.DeepEqual(ev.headers, want) {
		t.Errorf("after set_headers: %v, want %v", ev.headers, want)
	}
	// invalid values raise (checks.lua validate_headers): Kong answers 500
	_, err = pdkServiceRequestSetHeaders(ev, []any{pdkArgsHeaders(t, map[string]any{"X-Bad": []any{1.0}})})
	if _, ok := err.(*luaError); !ok || err.Error() != `invalid header value in array "X-Bad": got number, expected string` {
		t.Errorf("set_headers with a number in a list: %v", err)
	}
	// add_header goes through get_headers()[name] and set_header(name, list)
	ev.headers = hdrs("X-A", "1", "B", "2", "x-a", "3")
	if _, err := pdkServiceRequestAddHeader(ev, []any{"X-A", "4"}); err != nil {
		t.Fatal(err)
	}
	if want := hdrs("X-A", "1", "B", "2", "X-A", "3", "X-A", "4"); !reflect.DeepEqual(ev.headers, want) {
		t.Errorf("add_header: %v, want %v", ev.headers, want)
	}
	// set_header with a false value: false arrives as nil and is rejected
	_, err = pdkServiceRequestSetHeader(ev, []any{"X-A", nil})
	if _, ok := err.(*luaError); !ok {
		t.Errorf("set_header(nil) should raise, got %v", err)
	}
}

func TestPDKGetHeadersMax(t *testing.T) {
	ev := newEvent(&Server{}, PluginRef{Name: "p"}, &Request{Headers: hdrs("A", "1")})
	for _, tt := range []struct {
		max  float64
		want string
	}{{0, "max_headers must be >= 1"}, {1001, "max_headers must be <= 1000"}} {
		if _, err := pdkRequestGetHeaders(ev, []any{tt.max}); err == nil || err.Error() != tt.want {
			t.Errorf("get_headers(%v) error = %v, want %q", tt.max, err, tt.want)
		}
	}
	if _, err := pdkRequestGetHeaders(ev, []any{100.0}); err != nil {
		t.Errorf("get_headers(100): %v", err)
	}
}

func TestNormalizeURIPath(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/", "/"},
		{"/a/b", "/a/b"},
		{"/t/Abc%20123%C3%B8%2f/parent/..//test/./", "/t/Abc 123\xc3\xb8%2F/test/"},
		{"//a//b", "/a/b"},
		{"/a/./b/../c", "/a/c"},
		{"/%2e%2e/x", "/x"},
		{"/a%3fb", "/a%3Fb"},
	}
	for _, tt := range tests {
		if got := normalizeURIPath(tt.in, true); got != tt.want {
			t.Errorf("normalize(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestServiceNameMapping(t *testing.T) {
	for rpc, want := range map[string]string{
		"Kong.Request_GetHeaders":          "kong.request.get_headers",
		"Kong.Service_Request_SetHeaders":  "kong.service.request.set_headers",
		"Kong.Client_GetForwardedIp":       "kong.client.get_forwarded_ip",
		"Kong.Nginx_GetTls1VersionStr":     "kong.nginx.get_tls1_version_str",
		"Kong.Request_GetPathWithQuery":    "kong.request.get_path_with_query",
		"Kong.Service_Response_GetRawBody": "kong.service.response.get_raw_body",
	} {
		found := false
		for name, m := range rpcService {
			if m.rpc == rpc {
				found = true
				if name != want {
					t.Errorf("%s maps to %q, want %q", rpc, name, want)
				}
			}
		}
		if !found {
			t.Errorf("%s not in the service", rpc)
		}
	}
	for name, want := range map[string]string{"kong.ctx.shared.set": "Kong.Ctx_SetShared", "kong.ctx.shared.get": "Kong.Ctx_GetShared"} {
		if m := rpcService[name]; m == nil || m.rpc != want {
			t.Errorf("MethodName option: %s → %v, want %s", name, m, want)
		}
	}
	for name := range pdkImpls {
		if rpcService[name] == nil {
			t.Errorf("implemented method %q is not in Kong's service", name)
		}
	}
}

func TestLuaValueRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		in   any // what the plugin sends (structpb.NewValue input)
		lua  any // luaToGo of the Lua value Kong stores
		back any // what the plugin reads back (AsInterface)
	}{
		{"string", "x", "x", "x"},
		{"number", 1.5, 1.5, 1.5},
		{"true", true, true, true},
		{"false becomes nil", false, nil, nil},
		{"null becomes the string NULL_VALUE", nil, "NULL_VALUE", "NULL_VALUE"},
		{"empty list becomes an empty table, read back as a map", []any{}, map[string]any{}, map[string]any{}},
		{"list", []any{"a", "b"}, []any{"a", "b"}, []any{"a", "b"}},
		{"list with false has a hole", []any{"a", false, "c"}, map[string]any{"1": "a", "3": "c"}, []any{"a"}},
		{"map", map[string]any{"k": "v", "f": false}, map[string]any{"k": "v"}, map[string]any{"k": "v"}},
	}
	for _, tt := range tests {
		v, err := structpb.NewValue(tt.in)
		if err != nil {
			t.Fatal(err)
		}
		lua := luaFromValue(v)
		if got := luaToGo(lua); !reflect.DeepEqual(got, tt.lua) {
			t.Errorf("%s: Lua value %#v, want %#v", tt.name, got, tt.lua)
		}
		out, err := valueFromLua(lua)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if got := out.AsInterface(); !reflect.DeepEqual(got, tt.back) {
			t.Errorf("%s: read back %#v, want %#v", tt.name, got, tt.back)
		}
	}
}

func TestKongErrorResponse(t *testing.T) {
	for _, tt := range []struct{ accept, ct string }{
		{"", "application/json; charset=utf-8"},
		{"text/html", "text/html; charset=utf-8"},
		{"text/plain;q=0.5, application/xml", "application/xml; charset=utf-8"},
		{"image/png", "application/json; charset=utf-8"},
	} {
		var h []Header
		if tt.accept != "" {
			h = hdrs("Accept", tt.accept)
		}
		ev := newEvent(&Server{}, PluginRef{Name: "p"}, &Request{Headers: h})
		e := kongErrorResponse(ev, 500, unexpectedError)
		if e.Headers["Content-Type"][0] != tt.ct {
			t.Errorf("Accept %q: Content-Type %q, want %q", tt.accept, e.Headers["Content-Type"][0], tt.ct)
		}
	}
	ev := newEvent(&Server{}, PluginRef{Name: "p"}, nil)
	e := kongErrorResponse(ev, 500, unexpectedError)
	want := "{\n  \"message\":\"An unexpected error occurred\",\n  \"request_id\":\"" + ev.requestID + "\"\n}"
	if string(e.Body) != want {
		t.Errorf("body %q, want %q", e.Body, want)
	}
}
