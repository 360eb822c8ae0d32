package plugin

import (
	"sort"
	"strings"
)

// Kong schema of the plugin, as returned in the -dump query output.
//
// go-pdk's reflected schema (server/rpc.go getSchemaDict) carries only
// types, so Kong would accept any config and leave every unset field null.
// This one carries what the Lua schema.lua had (required, default, one_of)
// plus bounds, so Kong's Admin API and deck answer a bad config with 400
// before it reaches the plugin. Kong checks it against
// kong/db/schema/metaschema.lua (MetaSubSchema) when it loads the plugin;
// the attribute names and shapes below are the ones that file accepts.

// field is one entry of a Kong "fields" array: a single-key map.
type field = map[string]any

// attrs are a field's attributes ("type", "required", "default", ...).
type attrs = map[string]any

// httpProtocols are Kong's protocols of the http subsystem
// (kong/db/schema/typedefs.lua protocols_http): the only ones a go-pdk
// access handler can serve.
var httpProtocols = []string{"grpc", "grpcs", "http", "https"}

// headerNamePattern is a Lua pattern (Kong's match validator uses
// string.find) for an RFC 9110 token, the characters a header name may use.
const headerNamePattern = "^[%w!#$%%&'*+.^_`|~-]+$"

// reservedHeaderPatterns are Kong match_none entries refusing the reserved
// header names (see reservedHeaders) as identity headers, in every
// spelling nginx treats alike: any case, '-' or '_'.
func reservedHeaderPatterns() []map[string]string {
	names := make([]string, 0, len(reservedHeaders))
	for n := range reservedHeaders {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]map[string]string, 0, len(names))
	for _, n := range names {
		var b strings.Builder
		b.WriteByte('^')
		for i := 0; i < len(n); i++ {
			switch c := n[i]; {
			case c == '-':
				b.WriteString("[-_]")
			case c >= 'a' && c <= 'z':
				b.WriteString("[" + string(c) + string(c-'a'+'A') + "]")
			default:
				b.WriteByte(c)
			}
		}
		b.WriteByte('$')
		out = append(out, map[string]string{"pattern": b.String(), "err": n + " is reserved and cannot carry the identity"})
	}
	return out
}

// Schema returns the plugin's Kong schema named name.
func Schema(name string) map[string]any {
	return map[string]any{
		"name": name,
		"fields": []field{
			// typedefs.no_consumer: like the Lua schema's no_consumer = true,
			// the plugin cannot be scoped to a consumer (it identifies the
			// caller itself). cjson decodes null as ngx.null, as typedefs has it.
			{"consumer": attrs{"type": "foreign", "reference": "consumers", "eq": nil,
				"description": "legacy-auth cannot be scoped to a consumer: it identifies the caller itself."}},
			{"protocols": attrs{"type": "set", "required": true, "default": httpProtocols,
				"elements":    attrs{"type": "string", "one_of": httpProtocols},
				"description": "The HTTP protocols the plugin runs on."}},
			{"config": attrs{"type": "record", "required": true, "fields": configFields(),
				"entity_checks": entityChecks()}},
		},
	}
}

// entityChecks are the config's cross-field rules, in the forms Kong's
// metaschema offers (custom_entity_check needs a Lua function, which an
// external plugin cannot ship). A conditional's then_match {eq: null}
// means "must be unset"; cjson turns JSON null into ngx.null, as
// typedefs.no_consumer has it.
func entityChecks() []map[string]any {
	mustBeUnset := attrs{"eq": nil}
	checks := []map[string]any{
		{"mutually_required": []string{"tls_cert_file", "tls_key_file"}},
		{"mutually_required": []string{"jwt_header", "jwt_key_file"}},
		// Exact duplicates only: Kong's distinct compares values
		// as they are. Names equal after folding case and -/_
		// are refused when the instance starts (500 + one log line).
		{"distinct": []string{"user_id_header", "user_roles_header"}},
		{"distinct": []string{"user_id_header", "user_roles_header", "jwt_header"}},
		// tls_verify false would ignore the CA and send credentials to any server.
		{"conditional": attrs{"if_field": "tls_verify", "if_match": attrs{"eq": false},
			"then_field": "tls_ca_file", "then_match": mustBeUnset,
			"then_err": "tls_ca_file cannot be used with %s false: the CA would be ignored"}},
		// A token lives at most cache_ttl after the auth service answered.
		{"conditional": attrs{"if_field": "cache_ttl", "if_match": attrs{"eq": 0},
			"then_field": "jwt_header", "then_match": mustBeUnset,
			"then_err": "jwt_header needs %s > 0: a token lives at most cache_ttl after the auth service answered"}},
	}
	// TLS settings on a plain-HTTP auth_url would do nothing. The rule is
	// keyed on the TLS field, not on auth_url: a conditional whose
	// if_field is missing reports "field required for entity check"
	// instead of auth_url's own "required field missing".
	const needsHTTPS = "%s needs an https:// auth_url: on http:// TLS settings would do nothing"
	isHTTPS := attrs{"match": "^https://"}
	for _, f := range []string{"tls_ca_file", "tls_cert_file", "tls_key_file"} {
		checks = append(checks, map[string]any{"conditional": attrs{"if_field": f, "if_match": attrs{"ne": nil},
			"then_field": "auth_url", "then_match": isHTTPS, "then_err": needsHTTPS}})
	}
	checks = append(checks, map[string]any{"conditional": attrs{"if_field": "tls_verify", "if_match": attrs{"eq": false},
		"then_field": "auth_url", "then_match": isHTTPS, "then_err": "%s false " + needsHTTPS[3:]}})
	return checks
}

