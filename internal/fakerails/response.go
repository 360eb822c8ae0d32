package fakerails

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// Identity is the body of a successful verify answer:
// {"user_id": <string|number>, "roles": [...]}.
type Identity struct {
	// UserID is encoded as given: a string ("u-1001") gives a JSON string, a
	// json.Number ("42") or any Go integer gives a JSON number. Rails apps
	// answer both, so the plugin must accept both.
	UserID any `json:"user_id"`
	// Roles is encoded as a JSON array; nil is sent as [] (never null),
	// because that is what the Rails serializer produces for no roles.
	Roles []string `json:"roles"`
}

// Response is how the fake answers one token.
type Response struct {
	// Status is the HTTP status. 0 means 200 when Identity is set, else 401.
	Status int
	// Identity, when non-nil, is JSON-encoded as the body (Body is ignored).
	Identity *Identity
	// Body is sent verbatim when Identity is nil. Empty means a small JSON
	// error object for non-2xx statuses and {} for 2xx.
	Body string
	// Delay is added to the server-wide delay before answering, to exercise
	// the plugin's timeout.
	Delay time.Duration
	// Malformed sends a truncated JSON document with Content-Type
	// application/json, to exercise the plugin's decode error path.
	Malformed bool
}

// OK is a convenience for a 200 answer carrying id and roles.
func OK(userID any, roles ...string) Response {
	return Response{Status: http.StatusOK, Identity: &Identity{UserID: userID, Roles: roles}}
}

// Deny is a convenience for a 401/403 (or any status) answer with the
// default error body.
func Deny(status int) Response { return Response{Status: status} }

// malformedBody is cut mid-document on purpose: it is JSON enough to look
// like an identity to a sloppy parser, but no JSON decoder accepts it.
const malformedBody = `{"user_id": 42, "roles": ["adm`

// render produces the status and body the fake writes for r.
func (r Response) render() (int, []byte) {
	status := r.Status
	if status == 0 {
		status = http.StatusUnauthorized
		if r.Identity != nil {
			status = http.StatusOK
		}
	}
	switch {
	case r.Malformed:
		return status, []byte(malformedBody)
	case r.Identity != nil:
		id := *r.Identity
		if id.Roles == nil {
			id.Roles = []string{}
		}
		b, err := json.Marshal(id)
		if err != nil {
			// Only an unencodable UserID (a func, a channel) gets here:
			// a test bug, reported loudly as a 500 the test will notice.
			return http.StatusInternalServerError, errorBody(fmt.Sprintf("fakerails: encoding identity: %v", err))
		}
		return status, b
	case r.Body != "":
		return status, []byte(r.Body)
	case status >= 200 && status < 300:
		return status, []byte(`{}`)
	default:
		return status, errorBody(http.StatusText(status))
	}
}

func errorBody(msg string) []byte {
	b, _ := json.Marshal(map[string]string{"error": msg})
	return b
}
