package identity

import (
	"strings"
	"time"
)

const (
	// MaxRequestHeaders is what the plugin asks kong.request.get_headers for:
	// Kong's upper bound (kong/pdk/request.lua MAX_HEADERS). The default of
	// 100 would let a client hide a spoofed identity header behind 100 others.
	MaxRequestHeaders = 1000
	// maxCredentialBytes: a longer credential (Authorization header plus
	// session cookies) is refused without calling the auth service.
	maxCredentialBytes = 8 << 10
	// maxNameSeparators bounds the '-'/'_' spellings cleared per managed
	// header: a name with n separators has 2^n of them, so 4 gives at most
	// 16 (X-User-ID, with 2, has 4). A name with more makes the plan read
	// the whole header list instead (readAll), where the client's spellings
	// are seen.
	maxNameSeparators = 4
)

// headerPlan is how one configuration reads credentials and writes
// identity headers. It is built once per instance and compared by pointer.
type headerPlan struct {
	userID string // as configured, e.g. X-User-ID
	roles  string
	extras []ExtraHeader
	// slots are the extra headers in the order of an Identity's Extra:
	// extra_headers' (Rails answer fields), then the issuers' claim_headers
	// not among them (headerSlots).
	slots   []string
	jwt     *JWTSigner // nil when off
	cookies []string   // session cookie names
	managed []string   // every header name the plugin owns
	// readAll: the credential is read with kong.request.get_headers (the
	// whole list, up to MaxRequestHeaders) instead of
	// kong.request.get_header("authorization"). Needed for session cookies
	// (a second get_header would be a third PDK call) and for a managed
	// name with more than maxNameSeparators separators (its spellings are
	// found in the list rather than cleared blindly).
	readAll bool
	// clears are every '-'/'_' spelling of every managed name other than
	// the configured one, each cleared in the same set_headers call that
	// sets the identity: nginx's set_input_header matches names
	// case-insensitively but tells '-' from '_', so this removes a client's
	// X_User_ID wherever it is in the request, without reading the request.
	// The configured spellings are not in it: Kong applies set_headers in
	// pairs() order, and a clear matching the name being set could run
	// after the set. nil when readAll.
	clears []string
}

func newHeaderPlan(s Settings) *headerPlan {
	p := &headerPlan{userID: s.UserIDHeader, roles: s.UserRolesHeader, extras: s.Extras, jwt: s.JWT, cookies: s.CookieNames}
	p.slots = headerSlots(s)
	p.managed = append([]string{p.userID, p.roles}, p.slots...)
	if p.jwt != nil {
		p.managed = append(p.managed, p.jwt.Header)
	}
	p.readAll = len(p.cookies) > 0
	for _, name := range p.managed {
		if strings.Count(name, "-")+strings.Count(name, "_") > maxNameSeparators {
			p.readAll = true
		}
	}
	if !p.readAll {
		for _, name := range p.managed {
			p.clears = append(p.clears, otherSpellings(name)...)
		}
	}
	return p
}

// headerSlots are the extra headers an identity may carry, in the order
// of its Extra values: extra_headers' headers (a Rails answer fills these,
// by field), then the issuers' claim_headers headers not among them. A
// claim mapped to the same header as an answer field fills the same slot:
// the upstream sees one header whichever source answered.
func headerSlots(s Settings) []string {
	out := make([]string, 0, len(s.Extras))
	for _, e := range s.Extras {
		out = append(out, e.Header)
	}
	for _, is := range s.Issuers {
		for _, c := range is.ClaimHeaders {
			if !containsHeaderName(out, c.Header) {
				out = append(out, c.Header)
			}
		}
	}
	return out
}

func containsHeaderName(names []string, name string) bool {
	for _, n := range names {
		if HeaderNameEqual(n, name) {
			return true
		}
	}
	return false
}

// otherSpellings returns name with each '-'/'_' combination other than its
// own: X_User-ID, X-User_ID and X_User_ID for X-User-ID. Case is left as
// is: nginx matches case-insensitively.
func otherSpellings(name string) []string {
	var seps []int
	for i := 0; i < len(name); i++ {
		if name[i] == '-' || name[i] == '_' {
			seps = append(seps, i)
		}
	}
	out := make([]string, 0, 1<<len(seps)-1)
	b := []byte(name)
	for mask := 0; mask < 1<<len(seps); mask++ {
		for j, i := range seps {
			if mask&(1<<j) != 0 {
				b[i] = '_'
			} else {
				b[i] = '-'
			}
		}
		if s := string(b); s != name {
			out = append(out, s)
		}
	}
	return out
}

// plan is the single kong.service.request.set_headers argument: the
// identity headers set (which replaces every case variant of those names)
// or cleared when the identity has no value for them, and every other
// spelling (clears, or the spoofed ones found) cleared with an empty list.
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
	h := make(map[string][]string, len(p.managed)+len(p.clears))
	for _, name := range p.clears {
		h[name] = []string{}
	}
	h[p.userID] = []string{id.UserID}
	h[p.roles] = valueOrClear(id.rolesHeader)
	for i, name := range p.slots {
		v := ""
		if i < len(id.Extra) {
			v = id.Extra[i]
		}
		h[name] = valueOrClear(v)
	}
	var reuseUntil time.Time
	if p.jwt != nil {
		tok, until, err := p.jwt.mint(id, p.extras, key, now)
		if err != nil {
			return nil, err
		}
		h[p.jwt.Header] = []string{tok}
		reuseUntil = until
	}
	id.remember(&plannedHeaders{plan: p, headers: h, key: key, reuseUntil: reuseUntil})
	return h, nil
}

// anonymous is the set_headers argument for a request let through without
// credentials: every managed header, in every spelling, cleared.
func (p *headerPlan) anonymous(spoofed []string) map[string][]string {
	h := make(map[string][]string, len(p.managed)+len(p.clears)+len(spoofed))
	for _, name := range spoofed {
		h[name] = []string{}
	}
	for _, name := range p.clears {
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

// HeaderNameEqual compares header names as nginx's $http_* variables do:
// ASCII case-insensitive, '-' and '_' alike.
func HeaderNameEqual(a, b string) bool {
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
