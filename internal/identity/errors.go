package identity

import (
	"errors"
	"net/http"
	"time"
)

// The failures of one request. The Kong adapter maps each to exactly one
// status and message (plugin/errors.go).
var (
	ErrMissingCredential   = errors.New("authorization header is missing")
	ErrMultipleCredentials = errors.New("more than one Authorization header")
	ErrCredentialTooLarge  = errors.New("authorization header is too large")
	ErrTooManyHeaders      = errors.New("too many request headers to inspect")
	// ErrUnreadableCredential: an Authorization value Rails' token parser
	// would not read as one token (another scheme, an empty token).
	ErrUnreadableCredential = errors.New("authorization header is not a Bearer or Token credential")
	ErrInvalidResponse      = errors.New("invalid response from authentication service")
	ErrUnavailable          = errors.New("authentication service unavailable")
	ErrInternal             = errors.New("internal error")
	// ErrInvalidConfig wraps every configuration problem.
	ErrInvalidConfig = errors.New("invalid legacy-auth configuration")
)

// RejectedError is a 401 or 403 from the auth service: the credential is
// not valid. It is an answer, not a failure of the auth service.
type RejectedError struct{ Status int }

func (e *RejectedError) Error() string { return "credential rejected by authentication service" }

// BadStatusError is any status from the auth service other than 200, 401, 403.
type BadStatusError struct{ Status int }

func (e *BadStatusError) Error() string {
	return "unexpected status " + http.StatusText(e.Status) + " from authentication service"
}

// OpenError is returned while the breaker refuses calls.
type OpenError struct{ RetryAfter time.Duration }

func (e *OpenError) Error() string { return "circuit breaker open" }
func (e *OpenError) Unwrap() error { return ErrUnavailable }
