package plugin

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/legacy-auth/legacy-auth/internal/identity"
)

// Defaults of the configuration fields. They are declared once here and used
// both by the -dump schema (so Kong fills them in) and by compile (so a Kong
// that runs without the rich schema, or a JSON null, still gets them).
const (
	DefaultAuthMethod      = "POST"
	DefaultTimeoutMs       = 2000
	DefaultCacheTTLSeconds = 300
	DefaultUserIDHeader    = "X-User-ID"
	DefaultUserRolesHeader = "X-User-Roles"

	DefaultStaleIfErrorSeconds = 3600
	DefaultNegativeTTLSeconds  = 5
	DefaultCacheMaxEntries     = 100000
	DefaultRetries             = 1
	DefaultCoalesce            = true
	DefaultBreakerThreshold    = 5
	DefaultBreakerCooldown     = 10
	DefaultMaxConcurrentCalls  = 64

	// MaxStaleIfErrorSeconds bounds stale_if_error (7 days).
	MaxStaleIfErrorSeconds = 7 * 24 * 3600
	// MaxNegativeTTLSeconds bounds negative_ttl (1 hour).
	MaxNegativeTTLSeconds = 3600
	// MaxCacheMaxEntries bounds cache_max_entries.
	MaxCacheMaxEntries = 10000000
	// MaxRetries bounds retries: each one spends the same timeout budget.
	MaxRetries = 5
	// MaxBreakerThreshold bounds breaker_threshold.
	MaxBreakerThreshold = 1000
	// MaxBreakerCooldown bounds breaker_cooldown, in seconds.
	MaxBreakerCooldown = 3600
	// MaxMaxConcurrentCalls bounds max_concurrent_calls.
	MaxMaxConcurrentCalls = 10000

	// MaxTimeoutMs bounds timeout: an access-phase call that blocks a Kong
	// worker's request for longer than a minute is a misconfiguration.
	MaxTimeoutMs = 60000
	// MaxCacheTTLSeconds bounds cache_ttl (30 days).
	MaxCacheTTLSeconds = 30 * 24 * 3600
)

