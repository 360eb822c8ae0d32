package plugin

import (
	"strings"
)

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
	canon := "Bearer " + tok
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
	if !strings.HasPrefix(first, tokenKey) {
		first = tokenKey + first
	}
	tok := first[len(tokenKey):]
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
