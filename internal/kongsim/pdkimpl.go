package kongsim

import (
	"errors"
	"net/url"
	"strconv"
	"strings"

	"github.com/Kong/go-pdk/server/kong_plugin_protocol"
)

// The simulated PDK functions (pdkImpls), each following the Kong Lua
// function named in its comment, and the nginx variables they read.

// pdkClientAuthenticate follows kong/pdk/client.lua _CLIENT.authenticate:
// either argument may be nil, not both; ngx.ctx.authenticated_consumer and
// ngx.ctx.authenticated_credential are set (what kong.client.get_credential
// and rate-limiting's limit_by credential read), kept in Result.
func pdkClientAuthenticate(ev *event, args []any) (any, error) {
	consumer, credential := arg(args, 0), arg(args, 1)
	if consumer == nil && credential == nil {
		return nil, errors.New("either credential or consumer must be provided")
	}
	ev.res.Consumer = consumerOf(consumer)
	ev.res.Credential = credentialOf(credential)
	return nil, nil
}

func consumerOf(v any) *AuthenticatedEntity {
	c, ok := v.(*kong_plugin_protocol.Consumer)
	if !ok {
		return nil
	}
	return &AuthenticatedEntity{ID: c.Id, Username: c.Username}
}

func credentialOf(v any) *AuthenticatedEntity {
	c, ok := v.(*kong_plugin_protocol.AuthenticatedCredential)
	if !ok {
		return nil
	}
	return &AuthenticatedEntity{ID: c.Id, ConsumerID: c.ConsumerId}
}

// pdkClientGetIP follows kong/pdk/client.lua _CLIENT.get_ip:
// $realip_remote_addr or $remote_addr.
func pdkClientGetIP(ev *event, _ []any) (any, error) {
	if v, ok := ev.nginxVar("realip_remote_addr"); ok {
		return v, nil
	}
	return ev.nginxVarOrNil("remote_addr"), nil
}

// pdkClientGetForwardedIP follows kong/pdk/client.lua
// _CLIENT.get_forwarded_ip: $remote_addr (after the realip module).
func pdkClientGetForwardedIP(ev *event, _ []any) (any, error) {
	return ev.nginxVarOrNil("remote_addr"), nil
}

// pdkCtxSharedGet follows plugin.lua exposed_api["kong.ctx.shared.get"]:
// kong.ctx.shared[k].
func pdkCtxSharedGet(ev *event, args []any) (any, error) {
	k, _ := argString(args, 0)
	return ev.shared.get(k), nil
}

// pdkCtxSharedSet follows plugin.lua exposed_api["kong.ctx.shared.set"]:
// kong.ctx.shared[k] = v (nil, which is what false becomes, deletes).
func pdkCtxSharedSet(ev *event, args []any) (any, error) {
	k, _ := argString(args, 0)
	ev.shared.set(k, arg(args, 1))
	return nil, nil
}

// pdkLog follows kong/pdk/log.lua gen_log_func: the arguments are
// tostring()ed and concatenated with no separator, under the plugin's
// namespace (pb_rpc.lua call_pdk set_namespaced_log).
func pdkLog(level string) func(ev *event, args []any) (any, error) {
	return func(ev *event, args []any) (any, error) {
		var b strings.Builder
		goArgs := make([]any, len(args))
		for i, a := range args {
			b.WriteString(luaToString(a))
			goArgs[i] = luaToGo(a)
		}
		ev.addLog(LogEntry{Level: level, Args: goArgs, Message: b.String()})
		return nil, nil
	}
}

// pdkNginxGetVar follows plugin.lua exposed_api["kong.nginx.get_var"]:
// ngx.var[v] (nil for unknown or unset variables).
func pdkNginxGetVar(ev *event, args []any) (any, error) {
	name, _ := argString(args, 0)
	return ev.nginxVarOrNil(name), nil
}

// pdkNginxGetCtx follows plugin.lua exposed_api["kong.nginx.get_ctx"]:
// ngx.ctx[k] (the simulated ngx.ctx holds only what plugins stored).
func pdkNginxGetCtx(ev *event, args []any) (any, error) {
	k, _ := argString(args, 0)
	return ev.ngxCtx.get(k), nil
}