// Config is the legacy-auth plugin configuration: one value per plugin
// instance, decoded by go-pdk from the JSON Kong sends in cmd_start_instance.
// Field names and meaning are those of the Lua kong-legacy-auth schema, so a
// deck file written for it works unchanged.
//
// Config is also the go-pdk handler: Access is its only phase (implementing
// Response would make Kong buffer every proxied response).
type Config struct {
	// AuthURL is the Rails verify endpoint (http or https). Required.
	AuthURL string `json:"auth_url"`
	// AuthMethod is the HTTP method of the verify call: GET or POST. Default: POST.
	AuthMethod string `json:"auth_method"`
	// Timeout of the whole verify call, in milliseconds (1..60000). Default: 2000.
	// A pointer, so that "unset" (null) and a value are told apart.
	Timeout *float64 `json:"timeout"`
	// CacheTTL is how long a verified identity is served from the cache, in
	// seconds (0..2592000). 0 disables caching. Default: 300. A pointer, so
	// that unset (default 300) is not confused with 0 (caching off).
	CacheTTL *float64 `json:"cache_ttl"`
	// UserIDHeader is the upstream header that carries the user id. Default: X-User-ID.
	UserIDHeader string `json:"user_id_header"`
	// UserRolesHeader is the upstream header that carries the comma-joined
	// roles. Default: X-User-Roles.
	UserRolesHeader string `json:"user_roles_header"`

	// StaleIfError is how long past cache_ttl a cached identity may still be
	// served while the auth service fails (connection error, timeout, 5xx,
	// open breaker), in seconds (0..604800). 0 disables. Default: 3600.
	// Trade-off: a token revoked in Rails keeps working during an outage for
	// up to cache_ttl + stale_if_error.
	StaleIfError *float64 `json:"stale_if_error"`
	// NegativeTTL is how long a 401/403 answer is cached, in seconds
	// (0..3600), so a flood of bad tokens does not reach Rails. 0 disables.
	// Default: 5.
	NegativeTTL *float64 `json:"negative_ttl"`
	// CacheMaxEntries bounds each of the process-wide caches (identities,
	// rejections); when full, new answers are not cached. Default: 100000.
	CacheMaxEntries *int `json:"cache_max_entries"`
	// Retries is how many times a verify call is retried on a connection
	// error or 502/503/504, inside the same timeout (0..5). Default: 1.
	Retries *int `json:"retries"`
	// Coalesce makes concurrent cache misses for one credential share a
	// single verify call. Default: true.
	Coalesce *bool `json:"coalesce"`
	// BreakerThreshold is the number of consecutive auth-service failures
	// that opens the circuit breaker of auth_url (0..1000); 0 disables it.
	// Default: 5.
	BreakerThreshold *int `json:"breaker_threshold"`
	// BreakerCooldown is how long the breaker stays open before letting one
	// probe through, in seconds (1..3600). Default: 10.
	BreakerCooldown *float64 `json:"breaker_cooldown"`
	// MaxConcurrentCalls caps the verify calls in flight per auth scope on
	// a node (0..10000): admission control learns a limit below it from the
	// calls' latency, queues briefly and refuses (503 with Retry-After,
	// Rails not called) a call that could not be answered in time; 0
	// disables it. Default: 64.
	MaxConcurrentCalls *int `json:"max_concurrent_calls"`

	// CookieNames are session cookies (e.g. _myapp_session) accepted as
	// credentials beside Authorization. Only these cookies are forwarded to
	// the auth service, never the client's others. Default: none.
	CookieNames []string `json:"cookie_names"`
	// ExtraHeaders maps fields of the auth service's JSON answer to upstream
	// headers, e.g. {"email": "X-User-Email"}. Default: none.
	ExtraHeaders map[string]string `json:"extra_headers"`
	// ACLGroups hands the user's roles to Kong's ACL plugin as
	// kong.ctx.shared.authenticated_groups (one more PDK call per request).
	// Default: false.
	ACLGroups *bool `json:"acl_groups"`
	// AllowAnonymous lets requests without any credential through, without
	// identity headers (client-sent ones are still removed). Default: false.
	AllowAnonymous *bool `json:"allow_anonymous"`
	// TLSVerify checks the auth service's certificate on https. Default: true.
	TLSVerify *bool `json:"tls_verify"`
	// TLSCAFile is a PEM bundle of CAs trusted for the auth service, instead
	// of the system pool. Default: none.
	TLSCAFile string `json:"tls_ca_file"`
	// TLSCertFile and TLSKeyFile are a PEM client certificate and key for
	// mutual TLS with the auth service. Default: none.
	TLSCertFile string `json:"tls_cert_file"`
	TLSKeyFile  string `json:"tls_key_file"`
	// JWTHeader, when set, is the upstream header that carries a signed
	// token (JWT) of the identity, so services can verify it came from the
	// gateway. Default: none (off).
	JWTHeader string `json:"jwt_header"`
	// JWTKeyFile is the PEM private key that signs it: Ed25519 (EdDSA),
	// ECDSA P-256 (ES256) or RSA >= 2048 bits (RS256).
	JWTKeyFile string `json:"jwt_key_file"`
	// JWTTTL is the token lifetime in seconds (10..86400). Default: 300.
	JWTTTL *float64 `json:"jwt_ttl"`
	// JWTIssuer is the iss claim. Default: kong-legacy-auth.
	JWTIssuer string `json:"jwt_issuer"`
	// JWTAudience is the aud claim. Default: none.
	JWTAudience string `json:"jwt_audience"`

	// JWTIssuers are the identity providers whose JWT access tokens the
	// plugin verifies itself (the migration bridge): a Bearer JWT whose iss
	// is one of them never reaches Rails. Default: none.
	JWTIssuers []IssuerConfig `json:"jwt_issuers"`
	// LegacyFallback sends every credential that is not a configured
	// issuer's JWT to Rails; false refuses it (401) without calling Rails.
	// Default: true.
	LegacyFallback *bool `json:"legacy_fallback"`
	// KongCredential presents each identity to Kong with
	// kong.client.authenticate (credential id "legacy:<user id>" or
	// "provider:<user id>"), for rate-limiting by credential and the log
	// plugins; one more PDK call per request. Default: false.
	KongCredential *bool `json:"kong_credential"`

	// RedisAddrs turns on the shared second-level cache and cluster-wide
	// revocation: host:port of the Redis server (standalone), of the
	// sentinels (sentinel) or of seed nodes (cluster). Default: none (off).
	RedisAddrs []string `json:"redis_addrs"`
	// RedisMode is standalone, sentinel or cluster. Default: standalone.
	RedisMode string `json:"redis_mode"`
	// RedisMasterName is the sentinel master name (sentinel mode).
	RedisMasterName string `json:"redis_master_name"`
	// RedisUsername and RedisPassword authenticate to Redis.
	RedisUsername string `json:"redis_username"`
	RedisPassword string `json:"redis_password"`
	// RedisDB is the logical database (0 in cluster mode). Default: 0.
	RedisDB *int `json:"redis_db"`
	// RedisTLS connects with TLS. Default: false.
	RedisTLS *bool `json:"redis_tls"`
	// RedisPrefix starts every key and the revocation channel.
	// Default: legacy-auth:.
	RedisPrefix string `json:"redis_prefix"`
	// RedisTimeout bounds each Redis step, in milliseconds (1..1000): Redis
	// trouble never holds a request longer. Default: 50.
	RedisTimeout *float64 `json:"redis_timeout"`

	// PluginID is Kong's id of the plugin entity (__plugin_id, set by
	// kong/runloop/plugins_iterator.lua): each plugin entity gets its own
	// bounded cache partition.
	PluginID string `json:"-"`

	// decodeProblems are the fields whose JSON value had the wrong type.
	// UnmarshalJSON records them instead of failing, so that the instance
	// still starts and answers 500 with a log line naming the field, rather
	// than go-pdk failing cmd_start_instance with an opaque error.
	decodeProblems []string

	// compiled is the engine once built: the hot path's one atomic load.
	compiled atomic.Pointer[identity.Engine]
	// mu guards the rest, which only requests of a not (yet) compiled
	// instance touch.
	mu sync.Mutex
	// invalid is a permanent failure: validation or provisioning.
	invalid error
	// valid are the validated settings while their files do not load.
	valid *identity.Settings
	// files retries loading the key and certificate files.
	files fileRetry
}

