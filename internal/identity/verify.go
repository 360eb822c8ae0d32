package identity

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"time"
)

// Limits on what the auth service may hand us. Anything larger is not an
// identity but a bug or an attack on the upstream headers.
// Verifier is a source of truth about credentials: the Rails verify
// endpoint today (rails.go), the identity provider's tokens next. It
// returns the identity, a *RejectedError for a credential it refuses, or
// an error when it cannot answer (ErrUnavailable, *BadStatusError,
// ErrInvalidResponse, *OpenError). Which verifier a credential goes to is
// decided by the credential's shape, never by trying one after another.
type Verifier interface {
	Verify(ctx context.Context, cred credential) (*Identity, error)
}

// The answer contract: what a verifier's answer must be to become headers.

const (
	maxUserIDLen = 256
	maxRoles     = 256
	maxRoleLen   = 256
	maxExtraLen  = 1024
)

// Identity is who the auth service says the caller is. It is immutable once
// built: cached identities are shared by concurrent requests.
type Identity struct {
	// UserID is the user id exactly as the auth service wrote it: a JSON
	// string's content, or a JSON integer's digits (never via float64, so
	// 9007199254740993 keeps every digit).
	UserID string
	// Roles are the role names; nil when the user has none.
	Roles []string
	// Extra are the values of the configuration's extra_headers fields, in
	// the order of settings.Extras ("" when the answer lacks the field).
	Extra []string
	// rolesHeader is Roles comma-joined once, at parse time, not per request.
	rolesHeader string
	// groups is Roles as go-pdk's structpb encoding wants a list
	// ([]any), for kong.ctx.shared.authenticated_groups.
	groups []any
	// fetched is when the auth service answered for this identity (on
	// whichever node asked it): the start of its freshness, which bounds the
	// lifetime of the identity tokens minted for it (jwt.go).
	fetched time.Time
	// source is where the identity came from; token is set for a provider
	// token's identity only (a pointer: a Rails identity, the many, pays 8
	// bytes for it, not 48).
	source Source
	token  *tokenTimes
	// planned are the last set_headers maps built for this identity, one
	// per header plan (see headerPlan.plan): a memo, safe for concurrent use.
	planned atomic.Pointer[planMemo]
}

// parseIdentity validates a 200 answer of the auth service. Every value that
// will reach an upstream header is checked here: no control characters (no
// CR/LF header injection), no commas inside a role (it would split into two),
// bounded sizes. Raw JSON values keep a numeric id's original digits and
// tell a missing field from null.
//
// fetched is when the auth service answered.
func parseIdentity(body []byte, extras []ExtraHeader, fetched time.Time) (*Identity, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil || fields == nil {
		return nil, fmt.Errorf("%w: body is not a JSON object", ErrInvalidResponse)
	}
	userID, err := parseUserID(fields["user_id"])
	if err != nil {
		return nil, err
	}
	roles, err := parseRoles(fields["roles"])
	if err != nil {
		return nil, err
	}
	var extra []string
	if len(extras) > 0 {
		extra = make([]string, len(extras))
		for i, e := range extras {
			if extra[i], err = parseExtra(e.Field, fields[e.Field]); err != nil {
				return nil, err
			}
		}
	}
	return newIdentity(userID, roles, extra, fetched), nil
}

// newIdentity builds an Identity from validated values, with the forms the
// hot path needs computed once. fetched is when the auth service answered.
func newIdentity(userID string, roles, extra []string, fetched time.Time) *Identity {
	if len(roles) == 0 {
		roles = nil
	}
	id := &Identity{UserID: userID, Roles: roles, Extra: extra, fetched: fetched,
		rolesHeader: strings.Join(roles, ","), groups: make([]any, len(roles))}
	for i, r := range roles {
		id.groups[i] = r
	}
	return id
}

// tokenTimes are a provider token's times an identity keeps: exp (neither
// a cache entry nor a minted token outlives it) and auth_time (or iat),
// the auth_time of minted tokens.
type tokenTimes struct {
	expires  time.Time
	authTime time.Time
}

// expires is the end of a provider identity's token; zero for the others.
func (id *Identity) expires() time.Time {
	if id.token == nil {
		return time.Time{}
	}
	return id.token.expires
}

