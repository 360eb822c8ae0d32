package plugin

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
			{"config": attrs{"type": "record", "required": true, "fields": configFields()}},
		},
	}
}

func configFields() []field {
	return []field{
		{"auth_url": attrs{
			"type": "string", "required": true, "match": `^https?://[^%s/?#]+[^%s]*$`,
			"description": "The internal Rails endpoint URL (http or https) that validates the caller's credential.",
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
			"type": "string", "required": true, "default": DefaultUserIDHeader, "match": headerNamePattern,
			"description": "The upstream header that carries the user ID.",
		}},
		{"user_roles_header": attrs{
			"type": "string", "required": true, "default": DefaultUserRolesHeader, "match": headerNamePattern,
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
			"description": "Upper bound of cached identities (and, separately, of cached rejections) in the plugin process.",
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
			"description": "Consecutive auth service failures that open the circuit breaker of auth_url. 0 disables the breaker.",
		}},
		{"breaker_cooldown": attrs{
			"type": "number", "required": true, "default": DefaultBreakerCooldown, "between": []int{1, MaxBreakerCooldown},
			"description": "Seconds the breaker stays open before one probe request is let through.",
		}},
	}
}
