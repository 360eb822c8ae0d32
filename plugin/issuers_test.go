package plugin

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestIssuerValidation: every jwt_issuers rule refuses with a message
// naming the entry and the field; a good entry gets the defaults.
func TestIssuerValidation(t *testing.T) {
	t.Parallel()
	good := func() IssuerConfig {
		return IssuerConfig{Issuer: "https://idp.example/realms/main", JWKSURI: "https://idp.example/certs", Audiences: []string{"api"}}
	}
	tests := []struct {
		name string
		edit func(c *Config)
		want string // "" = accepted
	}{
		{"good", func(c *Config) {}, ""},
		{"no issuer", func(c *Config) { c.JWTIssuers[0].Issuer = "" }, "jwt_issuers[1].issuer: required"},
		{"no jwks_uri", func(c *Config) { c.JWTIssuers[0].JWKSURI = "" }, "jwt_issuers[1].jwks_uri: required"},
		{"jwks_uri not http", func(c *Config) { c.JWTIssuers[0].JWKSURI = "file:///etc/keys" }, "jwks_uri: must be an http or https URL"},
		{"jwks_uri with userinfo", func(c *Config) { c.JWTIssuers[0].JWKSURI = "https://u:p@idp/certs" }, "jwks_uri: must be"},
		{"no audience", func(c *Config) { c.JWTIssuers[0].Audiences = nil }, "audiences: at least one"},
		{"empty audience", func(c *Config) { c.JWTIssuers[0].Audiences = []string{""} }, "audiences: an audience is empty"},
		{"HS256", func(c *Config) { c.JWTIssuers[0].Algorithms = []string{"HS256"} }, `algorithms: "HS256" is not one of`},
		{"none", func(c *Config) { c.JWTIssuers[0].Algorithms = []string{"none"} }, `algorithms: "none" is not one of`},
		{"clock_skew too large", func(c *Config) { c.JWTIssuers[0].ClockSkew = ptr(301.0) }, "clock_skew: value should be between 0 and 300"},
		{"claim to a reserved header", func(c *Config) { c.JWTIssuers[0].ClaimHeaders = map[string]string{"x": "X-Forwarded-For"} }, "is reserved"},
		{"claim to the user id header", func(c *Config) { c.JWTIssuers[0].ClaimHeaders = map[string]string{"x": "x_user_id"} }, "already used by another identity header"},
		{"two claims to one header", func(c *Config) {
			c.JWTIssuers[0].ClaimHeaders = map[string]string{"a": "X-A", "b": "x-a"}
		}, "mapped from two claims"},
		{"claim to an extra_headers header is allowed", func(c *Config) {
			c.ExtraHeaders = map[string]string{"email": "X-User-Email"}
			c.JWTIssuers[0].ClaimHeaders = map[string]string{"email": "X-User-Email"}
		}, ""},
		{"issuer twice", func(c *Config) { c.JWTIssuers = append(c.JWTIssuers, good()) }, "is listed twice"},
		{"legacy_fallback false without issuers", func(c *Config) { c.JWTIssuers = nil; c.LegacyFallback = ptr(false) }, "legacy_fallback: false needs"},
		{"too many issuers", func(c *Config) {
			for i := range MaxIssuers {
				ic := good()
				ic.Issuer += strings.Repeat("x", i+1)
				c.JWTIssuers = append(c.JWTIssuers, ic)
			}
		}, "jwt_issuers: at most"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := &Config{AuthURL: "http://rails/verify", JWTIssuers: []IssuerConfig{good()}}
			tc.edit(c)
			s, err := c.settings()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			case tc.want == "" && len(s.Issuers) > 0:
				is := s.Issuers[0]
				if is.UserIDClaim != "sub" || is.RolesClaim != "roles" || is.ClockSkew != 30*time.Second ||
					strings.Join(is.Algorithms, ",") != "RS256,ES256" || s.ProviderOnly {
					t.Errorf("defaults not applied: %+v (provider only %t)", is, s.ProviderOnly)
				}
			}
		})
	}
}

// TestIssuerDecoding: Kong's JSON for an entry (cjson's {} for an empty
// array or map, null for unset fields) decodes; a wrong type is reported.
func TestIssuerDecoding(t *testing.T) {
	t.Parallel()
	var c Config
	raw := `{"auth_url":"http://rails/v","legacy_fallback":false,"kong_credential":true,"jwt_issuers":[{"issuer":"https://idp","jwks_uri":"https://idp/jwks",` +
		`"audiences":["api"],"algorithms":{},"claim_headers":{},"user_id_claim":null,"roles_claim":"realm_access.roles","clock_skew":10}]}`
	if err := json.Unmarshal([]byte(raw), &c); err != nil {
		t.Fatal(err)
	}
	s, err := c.settings()
	if err != nil {
		t.Fatal(err)
	}
	is := s.Issuers[0]
	if !s.ProviderOnly || !s.KongCredential || is.RolesClaim != "realm_access.roles" || is.UserIDClaim != "sub" ||
		is.ClockSkew != 10*time.Second || len(is.Algorithms) != 2 || len(is.ClaimHeaders) != 0 {
		t.Errorf("decoded %+v (provider only %t, kong credential %t)", is, s.ProviderOnly, s.KongCredential)
	}
	var bad Config
	_ = json.Unmarshal([]byte(`{"auth_url":"http://rails/v","jwt_issuers":[{"issuer":"https://idp","audiences":"api"}]}`), &bad)
	if _, err := bad.settings(); err == nil || !strings.Contains(err.Error(), "jwt_issuers: wrong type") {
		t.Errorf("a string for audiences: %v", err)
	}
}
