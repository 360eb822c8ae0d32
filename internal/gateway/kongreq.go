package gateway

import (
	"maps"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/legacy-auth/legacy-auth/internal/kongsim"
)

// kongRequest turns the incoming request into what Kong's PDK would show the
// plugin.
//
// Limitation: net/http has already canonicalized header names ("x-user-id"
// arrives as "X-User-Id", "X_User_ID" as "X_user_id") and a map loses their
// order, so the plugin sees canonical spellings, Host first and the rest
// sorted by name. Real Kong (nginx) keeps the client's spelling and order.
// Header matching in the plugin must be case-insensitive anyway, which is
// what this still exercises; spelling-exact cases belong in kongsim tests
// that build a kongsim.Request by hand.
func kongRequest(r *http.Request) *kongsim.Request {
	path, query := r.URL.EscapedPath(), r.URL.RawQuery
	// RequestURI is the raw request-target: use it, when it is in origin
	// form, so the plugin sees the path exactly as sent (Kong's get_path).
	if strings.HasPrefix(r.RequestURI, "/") {
		path, query, _ = strings.Cut(r.RequestURI, "?")
	}
	headers := make([]kongsim.Header, 0, len(r.Header)+1)
	if r.Host != "" {
		headers = append(headers, kongsim.Header{Name: "Host", Value: r.Host})
	}
	for _, name := range slices.Sorted(maps.Keys(r.Header)) {
		for _, v := range r.Header[name] {
			headers = append(headers, kongsim.Header{Name: name, Value: v})
		}
	}
	req := &kongsim.Request{
		Method:   r.Method,
		Path:     path,
		Query:    query,
		Headers:  headers,
		ClientIP: clientIP(r),
		Scheme:   "http",
	}
	if port, err := strconv.Atoi(localPort(r)); err == nil {
		req.Port = port
	}
	return req
}

// clientIP is the peer address without the port, as nginx's $remote_addr.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