// New returns an empty Config. go-pdk calls it once to learn the config type
// and once per plugin instance, so it has no side effects.
func New() interface{} { return &Config{} }

// configFields maps each JSON field to the Config member it fills: the one
// list UnmarshalJSON walks, so a new field is added in exactly one place here.
func (c *Config) configFields() map[string]any {
	return map[string]any{
		"auth_url":             &c.AuthURL,
		"auth_method":          &c.AuthMethod,
		"timeout":              &c.Timeout,
		"cache_ttl":            &c.CacheTTL,
		"user_id_header":       &c.UserIDHeader,
		"user_roles_header":    &c.UserRolesHeader,
		"stale_if_error":       &c.StaleIfError,
		"negative_ttl":         &c.NegativeTTL,
		"cache_max_entries":    &c.CacheMaxEntries,
		"retries":              &c.Retries,
		"coalesce":             &c.Coalesce,
		"breaker_threshold":    &c.BreakerThreshold,
		"max_concurrent_calls": &c.MaxConcurrentCalls,
		"breaker_cooldown":     &c.BreakerCooldown,
		"cookie_names":         &c.CookieNames,
		"extra_headers":        &c.ExtraHeaders,
		"acl_groups":           &c.ACLGroups,
		"allow_anonymous":      &c.AllowAnonymous,
		"tls_verify":           &c.TLSVerify,
		"tls_ca_file":          &c.TLSCAFile,
		"tls_cert_file":        &c.TLSCertFile,
		"tls_key_file":         &c.TLSKeyFile,
		"jwt_header":           &c.JWTHeader,
		"jwt_key_file":         &c.JWTKeyFile,
		"jwt_ttl":              &c.JWTTTL,
		"jwt_issuer":           &c.JWTIssuer,
		"jwt_audience":         &c.JWTAudience,
		"jwt_issuers":          &c.JWTIssuers,
		"legacy_fallback":      &c.LegacyFallback,
		"kong_credential":      &c.KongCredential,
		"redis_addrs":          &c.RedisAddrs,
		"redis_mode":           &c.RedisMode,
		"redis_master_name":    &c.RedisMasterName,
		"redis_username":       &c.RedisUsername,
		"redis_password":       &c.RedisPassword,
		"redis_db":             &c.RedisDB,
		"redis_tls":            &c.RedisTLS,
		"redis_prefix":         &c.RedisPrefix,
		"redis_timeout":        &c.RedisTimeout,
	}
}

