package plugin

import (
	"strings"
	"time"
)

const (
	// maxRequestHeaders is what the plugin asks kong.request.get_headers for:
	// Kong's upper bound (kong/pdk/request.lua MAX_HEADERS). The default of
	// 100 would let a client hide a spoofed identity header behind 100 others.
	maxRequestHeaders = 1000
	// maxCredentialBytes: a longer credential (Authorization header plus
	// session cookies) is refused without calling the auth service.
	maxCredentialBytes = 8 << 10
)

// credential is what identifies the caller to the auth service.
type credential struct {
	authorization string // the Authorization header, or ""
	cookie        string // the configured session cookies as a Cookie header, or ""
}

// inspection is what access needs from the client's request headers.
type inspection struct {
	cred credential
	// spoofed are the client's header names (as Kong reported them) that
	// fold to a managed identity header but are spelled differently:
	// X_User_ID for X-User-ID. set_headers under the managed name would not
	// touch them (nginx's set_input_header matches case-insensitively but
	// not '-' against '_'), so they are cleared under their own spelling.
	spoofed []string
}

// headerPlan is how one configuration reads credentials and writes
// identity headers. It is built once per instance and compared by pointer.
type headerPlan struct {
	userID  string // as configured, e.g. X-User-ID
	roles   string
	extras  []extraHeader
	jwt     *jwtSigner // nil when off
	cookies []string   // session cookie names
	managed []string   // every header name the plugin owns
}

func newHeaderPlan(s settings) *headerPlan {
	p := &headerPlan{userID: s.userIDHeader, roles: s.userRolesHeader, extras: s.extras, jwt: s.jwt, cookies: s.cookieNames}
	p.managed = []string{p.userID, p.roles}
	for _, e := range p.extras {
		p.managed = append(p.managed, e.header)
	}
	if p.jwt != nil {
		p.managed = append(p.managed, p.jwt.header)
	}
	return p
}

// inspect reads the credential and the spoofed identity headers from
// kong.request.get_headers output, in one pass and without allocating for
// requests that carry no spoofed header.
func (p *headerPlan) inspect(headers map[string][]string) (inspection, error) {
	var in inspection
	var found, total int
	var cookieLines []string
	for name, values := range headers {
		total += len(values)
		switch {
		case headerNameEqual(name, "authorization"):
			for _, v := range values {
				found++
				in.cred.authorization = v
			}
		case len(p.cookies) > 0 && headerNameEqual(name, "cookie"):
			cookieLines = values
		default:
			for _, m := range p.managed {
				if headerNameEqual(name, m) && !strings.EqualFold(name, m) {
					in.spoofed = append(in.spoofed, name)
					break
				}
			}
		}
	}
	if total >= maxRequestHeaders {
		// Kong truncated the list: a spoofed header could hide past the end.
		return in, errTooManyHeaders
	}
	in.cred.authorization = strings.TrimSpace(in.cred.authorization)
	in.cred.cookie = sessionCookies(p.cookies, cookieLines)
	switch {
	case found > 1:
		return in, errMultipleCredentials
	case in.cred.authorization == "" && in.cred.cookie == "":
		return in, errMissingCredential
	case len(in.cred.authorization)+len(in.cred.cookie) > maxCredentialBytes:
		return in, errCredentialTooLarge
	}
	return in, nil
}

// plan is the single kong.service.request.set_headers argument: the
// identity headers set (which replaces every case variant of those names)
// or cleared when the identity has no value for them, and every spoofed
// spelling cleared with an empty list.
//
// The identity's part depends only on the identity, the plan and (with a
// JWT) the signing key and the token's lifetime, so it is built once and
// memoized on the identity; the client's spoofed spellings are added to a
// copy. A cache hit thus never signs, whatever headers the client sends.
// Callers must treat the returned map as read-only (go-pdk's WrapHeaders
// only reads it).
func (p *headerPlan) plan(id *Identity, spoofed []string, now time.Time) (map[string][]string, error) {
	base, err := p.identityHeaders(id, now)
	if err != nil || len(spoofed) == 0 {
		return base, err
	}
	h := make(map[string][]string, len(base)+len(spoofed))
	for _, name := range spoofed {
		h[name] = []string{}
	}
	for name, v := range base {
		h[name] = v
	}
	return h, nil
}