// pdkNginxSetCtx follows plugin.lua exposed_api["kong.nginx.set_ctx"]:
// ngx.ctx[k] = v.
func pdkNginxSetCtx(ev *event, args []any) (any, error) {
	k, _ := argString(args, 0)
	ev.ngxCtx.set(k, arg(args, 1))
	return nil, nil
}

// pdkNodeGetID follows kong/pdk/node.lua get_id: the node's UUID.
func pdkNodeGetID(ev *event, _ []any) (any, error) {
	return ev.s.nodeID, nil
}

// pdkRequestGetScheme follows kong/pdk/request.lua get_scheme:
// ngx.ctx.scheme or $scheme.
func pdkRequestGetScheme(ev *event, _ []any) (any, error) {
	return ev.nginxVarOrNil("scheme"), nil
}

// pdkRequestGetHost follows kong/pdk/request.lua get_host: ngx.ctx.host
// or $host.
func pdkRequestGetHost(ev *event, _ []any) (any, error) {
	return ev.nginxVarOrNil("host"), nil
}

// pdkRequestGetPort follows kong/pdk/request.lua get_port:
// tonumber($server_port).
func pdkRequestGetPort(ev *event, _ []any) (any, error) {
	v, ok := ev.nginxVar("server_port")
	if !ok {
		return nil, nil
	}
	n, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return nil, nil
	}
	return n, nil
}

// pdkRequestGetMethod follows kong/pdk/request.lua get_method:
// ngx.req.get_method().
func pdkRequestGetMethod(ev *event, _ []any) (any, error) {
	return ev.req.Method, nil
}

// rawPath is kong/pdk/request.lua get_raw_path: $request_uri up to the
// first '?' after its first character.
func (ev *event) rawPath() string {
	uri := ev.requestURI()
	if i := strings.IndexByte(uri[min(1, len(uri)):], '?'); i >= 0 {
		return uri[:i+min(1, len(uri))]
	}
	return uri
}

// pdkRequestGetPath follows kong/pdk/request.lua get_path:
// normalize(get_raw_path(), true) (kong/tools/uri.lua).
func pdkRequestGetPath(ev *event, _ []any) (any, error) {
	return normalizeURIPath(ev.rawPath(), true), nil
}

// pdkRequestGetPathWithQuery follows kong/pdk/request.lua
// get_path_with_query: $request_uri.
func pdkRequestGetPathWithQuery(ev *event, _ []any) (any, error) {
	return ev.requestURI(), nil
}

// pdkRequestGetRawQuery follows kong/pdk/request.lua get_raw_query:
// $args or "".
func pdkRequestGetRawQuery(ev *event, _ []any) (any, error) {
	if v, ok := ev.nginxVar("args"); ok {
		return v, nil
	}
	return "", nil
}

// pdkRequestGetHeader follows kong/pdk/request.lua get_header →
// kong/tools/http.lua get_header (see getRequestHeader).
func pdkRequestGetHeader(ev *event, args []any) (any, error) {
	name, ok := argString(args, 0)
	if !ok {
		return nil, throw("header name must be a string")
	}
	if v, ok := getRequestHeader(ev.headers, name); ok {
		return v, nil
	}
	return nil, nil
}

// pdkRequestGetHeaders follows kong/pdk/request.lua get_headers(max):
// max must be a number in 1..1000 (an omitted max arrives as 0 from the
// Int message and is rejected), then ngx.req.get_headers(max).
func pdkRequestGetHeaders(ev *event, args []any) (any, error) {
	max, ok := arg(args, 0).(float64)
	if arg(args, 0) == nil {
		return headersTable(ev.headers, 0), nil
	}
	switch {
	case !ok:
		return nil, throw("max_headers must be a number")
	case max < 1:
		return nil, throw("max_headers must be >= 1")
	case max > 1000:
		return nil, throw("max_headers must be <= 1000")
	}
	return headersTable(ev.headers, int(max)), nil
}