// UnmarshalJSON decodes field by field and never fails: a field of the wrong
// type is remembered and reported by compile. Unknown keys (Kong adds
// __seq__, __plugin_id, route_id, ...) are ignored.
func (c *Config) UnmarshalJSON(b []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		c.decodeProblems = append(c.decodeProblems, "config: not a JSON object")
		return nil
	}
	if v, ok := raw["__plugin_id"]; ok {
		_ = json.Unmarshal(v, &c.PluginID) // an id of another type: no partition of its own
	}
	for name, dst := range c.configFields() {
		v, ok := raw[name]
		if !ok {
			continue
		}
		if string(bytes.TrimSpace(v)) == "{}" {
			// Lua's cjson encodes an empty table as {}, whether it was an
			// empty array or an empty map: both mean "none" here.
			continue
		}
		if err := json.Unmarshal(v, dst); err != nil {
			c.decodeProblems = append(c.decodeProblems, fmt.Sprintf("%s: wrong type (%s)", name, jsonKind(v)))
		}
	}
	return nil
}

func jsonKind(v json.RawMessage) string {
	s := strings.TrimSpace(string(v))
	switch {
	case s == "":
		return "empty"
	case s[0] == '"':
		return "got a string"
	case s[0] == '{':
		return "got an object"
	case s[0] == '[':
		return "got an array"
	case s == "true" || s == "false":
		return "got a boolean"
	default:
		return "got a number"
	}
}

// reservedHeaders may not be used as identity headers: overwriting them
// would break the proxied request or forward the client's credential, and
// Kong's nginx template (kong/templates/nginx_kong.lua) sets the second
// group with proxy_set_header after the access phase, so an identity
// written there would never reach the service as written (with
// X-Forwarded-Host, the client's Host header would become the identity).
var reservedHeaders = map[string]bool{
	"authorization": true, "proxy-authorization": true, "host": true, "cookie": true,
	"content-length": true, "content-type": true, "transfer-encoding": true,
	"connection": true, "te": true, "upgrade": true, "keep-alive": true, "trailer": true,

	"via": true, "x-forwarded-for": true, "x-forwarded-proto": true, "x-forwarded-host": true,
	"x-forwarded-port": true, "x-forwarded-path": true, "x-forwarded-prefix": true,
	"x-real-ip": true, "x-kong-request-id": true,
}

// isReservedHeader reports whether name is reserved in any spelling nginx
// treats alike (case, '-' or '_').
func isReservedHeader(name string) bool {
	for r := range reservedHeaders {
		if identity.HeaderNameEqual(r, name) {
			return true
		}
	}
	return false
}

