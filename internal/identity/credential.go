package identity

import (
	"crypto/sha256"
	"encoding/binary"
	"strings"
)

// The credential stage: reading the caller's credential from the request
// headers as Rails reads it, in one canonical form (below), and the keys
// and hashes the caches and revocations know it by.

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
	// Only readAll plans look for them; the others clear every spelling.
	spoofed []string
}

// CredentialOnly is the inspect input for a plan that does not read the
// whole list: the value of kong.request.get_header("authorization").
// nginx refuses a second Authorization line with 400 before Kong runs, and
// the read ($http_authorization) has no header-count limit, so nothing else
// is needed from it. (Only a value containing ", " makes Kong fall back to
// ngx.req.get_headers()'s first 100 lines: an Authorization line past them
// then reads as missing, which fails closed.)
func CredentialOnly(authorization string) map[string][]string {
	return map[string][]string{"authorization": {authorization}}
}

// inspect reads the credential, and for a readAll plan the spoofed
// identity headers, from kong.request.get_headers output (or
// credentialOnly's), in one pass and without allocating for requests that
// carry no spoofed header.
func (p *headerPlan) inspect(headers map[string][]string) (inspection, error) {
	var in inspection
	var found, total int
	var cookieLines []string
	for name, values := range headers {
		total += len(values)
		switch {
		case HeaderNameEqual(name, "authorization"):
			for _, v := range values {
				found++
				in.cred.authorization = v
			}
		case len(p.cookies) > 0 && HeaderNameEqual(name, "cookie"):
			cookieLines = values
		case !p.readAll:
			// clears removes every spelling without looking.
		default:
			for _, m := range p.managed {
				if HeaderNameEqual(name, m) && !strings.EqualFold(name, m) {
					in.spoofed = append(in.spoofed, name)
					break
				}
			}
		}
	}
	if p.readAll && total >= MaxRequestHeaders {
		// Kong truncated the list: a spoofed header could hide past the end.
		return in, ErrTooManyHeaders
	}
	in.cred.authorization = strings.TrimSpace(in.cred.authorization)
	cookie, rawCookie := sessionCookies(p.cookies, cookieLines)
	in.cred.cookie = cookie
	switch {
	case found > 1:
		return in, ErrMultipleCredentials
	case in.cred.authorization == "" && in.cred.cookie == "":
		return in, ErrMissingCredential
	case len(in.cred.authorization)+max(rawCookie, len(cookie)) > maxCredentialBytes:
		return in, ErrCredentialTooLarge
	}
	if in.cred.authorization != "" {
		// One credential, one form: keyed, hashed and forwarded as Rails
		// reads it (below).
		canon, ok := canonicalAuthorization(in.cred.authorization)
		if !ok {
			return in, ErrUnreadableCredential
		}
		in.cred.authorization = canon
	}
	return in, nil
}

// sessionCookies returns the canonical Cookie header to forward (see
// below): only the configured cookies, in cookie_names order, each
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

// credentialKey is the cache key of a credential in a scope:
// scope ‖ SHA-256(encoding), where the encoding names each part (kind and
// length before the bytes), so that "Authorization: s=S" and
// "Cookie: s=S" or two splits of one string never hash alike. The raw
// credential is never a key and never stored.
func credentialKey(sc scope, c credential) string {
	var buf [2048]byte
	b := buf[:0] // no heap copy for ordinary credentials, JWT access tokens (about 1 KiB) included
	b = appendPart(b, 'A', c.authorization)
	b = appendPart(b, 'C', c.cookie)
	sum := sha256.Sum256(b)
	var k [scopeLen + sha256.Size]byte
	copy(k[:scopeLen], sc.id)
	copy(k[scopeLen:], sum[:])
	return string(k[:])
}