// identityHeaders is the memoized identity part of plan.
func (p *headerPlan) identityHeaders(id *Identity, now time.Time) (map[string][]string, error) {
	var key *signingKey
	if p.jwt != nil {
		key = p.jwt.currentKey(now)
	}
	if m := id.planned.Load().find(p); m != nil && m.key == key && (m.reuseUntil.IsZero() || now.Before(m.reuseUntil)) {
		return m.headers, nil
	}
	h := make(map[string][]string, len(p.managed))
	h[p.userID] = []string{id.UserID}
	h[p.roles] = valueOrClear(id.rolesHeader)
	for i, e := range p.extras {
		v := ""
		if i < len(id.Extra) {
			v = id.Extra[i]
		}
		h[e.header] = valueOrClear(v)
	}
	var reuseUntil time.Time
	if p.jwt != nil {
		tok, until, err := p.jwt.mint(id, p.extras, key, now)
		if err != nil {
			return nil, err
		}
		h[p.jwt.header] = []string{tok}
		reuseUntil = until
	}
	id.remember(&plannedHeaders{plan: p, headers: h, key: key, reuseUntil: reuseUntil})
	return h, nil
}

// anonymous is the set_headers argument for a request let through without
// credentials: every managed header, in every spelling, cleared.
func (p *headerPlan) anonymous(spoofed []string) map[string][]string {
	h := make(map[string][]string, len(p.managed)+len(spoofed))
	for _, name := range spoofed {
		h[name] = []string{}
	}
	for _, name := range p.managed {
		h[name] = []string{}
	}
	return h
}

func valueOrClear(v string) []string {
	if v == "" {
		return []string{}
	}
	return []string{v}
}

// plannedHeaders memoizes the identity headers of an identity for one plan.
type plannedHeaders struct {
	plan       *headerPlan
	headers    map[string][]string
	key        *signingKey // what the token was signed with (nil: no token)
	reuseUntil time.Time   // zero: valid as long as the identity
}

// planMemo is an identity's memo: one entry per plan, newest first, at most
// maxPlansPerIdentity. Several routes (one plugin instance each) commonly
// share a cached identity; a single slot would make them take turns
// re-signing. Immutable: replaced as a whole.
type planMemo []*plannedHeaders

// maxPlansPerIdentity bounds an identity's memo; old plans (instances Kong
// has replaced) fall off the end.
const maxPlansPerIdentity = 4

func (m *planMemo) find(p *headerPlan) *plannedHeaders {
	if m == nil {
		return nil
	}
	for _, e := range *m {
		if e.plan == p {
			return e
		}
	}
	return nil
}

// remember puts e first in the identity's memo. Concurrent stores may lose
// one another's entry: that costs a later rebuild, never a wrong answer.
func (id *Identity) remember(e *plannedHeaders) {
	old := id.planned.Load()
	next := planMemo{e}
	if old != nil {
		for _, o := range *old {
			if o.plan != e.plan && len(next) < maxPlansPerIdentity {
				next = append(next, o)
			}
		}
	}
	id.planned.Store(&next)
}

// headerNameEqual compares header names as nginx's $http_* variables do:
// ASCII case-insensitive, '-' and '_' alike.
func headerNameEqual(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if foldHeaderByte(a[i]) != foldHeaderByte(b[i]) {
			return false
		}
	}
	return true
}

func foldHeaderByte(c byte) byte {
	switch {
	case c >= 'A' && c <= 'Z':
		return c + ('a' - 'A')
	case c == '_':
		return '-'
	}
	return c
}
