package plugin

import (
	"errors"
	"net/http"
	"strconv"
	"time"
)

// The failures of one access event. Each maps to exactly one status and
// message in response; the messages of the Lua original are kept verbatim.
var (
	errMissingCredential   = errors.New("authorization header is missing")
	errMultipleCredentials = errors.New("more than one Authorization header")
	errCredentialTooLarge  = errors.New("authorization header is too large")
	errTooManyHeaders      = errors.New("too many request headers to inspect")
	// errUnreadableCredential: an Authorization value Rails' token parser
	// would not read as one token (another scheme, an empty token).
	errUnreadableCredential = errors.New("authorization header is not a Bearer or Token credential")
	errInvalidResponse      = errors.New("invalid response from authentication service")
	errUnavailable          = errors.New("authentication service unavailable")
	errInternal             = errors.New("internal error")
)

// rejectedError is a 401 or 403 from the auth service: the credential is
// not valid. It is an answer, not a failure of the auth service.
type rejectedError struct{ status int }

func (e *rejectedError) Error() string { return "credential rejected by authentication service" }

// badStatusError is any status from the auth service other than 200, 401, 403.
type badStatusError struct{ status int }

func (e *badStatusError) Error() string {
	return "unexpected status " + http.StatusText(e.status) + " from authentication service"
}

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
	var open *openError
	var rejected *rejectedError
	var bad *badStatusError
	switch {
	case errors.As(err, &open):
		return failure{http.StatusServiceUnavailable, bodyUnavailable, "error_breaker_open"}
	case errors.Is(err, errMissingCredential):
		return failure{http.StatusUnauthorized, bodyMissing, "missing_credential"}
	case errors.Is(err, errCredentialTooLarge):
		return failure{http.StatusUnauthorized, bodyTooLarge, "bad_request"}
	case errors.Is(err, errUnreadableCredential):
		return failure{http.StatusUnauthorized, bodyInvalidCreds, "bad_request"}
	case errors.Is(err, errMultipleCredentials):
		return failure{http.StatusBadRequest, bodyMultiple, "bad_request"}
	case errors.Is(err, errTooManyHeaders):
		return failure{http.StatusRequestHeaderFieldsTooLarge, bodyTooMany, "bad_request"}
	case errors.As(err, &rejected):
		return failure{rejected.status, bodyInvalidCreds, "rejected"}
	case errors.As(err, &bad):
		return failure{http.StatusBadGateway, bodyBadResponse, "error_bad_status"}
	case errors.Is(err, errInvalidResponse):
		return failure{http.StatusInternalServerError, bodyInvalidAnswer, "error_invalid_response"}
	case errors.Is(err, errUnavailable):
		return failure{http.StatusServiceUnavailable, bodyUnavailable, "error_unavailable"}
	case errors.Is(err, errInvalidConfig):
		return failure{http.StatusInternalServerError, bodyInternal, "error_config"}
	default:
		return failure{http.StatusInternalServerError, bodyInternal, "error_internal"}
	}
}

// response is the status, body and headers the client gets for err.
func response(err error) (int, []byte, map[string][]string) {
	f := classify(err)
	var open *openError
	if errors.As(err, &open) {
		// Retry-After tells well-behaved clients when the breaker lets a
		// probe through again.
		secs := int(open.retryAfter.Round(time.Second) / time.Second)
		return f.status, f.body, map[string][]string{
			"Content-Type": exitHeaders["Content-Type"],
			"Retry-After":  {strconv.Itoa(secs)},
		}
	}
	return f.status, f.body, exitHeaders
}
