package plugin

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/legacy-auth/legacy-auth/internal/identity"
	"github.com/legacy-auth/legacy-auth/internal/sharedcache"
)

// Validation of the configuration fields of the TLS channel, the signed
// identity, sessions and the shared cache into identity.Settings: pure, no
// file read, no connection (compile does those after).

func (c *Config) jwtSettings(s *identity.Settings, problems []string) []string {
	if c.JWTHeader == "" {
		if c.JWTKeyFile != "" {
			problems = append(problems, "jwt_header: required when jwt_key_file is set")
		}
		return problems
	}
	var bad []string
	var ttl time.Duration
	ttl, bad = seconds(bad, "jwt_ttl", c.JWTTTL, DefaultJWTTTL, MinJWTTTL, MaxJWTTTL)
	problems = append(problems, bad...)
	switch {
	case !isToken(c.JWTHeader):
		problems = append(problems, "jwt_header: not a valid header name")
	case reservedHeaders[strings.ToLower(c.JWTHeader)]:
		problems = append(problems, "jwt_header: "+c.JWTHeader+" is reserved")
	case containsHeader([]string{s.UserIDHeader, s.UserRolesHeader}, c.JWTHeader):
		problems = append(problems, "jwt_header: must differ from the other identity headers")
	}
	if s.CacheTTL <= 0 {
		// A token never outlives the freshness of its identity, and with
		// caching off there is none to lend it.
		problems = append(problems, "jwt_header: needs cache_ttl > 0 (a token lives at most cache_ttl after the auth service answered)")
	}
	if c.JWTKeyFile == "" {
		return append(problems, "jwt_key_file: required when jwt_header is set")
	}
	s.JWT = &identity.JWTSigner{ // the key is read by loadFiles, after validation
		Header: c.JWTHeader, KeyFile: c.JWTKeyFile, TTL: ttl, CacheTTL: s.CacheTTL,
		Issuer: orDefault(c.JWTIssuer, DefaultJWTIssuer), Audience: c.JWTAudience,
	}
	return problems
}

// tlsSettings validates tls_* into s, without reading anything. The files
// are read when the instance is provisioned (loadFiles: a missing or bad
// file is a configuration error naming the field, not a failure of every
// request) and then followed: a replaced certificate, key or CA bundle is
// used by new connections within reloadInterval.
func (c *Config) tlsSettings(s *identity.Settings, problems []string) []string {
	t := identity.TLSSettings{Verify: c.TLSVerify == nil || *c.TLSVerify, CAFile: c.TLSCAFile, CertFile: c.TLSCertFile, KeyFile: c.TLSKeyFile}
	if s.AuthURL != nil && s.AuthURL.Scheme == "http" {
		// TLS settings on a plain-HTTP URL would do nothing: the operator
		// believes the channel is protected when it is not.
		for _, f := range []struct {
			name string
			set  bool
		}{{"tls_verify", !t.Verify}, {"tls_ca_file", t.CAFile != ""}, {"tls_cert_file", t.CertFile != ""}, {"tls_key_file", t.KeyFile != ""}} {
			if f.set {
				problems = append(problems, f.name+": set, but auth_url is http:// (no TLS); use an https:// auth_url or remove it")
			}
		}
		s.TLS = identity.TLSSettings{Verify: true}
		return problems
	}
	if !t.Verify && t.CAFile != "" {
		// The CA would be ignored and every credential sent to whichever
		// server answers.
		problems = append(problems, "tls_verify: false together with tls_ca_file, whose CA would be ignored; remove one of them")
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		problems = append(problems, "tls_cert_file: tls_cert_file and tls_key_file go together")
	}
	if t.Verify && t.CAFile == "" && t.CertFile == "" && t.KeyFile == "" {
		s.TLS = t
		return problems
	}
	t.Fingerprint = fmt.Sprintf("verify=%t\x00%s\x00%s\x00%s", t.Verify, t.CAFile, t.CertFile, t.KeyFile)
	s.TLS = t // the files are read by loadFiles, after validation
	return problems
}

// sessionSettings validates cookie_names and extra_headers into s.
func (c *Config) sessionSettings(s *identity.Settings, problems []string) []string {
	seen := map[string]bool{}
	for _, name := range c.CookieNames {
		switch {
		case !isToken(name):
			problems = append(problems, fmt.Sprintf("cookie_names: %q is not a valid cookie name", name))
		case seen[name]:
			problems = append(problems, fmt.Sprintf("cookie_names: %q is listed twice", name))
		default:
			seen[name] = true
			s.CookieNames = append(s.CookieNames, name)
		}
	}

	if len(c.ExtraHeaders) > MaxExtraHeaders {
		problems = append(problems, fmt.Sprintf("extra_headers: at most %d entries", MaxExtraHeaders))
	}
	taken := []string{s.UserIDHeader, s.UserRolesHeader}
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
			s.Extras = append(s.Extras, identity.ExtraHeader{Field: field, Header: header})
		}
	}
	sort.Slice(s.Extras, func(i, j int) bool { return s.Extras[i].Field < s.Extras[j].Field })
	return problems
}

func containsHeader(names []string, name string) bool {
	for _, n := range names {
		if identity.HeaderNameEqual(n, name) {
			return true
		}
	}
	return false
}

// sharedSettings validates the redis_* fields into s.Redis. It is pure: the
// client is created by provision (useRedis).
func (c *Config) sharedSettings(s *identity.Settings, problems []string) []string {
	if len(c.RedisAddrs) == 0 {
		return problems
	}
	ms := float64(DefaultRedisTimeoutMs)
	if c.RedisTimeout != nil {
		ms = *c.RedisTimeout
	}
	if ms < 1 || ms > MaxRedisTimeoutMs {
		return append(problems, fmt.Sprintf("redis_timeout: value should be between 1 and %d", MaxRedisTimeoutMs))
	}
	db := 0
	if c.RedisDB != nil {
		db = *c.RedisDB
	}
	opts := sharedcache.Options{
		Mode: orDefault(c.RedisMode, sharedcache.ModeStandalone), Addrs: c.RedisAddrs, MasterName: c.RedisMasterName,
		Username: c.RedisUsername, Password: c.RedisPassword, DB: db, TLS: c.RedisTLS != nil && *c.RedisTLS,
		Prefix: orDefault(c.RedisPrefix, DefaultRedisPrefix), Timeout: time.Duration(ms * float64(time.Millisecond)),
	}
	if err := sharedcache.CheckOptions(opts); err != nil {
		return append(problems, "redis_addrs: "+strings.TrimPrefix(err.Error(), "sharedcache: "))
	}
	s.Redis = &opts
	return problems
}

// Defaults and bounds of the fields validated here.
const (
	DefaultJWTTTL    = 300
	DefaultJWTIssuer = "kong-legacy-auth"
	MinJWTTTL        = 10
	MaxJWTTTL        = 86400

	DefaultRedisPrefix    = "legacy-auth:"
	DefaultRedisTimeoutMs = 50
	MaxRedisTimeoutMs     = 1000

	// MaxExtraHeaders bounds extra_headers: each is scanned on every request.
	MaxExtraHeaders = 16
)
