package kongsim

import (
	"fmt"
	"strconv"
	"strings"
)

// kong.response.exit and the responses Kong produces itself.

// pdkResponseExit follows kong/pdk/response.lua _RESPONSE.exit in the
// access phase: validate status (100..599), body and headers, record the
// delayed response and yield (Kong never answers the call). The recorded
// headers are what send() would set: the plugin's (names with '_' turned
// into '-' by lua_transform_underscores_in_response_headers,
// Transfer-Encoding ignored) plus Content-Length when not given.
func pdkResponseExit(ev *event, args []any) (any, error) {
	status, ok := arg(args, 0).(float64)
	if !ok {
		return nil, throw("code must be a number")
	}
	if status < 100 || status > 599 {
		return nil, throw("code must be a number between 100 and 599")
	}
	body := arg(args, 1)
	if body != nil {
		if _, ok := body.(string); !ok {
			if _, ok := body.(*luaTable); !ok {
				return nil, throw("body must be a nil, string or table")
			}
		}
	}
	headers := arg(args, 2)
	var ht *luaTable
	if headers != nil {
		if ht, ok = headers.(*luaTable); !ok {
			return nil, throw("headers must be a nil or table")
		}
		for _, kv := range ht.pairs() {
			k, ok := kv.key.(string)
			if !ok {
				return nil, throw("invalid header name %s: got %s, expected string", luaToString(kv.key), luaTypeName(kv.key))
			}
			if err := validateHeaderValue(k, kv.val, true); err != nil {
				return nil, err
			}
		}
	}
	exit := &Exit{Status: int(status), Headers: map[string][]string{}}
	hasContentLength := false
	if ht != nil {
		for _, kv := range ht.pairs() {
			k := kv.key.(string)
			lk := asciiLower(k)
			if lk == "transfer-encoding" || lk == "transfer_encoding" {
				ev.kongLog("warn", "manually setting Transfer-Encoding. Ignored.")
				continue
			}
			if lk == "content-length" || lk == "content_length" {
				hasContentLength = true
			}
			values, _ := normalizeMultiHeader(kv.val)
			setResponseHeader(exit.Headers, strings.ReplaceAll(k, "_", "-"), values)
		}
	}
	switch b := body.(type) {
	case string:
		exit.Body = []byte(b)
		if !hasContentLength {
			setResponseHeader(exit.Headers, "Content-Length", []string{strconv.Itoa(len(b))})
		}
	case *luaTable:
		return nil, throw("kongsim: table bodies cannot come from a Go plugin")
	default:
		if !hasContentLength {
			setResponseHeader(exit.Headers, "Content-Length", []string{"0"})
		}
	}
	ev.res.Exit = exit
	return nil, errExitYield
}

// setResponseHeader is ngx.header[name] = value: names are
// case-insensitive, the last assignment wins.
func setResponseHeader(h map[string][]string, name string, values []string) {
	for k := range h {
		if asciiEqualFold(k, name) {
			delete(h, k)
		}
	}
	h[name] = values
}

// kongErrorResponse is the response kong.response.error(status) produces
// (kong/pdk/response.lua _RESPONSE.error): the status's default message in
// the error template chosen by the Accept header (kong/tools/http.lua
// get_response_type / get_error_template), with the request id.
func kongErrorResponse(ev *event, status int, message string) *Exit {
	accept := headersTableLookup(headersTable(ev.headers, 0), "Accept")
	var acceptStr string
	switch x := accept.(type) {
	case string:
		acceptStr = x
	case *luaTable:
		var parts []string
		for _, e := range x.ipairs() {
			parts = append(parts, e.(string))
		}
		acceptStr = strings.Join(parts, ",")
	}
	ct := responseTypeFor(acceptStr, accept != nil)
	var body string
	switch ct {
	case mimeTypes["text/html"]:
		body = fmt.Sprintf("<!doctype html>\n<html>\n  <head>\n    <meta charset=\"utf-8\">\n    <title>Error</title>\n  </head>\n  <body>\n    <h1>Error</h1>\n    <p>%s.</p>\n    <p>request_id: %s</p>\n  </body>\n</html>\n", message, ev.requestID)
	case mimeTypes["application/xml"]:
		body = fmt.Sprintf("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<error>\n  <message>%s</message>\n  <requestid>%s</requestid>\n</error>\n", message, ev.requestID)
	case mimeTypes["text/plain"]:
		body = fmt.Sprintf("%s\nrequest_id: %s\n", message, ev.requestID)
	default:
		body = fmt.Sprintf("{\n  \"message\":\"%s\",\n  \"request_id\":\"%s\"\n}", message, ev.requestID)
	}
	return &Exit{
		Status: status,
		Body:   []byte(body),
		Headers: map[string][]string{
			"Content-Type":   {ct},
			"Content-Length": {strconv.Itoa(len(body))},
		},
	}
}

// mimeTypes is kong/tools/http.lua MIME_TYPES.
var mimeTypes = map[string]string{
	"application/grpc": "",
	"text/html":        "text/html; charset=utf-8",
	"application/json": "application/json; charset=utf-8",
	"text/plain":       "text/plain; charset=utf-8",
	"application/xml":  "application/xml; charset=utf-8",
	"application":      "application/json; charset=utf-8",
	"text":             "text/plain; charset=utf-8",
	"default":          "application/json; charset=utf-8",
}

// responseTypeFor is kong/tools/http.lua get_response_type: the media
// range with the highest q wins (ties keep the first); unknown types map
// to JSON.
func responseTypeFor(accept string, present bool) string {
	ct := mimeTypes["default"]
	if !present {
		return ct
	}
	maxQ := 0.0
	for _, entry := range strings.Split(accept, ",") {
		entry = strings.TrimSpace(entry)
		media, q, ok := parseAcceptEntry(entry)
		if !ok || q <= maxQ {
			continue
		}
		maxQ = q
		ct = mimeTypeFor(media)
	}
	return ct
}

// parseAcceptEntry matches kong/tools/http.lua ACCEPT_PATTERN (anchored
// at the start, case-insensitive).
func parseAcceptEntry(entry string) (media string, q float64, ok bool) {
	parts := strings.Split(entry, ";")
	media = strings.TrimSpace(parts[0])
	typ, sub, found := strings.Cut(media, "/")
	if !found || !acceptToken(typ) || !acceptToken(sub) {
		return "", 0, false
	}
	q = 1
	for _, p := range parts[1:] {
		p = strings.TrimSpace(p)
		k, v, _ := strings.Cut(p, "=")
		if strings.EqualFold(strings.TrimSpace(k), "q") {
			if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil && f >= 0 && f <= 1 {
				q = f
			}
		}
	}
	return media, q, true
}

func acceptToken(s string) bool {
	if s == "*" {
		return true
	}
	if len(s) < 2 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i] | 0x20
		if c >= 'a' && c <= 'z' || s[i] >= '0' && s[i] <= '9' {
			continue
		}
		if i > 0 && strings.IndexByte("-!#$&^_+.", s[i]) >= 0 {
			continue
		}
		return false
	}
	return true
}

// mimeTypeFor is kong/tools/http.lua get_mime_type with use_default.
func mimeTypeFor(media string) string {
	typ, sub, _ := strings.Cut(media, "/")
	var mt string
	var ok bool
	if sub == "*" {
		if typ == "*" {
			mt, ok = mimeTypes["default"], true
		} else {
			mt, ok = mimeTypes[typ]
		}
	} else {
		mt, ok = mimeTypes[media]
	}
	if !ok {
		return mimeTypes["default"]
	}
	return mt
}