func appendPart(b []byte, kind byte, v string) []byte {
	b = append(b, kind)
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

// credentialParts are the SHA-256 hashes a revocation may name for c: the
// Authorization value exactly as sent, and each forwarded session cookie as
// "name=value". A revocation of any part drops every entry whose
// credential contains it (a token cached together with a session cookie
// included).
func credentialParts(c credential) [][sha256.Size]byte {
	var parts [][sha256.Size]byte
	if c.authorization != "" {
		parts = append(parts, sha256.Sum256([]byte(c.authorization)))
	}
	if c.cookie != "" {
		for _, pair := range strings.Split(c.cookie, "; ") {
			parts = append(parts, sha256.Sum256([]byte(pair)))
		}
	}
	return parts
}

// The canonical credential. Rails reads one token in many spellings
// (ActionController::HttpAuthentication::Token, behind
// authenticate_with_http_token: "Bearer X", "Bearer  X", "Bearer\tX",
// "Bearer X, x=1", "Token X", `Token token="X"`) and Rack percent-decodes
// cookie values ("%44" is "D"). Were each spelling its own cache key, a
// stolen token could be warmed in many spellings and a revocation naming
// one would leave the others working. So the plugin reads the credential
// as Rails does and keys, hashes (credential_sha256) and forwards one
// canonical form:
//
//	Authorization: Bearer <token>            the token Rails would read
//	Cookie:        name=<escaped value>; ...  configured names, in cookie_names
//	                                          order, first occurrence of each,
//	                                          value = Rack::Utils.escape(Rack's
//	                                          unescape of what the client sent)
//
// Rails reads the canonical form back as the same token and the same
// cookie values, so forwarding it changes nothing for Rails. A credential
// it cannot read the same way (another scheme, an empty token, a token
// whose canonical form Rails would read differently) is refused with 401
// without calling Rails; a cookie value with a broken escape is dropped as
// if absent. examples/rails (LegacyAuthVerify::Credential) computes the
// same forms, and test/fixtures/canonical.json is checked by both sides.

// rubySpace is Ruby's \s (space, \t, \n, \v, \f, \r); rubyStrip adds NUL,
// as String#strip does.
const (
	rubySpace = " \t\n\v\f\r"
	rubyStrip = rubySpace + "\x00"
	tokenKey  = "token="
	// canonicalScheme starts the canonical Authorization value.
	canonicalScheme = "Bearer "
)

// canonicalAuthorization returns "Bearer <token>" for an Authorization
// value Rails' token parser reads as <token>, or ok false. The scheme is
// matched case-insensitively (RFC 7235; Rails 6.1 itself is
// case-sensitive, and receives "Bearer").
func canonicalAuthorization(v string) (string, bool) {
	tok, ok := railsToken(v, true)
	if !ok {
		return "", false
	}
	canon := v // already canonical: no copy on the hot path
	if len(v) != len(canonicalScheme)+len(tok) || !strings.HasPrefix(v, canonicalScheme) || v[len(canonicalScheme):] != tok {
		canon = canonicalScheme + tok
	}
	// Rails must read the canonical form as the same token: a token that
	// starts with "token=" or with a quote would not be.
	if back, ok := railsToken(canon, false); !ok || back != tok {
		return "", false
	}
	return canon, true
}

// railsToken is ActionController::HttpAuthentication::Token.token_and_options
// (actionpack 6.1) reduced to the token: the scheme Token or Bearer and
// whitespace; the rest split on ',', ';' and '\t', each part stripped,
// empty parts dropped; the first part, prefixed with "token=" unless it
// has it, split at its first '='; one leading and one trailing '"'
// removed. An empty token is not a token.
func railsToken(v string, foldScheme bool) (string, bool) {
	rest, ok := cutScheme(v, foldScheme)
	if !ok {
		return "", false
	}
	first := ""
	for rest != "" {
		i := strings.IndexAny(rest, ",;\t")
		part := rest
		if i >= 0 {
			part, rest = rest[:i], rest[i+1:]
		} else {
			rest = ""
		}
		if part = strings.Trim(part, rubyStrip); part != "" {
			first = part
			break
		}
	}
	// Rails prefixes "token=" when the part lacks it, then takes what
	// follows the first '=': the part itself, or what follows "token=".
	tok := first
	if strings.HasPrefix(first, tokenKey) {
		tok = first[len(tokenKey):]
	}
	tok = strings.TrimPrefix(tok, `"`)
	tok = strings.TrimSuffix(tok, `"`)
	if tok == "" {
		return "", false
	}
	return tok, true
}

// cutScheme removes /^(Token|Bearer)\s+/ from v.
func cutScheme(v string, fold bool) (string, bool) {
	for _, scheme := range [...]string{"Bearer", "Token"} {
		if len(v) <= len(scheme) {
			continue
		}
		head := v[:len(scheme)]
		if head != scheme && !(fold && strings.EqualFold(head, scheme)) {
			continue
		}
		rest := v[len(scheme):]
		trimmed := strings.TrimLeft(rest, rubySpace)
		if len(trimmed) == len(rest) {
			continue // no whitespace after the scheme
		}
		return trimmed, true
	}
	return "", false
}

// canonicalCookieValue is Rack::Utils.escape(Rack::Utils.unescape(v)):
// Rack 2.2 reads a cookie value with URI.decode_www_form_component ('+' is
// a space, %XX a byte) and Rails writes its cookies with
// URI.encode_www_form_component, so a cookie Rails set is its own
// canonical form. ok is false when v has a broken escape (Rack would keep
// it raw: no form to share with it).
func canonicalCookieValue(v string) (string, bool) {
	var b strings.Builder
	b.Grow(len(v) + 8)
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '+':
			c = ' '
		case c == '%':
			if i+2 >= len(v) || !isHex(v[i+1]) || !isHex(v[i+2]) {
				return "", false
			}
			c = unhex(v[i+1])<<4 | unhex(v[i+2])
			i += 2
		}
		appendFormByte(&b, c)
	}
	return b.String(), true
}

// appendFormByte writes c as URI.encode_www_form_component does: *-._ and
// alphanumerics as is, space as '+', anything else as %XX (upper case).
func appendFormByte(b *strings.Builder, c byte) {
	const hexDigits = "0123456789ABCDEF"
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '*', c == '-', c == '.', c == '_':
		b.WriteByte(c)
	case c == ' ':
		b.WriteByte('+')
	default:
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func unhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}
