package plugin

import (
	"fmt"
	"sort"
	"strings"
)

// extraHeader maps one field of the auth service's answer to an upstream header.
type extraHeader struct {
	field  string // JSON field of the verify answer, e.g. "email"
	header string // upstream header, e.g. "X-User-Email"
}

// maxExtraHeaders bounds extra_headers: each is scanned on every request.
const maxExtraHeaders = 16

// sessionSettings validates cookie_names and extra_headers into s.
func (c *Config) sessionSettings(s *settings, problems []string) []string {
	seen := map[string]bool{}
	for _, name := range c.CookieNames {
		switch {
		case !isToken(name):
			problems = append(problems, fmt.Sprintf("cookie_names: %q is not a valid cookie name", name))
		case seen[name]:
			problems = append(problems, fmt.Sprintf("cookie_names: %q is listed twice", name))
		default:
			seen[name] = true
			s.cookieNames = append(s.cookieNames, name)
		}
	}

	if len(c.ExtraHeaders) > maxExtraHeaders {
		problems = append(problems, fmt.Sprintf("extra_headers: at most %d entries", maxExtraHeaders))
	}
	taken := []string{s.userIDHeader, s.userRolesHeader}
	if c.JWTHeader != "" {
		taken = append(taken, c.JWTHeader)
	}
	for field, header := range c.ExtraHeaders {
		switch {
		case field == "" || len(field) > 64:
			problems = append(problems, "extra_headers: answer field names must be 1 to 64 characters")
		case !isToken(header):
			problems = append(problems, fmt.Sprintf("extra_headers: %q is not a valid header name", header))
		case isReservedHeader(header):
			problems = append(problems, fmt.Sprintf("extra_headers: %s is reserved and cannot carry the identity", header))
		case containsHeader(taken, header):
			problems = append(problems, fmt.Sprintf("extra_headers: %s is already used by another identity header", header))
		default:
			taken = append(taken, header)
			s.extras = append(s.extras, extraHeader{field: field, header: header})
		}
	}
	sort.Slice(s.extras, func(i, j int) bool { return s.extras[i].field < s.extras[j].field })
	return problems
}

func containsHeader(names []string, name string) bool {
	for _, n := range names {
		if headerNameEqual(n, name) {
			return true
		}
	}
	return false
}

// sessionCookies returns the canonical Cookie header to forward (see
// canonical.go): only the configured cookies, in cookie_names order, each
// as its first occurrence in the client's lines (Rack keeps the first of
// a repeated name) with its value in canonical form, or "" when none is
// present, and how many bytes the client sent under the configured names
// (every occurrence: the size bound applies to what was sent). values are
// the client's Cookie header lines (nginx keeps repeats apart).
//
// A configured cookie whose first value is not an RFC 6265 cookie-value
// (it holds a comma, whitespace, a quote inside, a backslash or a control
// character) or has a broken %-escape is not forwarded, as if the client
// had not sent it: older Rack splits cookies on ',' too, so
// "s=junk,remember_user_token=X" would smuggle a second cookie to Rails.
func sessionCookies(names []string, values []string) (cookie string, rawBytes int) {
	if len(names) == 0 {
		return "", 0
	}
	found := make([]string, len(names))
	seen := make([]bool, len(names))
	for _, line := range values {
		for _, pair := range strings.Split(line, ";") {
			pair = strings.TrimSpace(pair)
			eq := strings.IndexByte(pair, '=')
			if eq <= 0 {
				continue
			}
			name, value := pair[:eq], pair[eq+1:]
			for i, want := range names {
				if name != want { // cookie names are case-sensitive
					continue
				}
				rawBytes += len(pair)
				if seen[i] {
					break
				}
				seen[i] = true
				if value != "" && isCookieValue(value) {
					if canon, ok := canonicalCookieValue(value); ok {
						found[i] = name + "=" + canon
					}
				}
				break
			}
		}
	}
	var b strings.Builder
	for i := range names {
		if found[i] == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteString("; ")
		}
		b.WriteString(found[i])
	}
	return b.String(), rawBytes
}

// isCookieValue reports whether v is an RFC 6265 cookie-value: cookie-octets
// (visible ASCII except DQUOTE, comma, semicolon and backslash), optionally
// wrapped in one pair of double quotes.
func isCookieValue(v string) bool {
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		v = v[1 : len(v)-1]
	}
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c <= 0x20, c >= 0x7f, c == '"', c == ',', c == ';', c == '\\':
			return false
		}
	}
	return true
}
