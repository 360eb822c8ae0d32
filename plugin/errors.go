package plugin

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/legacy-auth/legacy-auth/internal/identity"
)

// The failures are the core's (identity.Err*, *identity.RejectedError,
// *identity.BadStatusError, *identity.OpenError); this file is where each
// becomes a status and a message, the Lua original's kept verbatim.

// Exit bodies are prebuilt: the JSON Kong's Lua original produced with
// kong.response.exit(status, { message = ... }).
var (
	bodyMissing       = []byte(`{"message":"Authorization header is missing"}`)
	bodyInvalidCreds  = []byte(`{"message":"Invalid credentials"}`)
	bodyMultiple      = []byte(`{"message":"Multiple Authorization headers"}`)
	bodyTooLarge      = []byte(`{"message":"Authorization header is too large"}`)
	bodyTooMany       = []byte(`{"message":"Too many request headers"}`)
	bodyBadResponse   = []byte(`{"message":"Bad response from authentication service"}`)
	bodyInvalidAnswer = []byte(`{"message":"Invalid response from authentication service"}`)
	bodyUnavailable   = []byte(`{"message":"Authentication service unavailable"}`)
	bodyInternal      = []byte(`{"message":"An unexpected error occurred"}`)
)

// exitHeaders go with every exit: go-pdk sends the body as a string, and
// Kong only sets a JSON content type itself when the body is a Lua table.
var exitHeaders = map[string][]string{"Content-Type": {"application/json; charset=utf-8"}}

// failure is how one access failure is answered and counted.
type failure struct {
	status  int
	body    []byte
	outcome string // label of legacy_auth_requests_total
}

// classify maps an access failure to its answer and metric outcome. It is
// the only place where statuses are chosen.
func classify(err error) failure {
	var open *identity.OpenError
	var rejected *identity.RejectedError
	var bad *identity.BadStatusError
	switch {
	case errors.As(err, &open):
		return failure{http.StatusServiceUnavailable, bodyUnavailable, "error_breaker_open"}
	case errors.As(err, new(*identity.ShedError)):
		return failure{http.StatusServiceUnavailable, bodyUnavailable, "error_shed"}
	case errors.Is(err, identity.ErrMissingCredential):
		return failure{http.StatusUnauthorized, bodyMissing, "missing_credential"}
	case errors.Is(err, identity.ErrCredentialTooLarge):
		return failure{http.StatusUnauthorized, bodyTooLarge, "bad_request"}
	case errors.Is(err, identity.ErrUnreadableCredential):
		return failure{http.StatusUnauthorized, bodyInvalidCreds, "bad_request"}
	case errors.Is(err, identity.ErrMultipleCredentials):
		return failure{http.StatusBadRequest, bodyMultiple, "bad_request"}
	case errors.Is(err, identity.ErrTooManyHeaders):
		return failure{http.StatusRequestHeaderFieldsTooLarge, bodyTooMany, "bad_request"}
	case errors.As(err, &rejected):
		return failure{rejected.Status, bodyInvalidCreds, "rejected"}
	case errors.As(err, &bad):
		return failure{http.StatusBadGateway, bodyBadResponse, "error_bad_status"}
	case errors.Is(err, identity.ErrInvalidResponse):
		return failure{http.StatusInternalServerError, bodyInvalidAnswer, "error_invalid_response"}
	case errors.Is(err, identity.ErrUnavailable):
		return failure{http.StatusServiceUnavailable, bodyUnavailable, "error_unavailable"}
	case errors.Is(err, identity.ErrInvalidConfig):
		return failure{http.StatusInternalServerError, bodyInternal, "error_config"}
	default:
		return failure{http.StatusInternalServerError, bodyInternal, "error_internal"}
	}
}

// response is the status, body and headers the client gets for err.
func response(err error) (int, []byte, map[string][]string) {
	f := classify(err)
	if f.status != http.StatusServiceUnavailable {
		return f.status, f.body, exitHeaders
	}
	// Every 503 says when to come back: when the breaker lets a probe
	// through, or in a second (a shed call, an auth service that did not
	// answer).
	secs := 1
	var open *identity.OpenError
	if errors.As(err, &open) {
		secs = max(1, int(open.RetryAfter.Round(time.Second)/time.Second))
	}
	return f.status, f.body, map[string][]string{
		"Content-Type": exitHeaders["Content-Type"],
		"Retry-After":  {strconv.Itoa(secs)},
	}
}

func init() {
	// The core names, in its log lines, the status a failure is answered
	// with, and stamps the plugin's version in its verify calls.
	identity.StatusOf = func(err error) int { return classify(err).status }
	identity.UserAgent = "legacy-auth/" + Version
}
