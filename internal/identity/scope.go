package identity

import (
	"crypto/sha256"
	"net/url"
	"strconv"
	"strings"
)

// scope names everything that changes how an answer of the auth service is
// obtained or how far it is trusted: the method, the URL, the TLS trust and
// client certificate, and the answer fields read into extra headers. Cached
// identities and rejections, in-flight calls, breakers and Redis entries are
// shared only between configurations of one scope; policy (cache_ttl,
// stale_if_error, negative_ttl) is not part of it, because every request
// applies its own route's policy to a shared answer.
//
// TLS files are named by path, not content: rotating a certificate keeps the
// scope (and the cache); pointing a route at another CA makes a new one.
type scope struct {
	id   string // scopeLen bytes of SHA-256 over the material: the key prefix
	name string // the auth URL without userinfo, query or fragment: safe to log
}

// scopeLen is how many bytes of the scope hash prefix a cache key.
const scopeLen = 16

func newScope(s Settings) scope {
	h := sha256.New()
	field := func(v string) { // length-prefixed, so no two lists of fields collide
		h.Write([]byte(strconv.Itoa(len(v))))
		h.Write([]byte{':'})
		h.Write([]byte(v))
	}
	field("legacy-auth scope v2")
	field(s.AuthMethod)
	field(s.AuthURL.String())
	field(strconv.FormatBool(s.TLS.Verify))
	field(s.TLS.CAFile)
	field(s.TLS.CertFile)
	field(s.TLS.KeyFile)
	field(strconv.Itoa(len(s.Extras)))
	for _, e := range s.Extras {
		field(e.Field)
	}
	if len(s.Issuers) > 0 || s.ProviderOnly {
		// The issuers change what an identity is and where it comes from;
		// a configuration without them keeps the scope it always had.
		field("issuers")
		field(strconv.FormatBool(s.ProviderOnly))
		for _, h := range headerSlots(s) {
			field(h)
		}
		for _, is := range s.Issuers {
			field(is.Issuer)
			field(is.JWKSURI)
			field(strings.Join(is.Audiences, "\x00"))
			field(strings.Join(is.Algorithms, ","))
			field(is.UserIDClaim)
			field(is.RolesClaim)
			field(is.ClockSkew.String())
			for _, c := range is.ClaimHeaders {
				field(c.Claim)
				field(c.Header)
			}
		}
	}
	return scope{id: string(h.Sum(nil)[:scopeLen]), name: redactURL(s.AuthURL)}
}

// redactURL is u as logs and metric labels may show it: scheme, host and
// path only. Userinfo and query strings (?api_key=...) carry secrets.
func redactURL(u *url.URL) string {
	if u == nil {
		return ""
	}
	r := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawPath: u.RawPath}
	return r.String()
}