// validateHeaderValue is the value part of kong/pdk/private/checks.lua
// validate_header / validate_headers.
func validateHeaderValue(name string, v any, forTable bool) error {
	switch x := v.(type) {
	case string, float64, bool:
		return nil
	case *luaTable:
		for _, e := range x.ipairs() {
			if _, ok := e.(string); !ok {
				return throw("invalid header value in array %s: got %s, expected string", luaQuote(name), luaTypeName(e))
			}
		}
		return nil
	}
	if forTable {
		return throw("invalid header value for %s: got %s, expected string, number, boolean or array of strings", luaQuote(name), luaTypeName(v))
	}
	return throw("invalid header value for %s: got %s, expected array of string, string, number or boolean", luaQuote(name), luaTypeName(v))
}

// normalizeMultiHeader is checks.lua normalize_multi_header: "" → " ",
// lists element-wise (via ipairs), numbers and booleans via tostring.
func normalizeMultiHeader(v any) (values []string, isList bool) {
	switch x := v.(type) {
	case string:
		return []string{normalizeHeaderValue(x)}, false
	case *luaTable:
		for _, e := range x.ipairs() {
			s, _ := e.(string)
			values = append(values, normalizeHeaderValue(s))
		}
		return values, true
	}
	return []string{luaToString(v)}, false
}

// pdkServiceRequestSetHeader follows kong/pdk/service/request.lua
// set_header: validate, then ngx.req.set_header(header,
// normalize_multi_header(value)) (the ":authority" pseudo-header returns an
// error for non-gRPC requests instead of raising).
func pdkServiceRequestSetHeader(ev *event, args []any) (any, error) {
	name, ok := argString(args, 0)
	if !ok {
		return nil, throw("invalid header name %s: got %s, expected string", luaToString(arg(args, 0)), luaTypeName(arg(args, 0)))
	}
	v := arg(args, 1)
	if err := validateHeaderValue(name, v, false); err != nil {
		return nil, err
	}
	if asciiLower(name) == ":authority" {
		return nil, nil
	}
	values, isList := normalizeMultiHeader(v)
	ev.headers = ngxReqSetHeader(ev.headers, name, values, isList)
	return nil, nil
}

// pdkServiceRequestAddHeader follows kong/pdk/service/request.lua
// add_header: the existing values (ngx.req.get_headers()[header], so at
// most lua_max_req_headers lines and looked up through the table's
// lower/'_'→'-' __index) plus the new one are written back with
// ngx.req.set_header(header, list), which replaces every header whose name
// equals `header` case-insensitively.
func pdkServiceRequestAddHeader(ev *event, args []any) (any, error) {
	name, ok := argString(args, 0)
	if !ok {
		return nil, throw("invalid header name %s: got %s, expected string", luaToString(arg(args, 0)), luaTypeName(arg(args, 0)))
	}
	v := arg(args, 1)
	if err := validateHeaderValue(name, v, false); err != nil {
		return nil, err
	}
	var list []string
	switch x := headersTableLookup(headersTable(ev.headers, 0), name).(type) {
	case string:
		list = []string{x}
	case *luaTable:
		for _, e := range x.ipairs() {
			list = append(list, e.(string))
		}
	}
	if _, isTable := v.(*luaTable); isTable {
		return nil, throw("bad argument #2 to 'set_header' (string expected, got table)")
	}
	added, _ := normalizeMultiHeader(v)
	list = append(list, added...)
	ev.headers = ngxReqSetHeader(ev.headers, name, list, true)
	return nil, nil
}

// pdkServiceRequestClearHeader follows kong/pdk/service/request.lua
// clear_header: ngx.req.clear_header(header).
func pdkServiceRequestClearHeader(ev *event, args []any) (any, error) {
	name, ok := argString(args, 0)
	if !ok {
		return nil, throw("header must be a string")
	}
	ev.headers = ngxReqClearHeader(ev.headers, name)
	return nil, nil
}