// live reports whether the identity may still be served at now: a
// provider identity ends with its token's exp.
func (id *Identity) live(now time.Time) bool {
	return id.token == nil || now.Before(id.token.expires)
}

// kongCredential is the id the identity is presented to Kong with.
func (id *Identity) kongCredential() string {
	return id.source.String() + ":" + id.UserID
}

// parseExtra reads one extra_headers field: a string, an integer or a
// boolean; missing or null is "" (the header is cleared).
func parseExtra(field string, raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	var v string
	switch {
	case len(raw) == 0 || string(raw) == "null":
		return "", nil
	case raw[0] == '"':
		if err := json.Unmarshal(raw, &v); err != nil {
			return "", fmt.Errorf("%w: %s is not a valid string", ErrInvalidResponse, field)
		}
	case isJSONInteger(raw), string(raw) == "true", string(raw) == "false":
		v = string(raw)
	default:
		return "", fmt.Errorf("%w: %s must be a string, an integer or a boolean", ErrInvalidResponse, field)
	}
	if v != "" && (len(v) > maxExtraLen || !isHeaderSafe(v)) {
		return "", fmt.Errorf("%w: %s is too long or has control characters", ErrInvalidResponse, field)
	}
	return v, nil
}

func parseUserID(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", fmt.Errorf("%w: no user_id", ErrInvalidResponse)
	}
	var id string
	switch {
	case raw[0] == '"':
		if err := json.Unmarshal(raw, &id); err != nil {
			return "", fmt.Errorf("%w: user_id is not a valid string", ErrInvalidResponse)
		}
	case isJSONInteger(raw):
		id = string(raw)
	default:
		return "", fmt.Errorf("%w: user_id must be a string or an integer", ErrInvalidResponse)
	}
	if id == "" || len(id) > maxUserIDLen || !isHeaderSafe(id) {
		return "", fmt.Errorf("%w: user_id is empty, too long or has control characters", ErrInvalidResponse)
	}
	return id, nil
}

func parseRoles(raw json.RawMessage) ([]string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var roles []string
	if raw[0] != '[' || json.Unmarshal(raw, &roles) != nil {
		return nil, fmt.Errorf("%w: roles must be an array of strings", ErrInvalidResponse)
	}
	if err := checkRoles(roles); err != nil {
		return nil, err
	}
	if len(roles) == 0 {
		return nil, nil
	}
	return roles, nil
}

func checkRoles(roles []string) error {
	if len(roles) > maxRoles {
		return fmt.Errorf("%w: more than %d roles", ErrInvalidResponse, maxRoles)
	}
	for _, r := range roles {
		if r == "" || len(r) > maxRoleLen || strings.IndexByte(r, ',') >= 0 || !isHeaderSafe(r) {
			return fmt.Errorf("%w: a role is empty, too long, or has a comma or control characters", ErrInvalidResponse)
		}
	}
	return nil
}

// checkIdentity applies the checks of parseIdentity to values that did not
// come as JSON (the shared cache): what reaches a header is checked the
// same way whatever its source.
func checkIdentity(userID string, roles, extra []string) error {
	if userID == "" || len(userID) > maxUserIDLen || !isHeaderSafe(userID) {
		return fmt.Errorf("%w: user_id is empty, too long or has control characters", ErrInvalidResponse)
	}
	if err := checkRoles(roles); err != nil {
		return err
	}
	for _, v := range extra {
		if v != "" && (len(v) > maxExtraLen || !isHeaderSafe(v)) {
			return fmt.Errorf("%w: an extra field is too long or has control characters", ErrInvalidResponse)
		}
	}
	return nil
}

// isJSONInteger reports whether raw is a JSON number without fraction or
// exponent: an id, not a measurement.
func isJSONInteger(raw []byte) bool {
	if len(raw) > 0 && raw[0] == '-' {
		raw = raw[1:]
	}
	if len(raw) == 0 || (raw[0] == '0' && len(raw) > 1) {
		return false
	}
	for _, c := range raw {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// isHeaderSafe reports whether s can be a header value as is: no ASCII
// control characters (CR, LF, NUL, ... and DEL) and no leading or trailing
// space, which nginx would strip and change the value.
func isHeaderSafe(s string) bool {
	if s[0] == ' ' || s[len(s)-1] == ' ' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}
