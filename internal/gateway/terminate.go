package gateway

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// RequestTermination is Kong's bundled request-termination plugin, which
// the gateway runs (a kong.yml blocks routes with it, e.g. Rails' verify
// endpoint, and the gateway must block them too). Like Kong
// (kong/plugins/request-termination/handler.lua, PRIORITY 2), it runs after
// legacy-auth (1000). echo is Kong-only.
const RequestTermination = "request-termination"

// termination is one request-termination entry's answer.
type termination struct {
	status      int
	body        []byte
	contentType string // "" for the {"message": ...} form
}

// terminationDefaults are handler.lua's DEFAULT_RESPONSE messages.
var terminationDefaults = map[int]string{
	401: "Unauthorized", 404: "Not found", 405: "Method not allowed",
	500: "An unexpected error occurred", 502: "Bad Gateway", 503: "Service unavailable",
}

// newTermination checks an entry's config as Kong's schema.lua would and
// builds its answer.
func newTermination(source string, pl *Plugin) (*termination, error) {
	fail := func(format string, args ...any) error {
		return &DeckError{Source: source, Line: pl.Line, Where: pl.Where, Msg: fmt.Sprintf("plugin %q %s: ", pl.Name, pl.scopeText()) + fmt.Sprintf(format, args...)}
	}
	str := func(key string) (string, error) {
		switch v := pl.Config[key].(type) {
		case nil:
			return "", nil
		case string:
			return v, nil
		}
		return "", fail("%s: expected a string", key)
	}
	for key := range pl.Config {
		switch key {
		case "status_code", "message", "content_type", "body":
		case "echo", "echo_trigger":
			if pl.Config[key] != nil && pl.Config[key] != false {
				return nil, fail("%s is not supported by the local gateway", key)
			}
		default:
			return nil, fail("unknown field %q", key)
		}
	}
	t := &termination{status: 503}
	switch v := pl.Config["status_code"].(type) {
	case nil:
	case float64:
		if v != float64(int(v)) || v < 100 || v > 599 {
			return nil, fail("status_code: expected an integer between 100 and 599")
		}
		t.status = int(v)
	default:
		return nil, fail("status_code: expected an integer")
	}
	msg, err := str("message")
	if err != nil {
		return nil, err
	}
	body, err := str("body")
	if err != nil {
		return nil, err
	}
	ctype, err := str("content_type")
	if err != nil {
		return nil, err
	}
	switch {
	case msg != "" && (ctype != "" || body != ""):
		return nil, fail("message cannot be used with content_type or body")
	case ctype != "" && body == "":
		return nil, fail("content_type requires a body")
	case body != "":
		t.body, t.contentType = []byte(body), ctype
	default:
		if msg == "" {
			msg = terminationDefaults[t.status]
		}
		if msg != "" {
			t.body, _ = json.Marshal(map[string]string{"message": msg})
			t.contentType = "application/json; charset=utf-8"
		}
	}
	return t, nil
}

func (t *termination) write(w http.ResponseWriter) {
	if t.contentType != "" {
		w.Header().Set("Content-Type", t.contentType)
	} else {
		w.Header()["Content-Type"] = nil // no sniffing: Kong sets none
	}
	w.WriteHeader(t.status)
	_, _ = w.Write(t.body)
}