// pdkServiceRequestSetHeaders follows kong/pdk/service/request.lua
// set_headers: validate every entry first (checks.lua validate_headers),
// then ngx.req.set_header for each pair. Lua's pairs order is unspecified;
// we go in lexicographic order, which is what the PDK documents.
func pdkServiceRequestSetHeaders(ev *event, args []any) (any, error) {
	t, ok := arg(args, 0).(*luaTable)
	if !ok {
		return nil, throw("headers must be a table")
	}
	kvs := t.pairs()
	for _, kv := range kvs {
		k, ok := kv.key.(string)
		if !ok {
			return nil, throw("invalid header name %s: got %s, expected string", luaToString(kv.key), luaTypeName(kv.key))
		}
		if err := validateHeaderValue(k, kv.val, true); err != nil {
			return nil, err
		}
	}
	for _, kv := range kvs {
		values, isList := normalizeMultiHeader(kv.val)
		ev.headers = ngxReqSetHeader(ev.headers, kv.key.(string), values, isList)
	}
	return nil, nil
}

// ---------------------------------------------------------------------------
// nginx variables

// requestURI is $request_uri: the path and query as sent.
func (ev *event) requestURI() string {
	if ev.req.Query != "" {
		return ev.req.Path + "?" + ev.req.Query
	}
	return ev.req.Path
}

// nginxVarOrNil is ngx.var[name] as a Lua value.
func (ev *event) nginxVarOrNil(name string) any {
	if v, ok := ev.nginxVar(name); ok {
		return v
	}
	return nil
}

// nginxVar resolves the nginx variables a plugin can read in the access
// phase (names are case-insensitive, as ngx.var lowercases them).
// Request.Vars entries take precedence; unknown variables are not found.
func (ev *event) nginxVar(name string) (string, bool) {
	name = asciiLower(name)
	for k, v := range ev.req.Vars {
		if asciiLower(k) == name {
			return v, true
		}
	}
	switch name {
	case "remote_addr", "realip_remote_addr":
		return ev.req.ClientIP, true
	case "request_uri":
		return ev.requestURI(), true
	case "uri":
		return nginxURI(ev.req.Path), true
	case "args", "query_string":
		if ev.req.Query == "" {
			return "", false
		}
		return ev.req.Query, true
	case "is_args":
		if ev.req.Query != "" {
			return "?", true
		}
		return "", true
	case "request_method":
		return ev.req.Method, true
	case "scheme":
		return ev.req.Scheme, true
	case "https":
		if ev.req.Scheme == "https" {
			return "on", true
		}
		return "", true
	case "host":
		return hostVar(ev.headers), true
	case "server_port":
		return strconv.Itoa(ev.req.Port), true
	case "server_addr":
		return "127.0.0.1", true
	case "server_name":
		return "kong", true
	case "server_protocol":
		return "HTTP/1.1", true
	case "request":
		return ev.req.Method + " " + ev.requestURI() + " HTTP/1.1", true
	case "request_id", "kong_request_id":
		return ev.requestID, true
	case "content_type", "content_length":
		return nginxHeaderVar(ev.headers, name)
	}
	if suffix, ok := strings.CutPrefix(name, "http_"); ok {
		return nginxHeaderVar(ev.headers, suffix)
	}
	if argName, ok := strings.CutPrefix(name, "arg_"); ok {
		return queryArg(ev.req.Query, argName)
	}
	return "", false
}

// queryArg is $arg_<name>: the first argument whose name matches
// case-insensitively, value not decoded (ngx_http_arg).
func queryArg(query, name string) (string, bool) {
	for _, part := range strings.Split(query, "&") {
		k, v, _ := strings.Cut(part, "=")
		if asciiEqualFold(k, name) {
			return v, true
		}
	}
	return "", false
}

// nginxURI approximates $uri: the path percent-decoded with dot segments
// resolved and slashes merged (ngx_http_parse_complex_uri).
func nginxURI(path string) string {
	if dec, err := url.PathUnescape(path); err == nil {
		path = dec
	}
	return normalizeURIPath(path, true)
}