// settings applies the defaults (also for JSON null) and validates, reporting
// every problem at once.
func (c *Config) settings() (identity.Settings, error) {
	problems := append([]string(nil), c.decodeProblems...)
	s := identity.Settings{
		AuthMethod:      orDefault(c.AuthMethod, DefaultAuthMethod),
		UserIDHeader:    orDefault(c.UserIDHeader, DefaultUserIDHeader),
		UserRolesHeader: orDefault(c.UserRolesHeader, DefaultUserRolesHeader),
	}

	switch {
	case c.AuthURL == "":
		problems = append(problems, "auth_url: required field missing")
	default:
		u, err := url.Parse(c.AuthURL)
		switch {
		case err != nil:
			problems = append(problems, "auth_url: not a valid URL")
		case u.Scheme != "http" && u.Scheme != "https":
			problems = append(problems, "auth_url: scheme must be http or https")
		case u.Host == "":
			problems = append(problems, "auth_url: missing host")
		case u.User != nil:
			// Go's client would send it as Authorization: Basic on
			// cookie-only requests: the gateway's secret in place of the
			// client's credential.
			problems = append(problems, "auth_url: must not carry userinfo (user:password@)")
		default:
			s.AuthURL = u
		}
	}

	if s.AuthMethod != "GET" && s.AuthMethod != "POST" {
		problems = append(problems, "auth_method: expected one of: GET, POST")
	}

	timeoutMs := float64(DefaultTimeoutMs)
	if c.Timeout != nil {
		timeoutMs = *c.Timeout
	}
	if timeoutMs < 1 || timeoutMs > MaxTimeoutMs {
		problems = append(problems, fmt.Sprintf("timeout: value should be between 1 and %d", MaxTimeoutMs))
	}
	s.Timeout = time.Duration(timeoutMs * float64(time.Millisecond))

	ttl := float64(DefaultCacheTTLSeconds)
	if c.CacheTTL != nil {
		ttl = *c.CacheTTL
	}
	if ttl < 0 || ttl > MaxCacheTTLSeconds {
		problems = append(problems, fmt.Sprintf("cache_ttl: value should be between 0 and %d", MaxCacheTTLSeconds))
	}
	s.CacheTTL = time.Duration(ttl * float64(time.Second))

	var bad []string
	s.StaleIfError, bad = seconds(bad, "stale_if_error", c.StaleIfError, DefaultStaleIfErrorSeconds, 0, MaxStaleIfErrorSeconds)
	s.NegativeTTL, bad = seconds(bad, "negative_ttl", c.NegativeTTL, DefaultNegativeTTLSeconds, 0, MaxNegativeTTLSeconds)
	s.BreakerCooldown, bad = seconds(bad, "breaker_cooldown", c.BreakerCooldown, DefaultBreakerCooldown, 1, MaxBreakerCooldown)
	s.CacheMaxEntries, bad = integer(bad, "cache_max_entries", c.CacheMaxEntries, DefaultCacheMaxEntries, 1, MaxCacheMaxEntries)
	s.Retries, bad = integer(bad, "retries", c.Retries, DefaultRetries, 0, MaxRetries)
	s.BreakerThreshold, bad = integer(bad, "breaker_threshold", c.BreakerThreshold, DefaultBreakerThreshold, 0, MaxBreakerThreshold)
	s.MaxConcurrentCalls, bad = integer(bad, "max_concurrent_calls", c.MaxConcurrentCalls, DefaultMaxConcurrentCalls, 0, MaxMaxConcurrentCalls)
	problems = append(problems, bad...)
	s.Coalesce = DefaultCoalesce
	if c.Coalesce != nil {
		s.Coalesce = *c.Coalesce
	}

	for _, h := range []struct{ field, value string }{
		{"user_id_header", s.UserIDHeader},
		{"user_roles_header", s.UserRolesHeader},
	} {
		switch {
		case !isToken(h.value):
			problems = append(problems, h.field+": not a valid header name")
		case isReservedHeader(h.value):
			problems = append(problems, h.field+": "+h.value+" is reserved and cannot carry the identity")
		}
	}
	if identity.HeaderNameEqual(s.UserIDHeader, s.UserRolesHeader) {
		problems = append(problems, "user_roles_header: must differ from user_id_header")
	}

	s.ACLGroups = c.ACLGroups != nil && *c.ACLGroups
	s.AllowAnonymous = c.AllowAnonymous != nil && *c.AllowAnonymous
	problems = c.sessionSettings(&s, problems)
	problems = c.tlsSettings(&s, problems)
	problems = c.jwtSettings(&s, problems)
	problems = c.sharedSettings(&s, problems)
	problems = c.providerSettings(&s, problems)

	if len(problems) > 0 {
		return identity.Settings{}, fmt.Errorf("%w: %s", identity.ErrInvalidConfig, strings.Join(problems, "; "))
	}
	return s, nil
}

// resolve validates c (settings: pure, no I/O) and then reads the files it
// names (loadFiles). Both kinds of problem are configuration errors.
func (c *Config) resolve() (identity.Settings, error) {
	s, err := c.settings()
	if err != nil {
		return identity.Settings{}, err
	}
	if err := s.LoadFiles(); err != nil {
		return identity.Settings{}, err
	}
	return s, nil
}

// seconds applies the default to an optional number of seconds and checks
// its bounds, appending a problem when it is out of them.
func seconds(problems []string, name string, v *float64, def, lo, hi float64) (time.Duration, []string) {
	x := def
	if v != nil {
		x = *v
	}
	if x < lo || x > hi {
		problems = append(problems, fmt.Sprintf("%s: value should be between %g and %g", name, lo, hi))
	}
	return time.Duration(x * float64(time.Second)), problems
}

// integer is seconds for whole numbers.
func integer(problems []string, name string, v *int, def, lo, hi int) (int, []string) {
	x := def
	if v != nil {
		x = *v
	}
	if x < lo || x > hi {
		problems = append(problems, fmt.Sprintf("%s: value should be between %d and %d", name, lo, hi))
	}
	return x, problems
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// isToken reports whether s is an RFC 9110 token (a valid header name).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}
