package plugin

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strings"

	"github.com/legacy-auth/legacy-auth/internal/identity"
)

// The migration bridge's configuration: jwt_issuers (the identity
// providers whose JWT access tokens the plugin verifies itself),
// legacy_fallback and kong_credential.

// Defaults and bounds of a jwt_issuers entry.
const (
	DefaultUserIDClaim      = "sub"
	DefaultRolesClaim       = "roles"
	DefaultClockSkewSeconds = 30
	MaxClockSkewSeconds     = 300
	// MaxIssuers bounds jwt_issuers: a migration has one provider, perhaps
	// two while it moves between them.
	MaxIssuers = 8
	// MaxAudiences bounds an issuer's audiences.
	MaxAudiences = 16
	// MaxClaimPathLen bounds a claim path.
	MaxClaimPathLen = 128
)

// DefaultAlgorithms are an issuer's algorithms when none are configured.
var DefaultAlgorithms = []string{"RS256", "ES256"}

// IssuerConfig is one jwt_issuers entry, as Kong sends it.
type IssuerConfig struct {
	// Issuer is the exact iss of the provider's tokens. Required.
	Issuer string `json:"issuer"`
	// JWKSURI is where the provider publishes its keys (http or https). Required.
	JWKSURI string `json:"jwks_uri"`
	// Audiences: a token's aud must contain one of them. Required, at least one.
	Audiences []string `json:"audiences"`
	// Algorithms the provider signs with, asymmetric only (RS256, RS384,
	// RS512, PS256, ES256, ES384, EdDSA). Default: RS256, ES256.
	Algorithms []string `json:"algorithms"`
	// UserIDClaim is the claim path of the user id. Default: sub.
	UserIDClaim string `json:"user_id_claim"`
	// RolesClaim is the claim path of the roles (realm_access.roles). An
	// array is joined with commas, a string kept. Default: roles.
	RolesClaim string `json:"roles_claim"`
	// ClaimHeaders maps claim paths to upstream headers, with the rules of
	// extra_headers. Default: none.
	ClaimHeaders map[string]string `json:"claim_headers"`
	// ClockSkew is the leeway on exp, nbf and iat, in seconds (0..300).
	// Default: 30.
	ClockSkew *float64 `json:"clock_skew"`
}

// UnmarshalJSON decodes an entry field by field: Lua's cjson encodes an
// empty array or map as {}, and Kong sends unset fields as null.
func (ic *IssuerConfig) UnmarshalJSON(b []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return fmt.Errorf("not an object")
	}
	for name, dst := range map[string]any{
		"issuer": &ic.Issuer, "jwks_uri": &ic.JWKSURI, "audiences": &ic.Audiences, "algorithms": &ic.Algorithms,
		"user_id_claim": &ic.UserIDClaim, "roles_claim": &ic.RolesClaim, "claim_headers": &ic.ClaimHeaders,
		"clock_skew": &ic.ClockSkew,
	} {
		v, ok := raw[name]
		if !ok || string(bytes.TrimSpace(v)) == "{}" {
			continue
		}
		if err := json.Unmarshal(v, dst); err != nil {
			return fmt.Errorf("%s: wrong type (%s)", name, jsonKind(v))
		}
	}
	return nil
}

// providerSettings validates jwt_issuers, legacy_fallback and
// kong_credential into s.
func (c *Config) providerSettings(s *identity.Settings, problems []string) []string {
	s.ProviderOnly = c.LegacyFallback != nil && !*c.LegacyFallback
	s.KongCredential = c.KongCredential != nil && *c.KongCredential
	if s.ProviderOnly && len(c.JWTIssuers) == 0 {
		problems = append(problems, "legacy_fallback: false needs at least one jwt_issuers entry (every request would be refused)")
	}
	if len(c.JWTIssuers) > MaxIssuers {
		return append(problems, fmt.Sprintf("jwt_issuers: at most %d entries", MaxIssuers))
	}
	taken := []string{s.UserIDHeader, s.UserRolesHeader}
	if c.JWTHeader != "" {
		taken = append(taken, c.JWTHeader)
	}
	seen := map[string]bool{}
	for i, ic := range c.JWTIssuers {
		where := fmt.Sprintf("jwt_issuers[%d]", i+1) // Kong numbers array entries from 1
		is, bad := ic.settings(where, taken)
		problems = append(problems, bad...)
		if seen[is.Issuer] && is.Issuer != "" {
			problems = append(problems, where+".issuer: "+is.Issuer+" is listed twice")
		}
		seen[is.Issuer] = true
		s.Issuers = append(s.Issuers, is)
	}
	return problems
}

