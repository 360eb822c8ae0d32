package plugin

import "strings"

const (
	// maxRequestHeaders is what the plugin asks kong.request.get_headers for:
	// Kong's upper bound (kong/pdk/request.lua MAX_HEADERS). The default of
	// 100 would let a client hide a spoofed identity header behind 100 others.
	maxRequestHeaders = 1000
	// maxCredentialBytes: a longer Authorization header is refused without
	// calling the auth service.
	maxCredentialBytes = 8 << 10
)

// inspection is what access needs from the client's request headers.
type inspection struct {
	credential string
	// spoofed are the client's header names (as Kong reported them) that
	// fold to a managed identity header but are spelled differently:
	// X_User_ID for X-User-ID. set_headers under the managed name would not
	// touch them (nginx's set_input_header matches case-insensitively but
	// not '-' against '_'), so they are cleared under their own spelling.
	spoofed []string
}

// headerPlan holds the identity header names of one configuration.
type headerPlan struct {
	userID string // as configured, e.g. X-User-ID
	roles  string
}

// inspect reads the credential and the spoofed identity headers from
// kong.request.get_headers output, in one pass and without allocating for
// requests that carry no spoofed header.
func (p headerPlan) inspect(headers map[string][]string) (inspection, error) {
	var in inspection
	var found, total int
	for name, values := range headers {
		total += len(values)
		switch {
		case headerNameEqual(name, "authorization"):
			for _, v := range values {
				found++
				in.credential = v
			}
		case headerNameEqual(name, p.userID) && !strings.EqualFold(name, p.userID),
			headerNameEqual(name, p.roles) && !strings.EqualFold(name, p.roles):
			in.spoofed = append(in.spoofed, name)
		}
	}
	if total >= maxRequestHeaders {
		// Kong truncated the list: a spoofed header could hide past the end.
		return in, errTooManyHeaders
	}
	in.credential = strings.TrimSpace(in.credential)
	switch {
	case found > 1:
		return in, errMultipleCredentials
	case in.credential == "":
		return in, errMissingCredential
	case len(in.credential) > maxCredentialBytes:
		return in, errCredentialTooLarge
	}
	return in, nil
}

// plan is the single kong.service.request.set_headers argument: the
// identity headers set (which replaces every case variant of those names)
// or cleared when the user has no roles, and every spoofed spelling cleared
// with an empty list.
//
// Without spoofed headers (nearly every request) the map depends only on
// the identity and the header names, so it is built once per cached
// identity and shared: callers must treat it as read-only (go-pdk's
// WrapHeaders only reads it).
func (p headerPlan) plan(id *Identity, spoofed []string) map[string][]string {
	if len(spoofed) == 0 {
		if m := id.planned.Load(); m != nil && m.plan == p {
			return m.headers
		}
		h := p.build(id, nil)
		id.planned.Store(&plannedHeaders{plan: p, headers: h})
		return h
	}
	return p.build(id, spoofed)
}

func (p headerPlan) build(id *Identity, spoofed []string) map[string][]string {
	h := make(map[string][]string, 2+len(spoofed))
	for _, name := range spoofed {
		h[name] = []string{}
	}
	h[p.userID] = []string{id.UserID}
	if id.rolesHeader != "" {
		h[p.roles] = []string{id.rolesHeader}
	} else {
		h[p.roles] = []string{}
	}
	return h
}

// plannedHeaders memoizes the set_headers map of an identity for one plan.
type plannedHeaders struct {
	plan    headerPlan
	headers map[string][]string
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
