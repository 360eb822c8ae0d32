// Package echo is an upstream that answers every request with 200 and a JSON
// description of what it received:
//
//	{"method": "GET", "path": "/x", "query": "a=1", "headers": {"X-User-ID": ["42"]}}
//
// Tests use it to see exactly which headers the gateway (and the plugin
// through it) sent upstream.
//
// Header name spelling: Go's net/http server canonicalizes header names
// ("x-user-id" and "X-User-ID" both become "X-User-Id"), which would hide
// precisely what these tests look at. So the Server in this package speaks
// HTTP/1.1 itself and reports names exactly as they were on the wire, each
// spelling as its own key, Host included. The plain http.Handler (Handler),
// for use behind any net/http server, can only report the canonical
// spellings that net/http hands it; it adds Host from r.Host.
package echo

import (
	"encoding/json"
	"maps"
	"net/http"
	"slices"
)

// Reply is the JSON document the echo answers with.
type Reply struct {
	Method string `json:"method"`
	// Path is the request-target path as sent, still percent-encoded.
	Path string `json:"path"`
	// Query is the raw query string without '?', "" if none.
	Query string `json:"query"`
	// Headers maps each header name, as spelled by the client, to its values
	// in order.
	Headers map[string][]string `json:"headers"`
}

// Get returns the values of header name, compared case-insensitively over
// every spelling, in the order the spellings sort; nil if absent.
func (r Reply) Get(name string) []string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(r.Headers)) {
		if http.CanonicalHeaderKey(k) == http.CanonicalHeaderKey(name) {
			out = append(out, r.Headers[k]...)
		}
	}
	return out
}

// handler is the net/http flavour of the echo.
type handler struct{}

// Handler returns the echo as an http.Handler. Header names are those
// net/http produced (canonicalized); see the package comment.
func Handler() http.Handler { return handler{} }

func (handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	headers := make(map[string][]string, len(r.Header)+1)
	for k, v := range r.Header {
		headers[k] = append([]string(nil), v...)
	}
	if r.Host != "" {
		headers["Host"] = []string{r.Host}
	}
	body, err := json.Marshal(Reply{Method: r.Method, Path: r.URL.EscapedPath(), Query: r.URL.RawQuery, Headers: headers})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(append(body, '\n')) // so curl's output ends its line
}