// settings validates one entry; taken are the identity headers a claim
// may not use.
func (ic IssuerConfig) settings(where string, taken []string) (identity.Issuer, []string) {
	var problems []string
	is := identity.Issuer{
		Issuer:      ic.Issuer,
		JWKSURI:     ic.JWKSURI,
		UserIDClaim: orDefault(ic.UserIDClaim, DefaultUserIDClaim),
		RolesClaim:  orDefault(ic.RolesClaim, DefaultRolesClaim),
	}
	if ic.Issuer == "" {
		problems = append(problems, where+".issuer: required field missing")
	}
	if u, err := url.Parse(ic.JWKSURI); ic.JWKSURI == "" {
		problems = append(problems, where+".jwks_uri: required field missing")
	} else if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		problems = append(problems, where+".jwks_uri: must be an http or https URL with a host and no userinfo")
	}
	switch {
	case len(ic.Audiences) == 0:
		problems = append(problems, where+".audiences: at least one audience is required")
	case len(ic.Audiences) > MaxAudiences:
		problems = append(problems, fmt.Sprintf("%s.audiences: at most %d", where, MaxAudiences))
	case slices.Contains(ic.Audiences, ""):
		problems = append(problems, where+".audiences: an audience is empty")
	}
	is.Audiences = slices.Clone(ic.Audiences)
	is.Algorithms = slices.Clone(ic.Algorithms)
	if len(is.Algorithms) == 0 {
		is.Algorithms = slices.Clone(DefaultAlgorithms)
	}
	for _, a := range is.Algorithms {
		if !slices.Contains(identity.Algorithms, a) {
			problems = append(problems, fmt.Sprintf("%s.algorithms: %q is not one of %s (asymmetric only)", where, a, strings.Join(identity.Algorithms, ", ")))
		}
	}
	for _, p := range []struct{ field, v string }{{"user_id_claim", is.UserIDClaim}, {"roles_claim", is.RolesClaim}} {
		if len(p.v) > MaxClaimPathLen {
			problems = append(problems, fmt.Sprintf("%s.%s: at most %d characters", where, p.field, MaxClaimPathLen))
		}
	}
	var bad []string
	is.ClockSkew, bad = seconds(bad, where+".clock_skew", ic.ClockSkew, DefaultClockSkewSeconds, 0, MaxClockSkewSeconds)
	problems = append(problems, bad...)

	if len(ic.ClaimHeaders) > MaxExtraHeaders {
		problems = append(problems, fmt.Sprintf("%s.claim_headers: at most %d entries", where, MaxExtraHeaders))
	}
	var mine []string
	for claim, header := range ic.ClaimHeaders {
		switch {
		case claim == "" || len(claim) > MaxClaimPathLen:
			problems = append(problems, fmt.Sprintf("%s.claim_headers: claim paths must be 1 to %d characters", where, MaxClaimPathLen))
		case !isToken(header):
			problems = append(problems, fmt.Sprintf("%s.claim_headers: %q is not a valid header name", where, header))
		case isReservedHeader(header):
			problems = append(problems, fmt.Sprintf("%s.claim_headers: %s is reserved and cannot carry the identity", where, header))
		case containsHeader(taken, header):
			problems = append(problems, fmt.Sprintf("%s.claim_headers: %s is already used by another identity header", where, header))
		case containsHeader(mine, header):
			problems = append(problems, fmt.Sprintf("%s.claim_headers: %s is mapped from two claims", where, header))
		default:
			mine = append(mine, header)
			is.ClaimHeaders = append(is.ClaimHeaders, identity.ClaimHeader{Claim: claim, Header: header})
		}
	}
	sort.Slice(is.ClaimHeaders, func(i, j int) bool { return is.ClaimHeaders[i].Claim < is.ClaimHeaders[j].Claim })
	return is, problems
}

// issuerSchema is a jwt_issuers entry in Kong's schema.
func issuerSchema() attrs {
	return attrs{"type": "record", "fields": []field{
		{"issuer": attrs{"type": "string", "required": true, "len_min": 1,
			"description": "The exact iss of the provider's tokens."}},
		{"jwks_uri": attrs{"type": "string", "required": true, "match": `^https?://[^%s/?#@]+[^%s]*$`,
			"description": "Where the provider publishes its signing keys (JWKS), http or https."}},
		{"audiences": attrs{"type": "array", "required": true, "len_min": 1, "len_max": MaxAudiences,
			"elements":    attrs{"type": "string", "len_min": 1},
			"description": "A token's aud must contain one of these."}},
		{"algorithms": attrs{"type": "array", "required": true, "default": DefaultAlgorithms, "len_min": 1,
			"elements":    attrs{"type": "string", "one_of": identity.Algorithms},
			"description": "Signature algorithms accepted from this issuer; asymmetric only (never none or HS*)."}},
		{"user_id_claim": attrs{"type": "string", "required": true, "default": DefaultUserIDClaim, "len_max": MaxClaimPathLen,
			"description": "Claim path of the user id (a top-level name, or a dotted path)."}},
		{"roles_claim": attrs{"type": "string", "required": true, "default": DefaultRolesClaim, "len_max": MaxClaimPathLen,
			"description": "Claim path of the roles, e.g. realm_access.roles; an array is joined with commas, a string kept."}},
		{"claim_headers": attrs{"type": "map", "len_max": MaxExtraHeaders,
			"keys":        attrs{"type": "string", "len_min": 1, "len_max": MaxClaimPathLen},
			"values":      attrs{"type": "string", "match": headerNamePattern, "match_none": reservedHeaderPatterns()},
			"description": "Claims copied to upstream headers (the extra_headers rules), e.g. email: X-User-Email."}},
		{"clock_skew": attrs{"type": "number", "required": true, "default": DefaultClockSkewSeconds, "between": []int{0, MaxClockSkewSeconds},
			"description": "Seconds of leeway on exp, nbf and iat."}},
	}}
}
