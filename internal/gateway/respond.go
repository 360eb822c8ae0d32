package gateway

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/legacy-auth/legacy-auth/internal/kongsim"
)

// Kong's own error messages, so clients and tests see the same bodies as
// behind real Kong.
const (
	msgNoRoute     = "no Route matched with those values"
	msgNoService   = "no Service found with those values"
	msgUnexpected  = "An unexpected error occurred"
	msgBadUpstream = "An invalid response was received from the upstream server"
	msgTimeout     = "The upstream server is timing out"
)

// kongError writes a Kong-style {"message": ...} JSON error.
func kongError(w http.ResponseWriter, status int, msg string) {
	b, _ := json.Marshal(map[string]string{"message": msg})
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// writeExit sends what kong.response.exit recorded. Header names are kept
// as the plugin spelled them (direct map assignment, no canonicalization).
func writeExit(w http.ResponseWriter, e *kongsim.Exit) {
	h := w.Header()
	hasType := false
	for k, v := range e.Headers {
		switch strings.ToLower(k) {
		case "content-length", "transfer-encoding", "connection":
			continue // framing is the server's job, from the real body
		case "content-type":
			hasType = true
		}
		h[k] = append([]string(nil), v...)
	}
	if !hasType {
		// A nil entry stops net/http from sniffing a Content-Type the
		// plugin did not set, which Kong would not add either.
		h["Content-Type"] = nil
	}
	status := e.Status
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	_, _ = w.Write(e.Body)
}