func configFields() []field {
	return []field{
		{"auth_url": attrs{
			"type": "string", "required": true, "match": `^https?://[^%s/?#]+[^%s]*$`,
			"match_none":  []map[string]string{{"pattern": `^https?://[^/?#]*@`, "err": "must not carry userinfo (user:password@)"}},
			"description": "The internal Rails endpoint URL (http or https, no userinfo) that validates the caller's credential.",
		}},
		{"auth_method": attrs{
			"type": "string", "required": true, "default": DefaultAuthMethod, "one_of": []string{"GET", "POST"},
			"description": "The HTTP method used to call the validation endpoint.",
		}},
		{"timeout": attrs{
			"type": "number", "required": true, "default": DefaultTimeoutMs, "between": []int{1, MaxTimeoutMs},
			"description": "Timeout in milliseconds of the whole validation call, retries included.",
		}},
		{"cache_ttl": attrs{
			"type": "number", "required": true, "default": DefaultCacheTTLSeconds, "between": []int{0, MaxCacheTTLSeconds},
			"description": "Cache TTL in seconds for successful authentication results. 0 disables caching.",
		}},
		{"user_id_header": attrs{
			"type": "string", "required": true, "default": DefaultUserIDHeader, "match": headerNamePattern, "match_none": reservedHeaderPatterns(),
			"description": "The upstream header that carries the user ID.",
		}},
		{"user_roles_header": attrs{
			"type": "string", "required": true, "default": DefaultUserRolesHeader, "match": headerNamePattern, "match_none": reservedHeaderPatterns(),
			"description": "The upstream header that carries the user's roles, comma-separated.",
		}},
		{"stale_if_error": attrs{
			"type": "number", "required": true, "default": DefaultStaleIfErrorSeconds, "between": []int{0, MaxStaleIfErrorSeconds},
			"description": "Seconds past cache_ttl during which a cached identity is still served while the auth service fails. 0 disables.",
		}},
		{"negative_ttl": attrs{
			"type": "number", "required": true, "default": DefaultNegativeTTLSeconds, "between": []int{0, MaxNegativeTTLSeconds},
			"description": "Seconds a 401/403 answer is cached so repeated bad tokens do not reach the auth service. 0 disables.",
		}},
		{"cache_max_entries": attrs{
			"type": "integer", "required": true, "default": DefaultCacheMaxEntries, "between": []int{1, MaxCacheMaxEntries},
			"description": "Upper bound of this plugin entity's cached identities (and, separately, rejections); other routes' caches are never evicted by it.",
		}},
		{"retries": attrs{
			"type": "integer", "required": true, "default": DefaultRetries, "between": []int{0, MaxRetries},
			"description": "Retries of a verify call on connection errors and 502/503/504, within the same timeout.",
		}},
		{"coalesce": attrs{
			"type": "boolean", "required": true, "default": DefaultCoalesce,
			"description": "Concurrent cache misses for one credential share a single verify call.",
		}},
		{"breaker_threshold": attrs{
			"type": "integer", "required": true, "default": DefaultBreakerThreshold, "between": []int{0, MaxBreakerThreshold},
			"description": "Consecutive auth service failures (no answer, timeout, 5xx; never a 4xx or an invalid answer) that open the circuit breaker of auth_url. 0 disables the breaker.",
		}},
		{"breaker_cooldown": attrs{
			"type": "number", "required": true, "default": DefaultBreakerCooldown, "between": []int{1, MaxBreakerCooldown},
			"description": "Seconds the breaker stays open before one probe request is let through.",
		}},
		{"max_concurrent_calls": attrs{
			"type": "integer", "required": true, "default": DefaultMaxConcurrentCalls, "between": []int{0, MaxMaxConcurrentCalls},
			"description": "Cap on verify calls in flight per auth service on a node. Admission control learns a lower limit from the calls' latency, queues briefly, and answers 503 with Retry-After, without calling Rails, a call that could not be answered within timeout. 0 disables it.",
		}},
		{"cookie_names": attrs{
			"type": "array", "required": true, "default": []string{},
			"elements":    attrs{"type": "string", "match": headerNamePattern},
			"description": "Session cookies accepted as credentials; only these, with RFC 6265 values, are forwarded to the auth service.",
		}},
		{"extra_headers": attrs{
			"type": "map", "len_max": MaxExtraHeaders,
			"keys":        attrs{"type": "string", "len_min": 1, "len_max": 64},
			"values":      attrs{"type": "string", "match": headerNamePattern, "match_none": reservedHeaderPatterns()},
			"description": "Fields of the auth service's answer copied to upstream headers, e.g. email: X-User-Email.",
		}},
		{"acl_groups": attrs{
			"type": "boolean", "required": true, "default": false,
			"description": "Hand the user's roles to Kong's ACL plugin as kong.ctx.shared.authenticated_groups.",
		}},
		{"allow_anonymous": attrs{
			"type": "boolean", "required": true, "default": false,
			"description": "Let requests without credentials through without identity headers.",
		}},
		{"tls_verify": attrs{
			"type": "boolean", "required": true, "default": true,
			"description": "Verify the auth service's TLS certificate on https. false cannot go with tls_ca_file or an http:// auth_url.",
		}},
		{"tls_ca_file": attrs{
			"type":        "string",
			"description": "PEM file of CA certificates trusted for the auth service instead of the system pool (https auth_url, tls_verify true). Re-read when it changes.",
		}},
		{"tls_cert_file": attrs{
			"type":        "string",
			"description": "PEM client certificate for mutual TLS with the auth service (https auth_url). Re-read when it changes.",
		}},
		{"tls_key_file": attrs{
			"type":        "string",
			"description": "PEM private key of tls_cert_file, unencrypted. Re-read when it changes.",
		}},
		{"jwt_header": attrs{
			"type": "string", "match": headerNamePattern, "match_none": reservedHeaderPatterns(),
			"description": "Upstream header that carries a signed JWT of the identity. Unset: no token. Needs cache_ttl > 0.",
		}},
		{"jwt_key_file": attrs{
			"type":        "string",
			"description": "PEM private key signing the identity JWT: Ed25519 (EdDSA), P-256 (ES256) or RSA >= 2048 bits (RS256), unencrypted. Re-read when it changes.",
		}},
		{"jwt_ttl": attrs{
			"type": "number", "required": true, "default": DefaultJWTTTL, "between": []int{MinJWTTTL, MaxJWTTTL},
			"description": "Lifetime of the identity JWT in seconds, capped so that no token outlives its identity's freshness (cache_ttl after the auth service answered).",
		}},
		{"jwt_issuer": attrs{
			"type": "string", "required": true, "default": DefaultJWTIssuer,
			"description": "The iss claim of the identity JWT.",
		}},
		{"jwt_audience": attrs{
			"type":        "string",
			"description": "The aud claim of the identity JWT. Unset: no audience.",
		}},
		{"jwt_issuers": attrs{
			"type": "array", "required": true, "default": []string{}, "len_max": MaxIssuers,
			"elements":    issuerSchema(),
			"description": "Identity providers whose JWT access tokens are verified at the gateway (JWKS), never sent to Rails: a Bearer JWT whose iss is one of them goes to that issuer only.",
		}},
		{"legacy_fallback": attrs{
			"type": "boolean", "required": true, "default": true,
			"description": "Send credentials that are not a configured issuer's JWT to Rails. false: only provider tokens are accepted, anything else is 401 without calling Rails.",
		}},
		{"kong_credential": attrs{
			"type": "boolean", "required": true, "default": false,
			"description": "Present each identity to Kong (kong.client.authenticate, credential id legacy:<user> or provider:<user>) for rate-limiting by credential and log plugins. One more PDK call per request.",
		}},
		{"redis_addrs": attrs{
			"type": "array", "required": true, "default": []string{},
			"elements":    attrs{"type": "string", "match": `^[^%s/@]+:%d+$`},
			"description": "host:port of Redis (standalone), its sentinels or cluster seed nodes. Empty: no shared cache.",
		}},
		{"redis_mode": attrs{
			"type": "string", "required": true, "default": "standalone", "one_of": []string{"standalone", "sentinel", "cluster"},
			"description": "How redis_addrs are used: one server, sentinels, or cluster seed nodes.",
		}},
		{"redis_master_name": attrs{
			"type":        "string",
			"description": "Sentinel master name (redis_mode sentinel).",
		}},
		{"redis_username": attrs{
			"type": "string", "referenceable": true,
			"description": "Redis ACL user name.",
		}},
		{"redis_password": attrs{
			"type": "string", "referenceable": true, "encrypted": true,
			"description": "Redis password (a Kong vault reference is recommended).",
		}},
		{"redis_db": attrs{
			"type": "integer", "required": true, "default": 0, "between": []int{0, 1023},
			"description": "Redis logical database (0 in cluster mode).",
		}},
		{"redis_tls": attrs{
			"type": "boolean", "required": true, "default": false,
			"description": "Connect to Redis with TLS.",
		}},
		{"redis_prefix": attrs{
			"type": "string", "required": true, "default": DefaultRedisPrefix, "match": `^[^%s]+$`,
			"description": "Prefix of every Redis key and of the revocation channel.",
		}},
		{"redis_timeout": attrs{
			"type": "number", "required": true, "default": DefaultRedisTimeoutMs, "between": []int{1, MaxRedisTimeoutMs},
			"description": "Milliseconds allowed to each Redis step (a lookup takes at most a quarter of timeout); past it the plugin goes straight to the auth service.",
		}},
	}
}
