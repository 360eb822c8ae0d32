package e2e

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/legacy-auth/legacy-auth/internal/fakerails"
	"github.com/legacy-auth/legacy-auth/internal/kongsim"
)

// TestSchemaRefusesTLSAndJWTSettingsThatDoNothing: Kong's Admin API, with
// the schema from `legacy-auth -dump`, refuses TLS settings that would be
// ignored and a signed identity without a cache (a token may not outlive
// its identity's freshness), before they reach the plugin.
func TestSchemaRefusesTLSAndJWTSettingsThatDoNothing(t *testing.T) {
	trackPluginSources()
	const https = "https://127.0.0.1:3000/verify"
	const http = "http://127.0.0.1:3000/verify"
	tests := []struct {
		name  string
		conf  map[string]any
		field string // "" → accepted
		msg   string // part of the entity error
	}{
		{"tls_verify false with tls_ca_file", map[string]any{"auth_url": https, "tls_verify": false, "tls_ca_file": "/etc/ca.pem"}, "tls_ca_file", "CA would be ignored"},
		{"tls_ca_file on http", map[string]any{"auth_url": http, "tls_ca_file": "/etc/ca.pem"}, "auth_url", "tls_ca_file needs an https:// auth_url"},
		{"client certificate on http", map[string]any{"auth_url": http, "tls_cert_file": "/c.pem", "tls_key_file": "/k.pem"}, "auth_url", "tls_cert_file needs an https:// auth_url"},
		{"tls_verify false on http", map[string]any{"auth_url": http, "tls_verify": false}, "auth_url", "tls_verify false needs an https:// auth_url"},
		{"jwt_header with cache_ttl 0", map[string]any{"auth_url": http, "cache_ttl": 0, "jwt_header": "X-Identity-Token", "jwt_key_file": "/k.pem"}, "jwt_header", "cache_ttl"},
		{"https with a CA", map[string]any{"auth_url": https, "tls_ca_file": "/etc/ca.pem"}, "", ""},
		{"https without verification", map[string]any{"auth_url": https, "tls_verify": false}, "", ""},
		{"plain http", map[string]any{"auth_url": http}, "", ""},
		{"jwt with a cache", map[string]any{"auth_url": http, "cache_ttl": 60, "jwt_ttl": 86400, "jwt_header": "X-Identity-Token", "jwt_key_file": "/k.pem"}, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := kongsim.ProcessConfig(schema, tc.conf)
			if tc.field == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var se *kongsim.SchemaError
			if !errors.As(err, &se) {
				t.Fatalf("error %T %v, want a schema violation", err, err)
			}
			t.Logf("rejected: %v", se.Problems)
			if _, ok := se.Problems["config."+tc.field]; !ok {
				t.Errorf("rejection does not name config.%s: %v", tc.field, se.Problems)
			}
			if !strings.Contains(strings.Join(se.Problems["config.@entity"], "; "), tc.msg) {
				t.Errorf("entity error %v, want one containing %q", se.Problems["config.@entity"], tc.msg)
			}
		})
	}
}

// TestTokenCappedAtCacheTTL: through the binary, a jwt_ttl of a day with a
// cache_ttl of a minute gives tokens that expire no later than a minute
// after Rails answered, and say when that was (auth_time).
func TestTokenCappedAtCacheTTL(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := writePKCS8(t, priv)
	a := newAuth(t)
	token := newToken("jwtcap")
	a.Set(token, fakerails.OK("u-cap"))
	cfg := config(t, map[string]any{"auth_url": a.url, "cache_ttl": 60, "jwt_ttl": 86400,
		"jwt_header": "X-Identity-Token", "jwt_key_file": keyFile, "jwt_audience": "orders-api"})
	before := time.Now().Truncate(time.Second)
	res := access(t, shared, newPlugin(), cfg, request("Authorization", token))
	after := time.Now()
	wantProxied(t, res, "X-User-ID", "u-cap", "X-User-Roles", "")
	raw, ok := upstreamValue(res, "X-Identity-Token")
	if !ok {
		t.Fatal("no token upstream")
	}
	var c struct {
		AuthTime *jwt.NumericDate `json:"auth_time"`
		jwt.RegisteredClaims
	}
	if _, err := jwt.ParseWithClaims(raw, &c, func(*jwt.Token) (any, error) { return pub, nil },
		jwt.WithValidMethods([]string{"EdDSA"}), jwt.WithAudience("orders-api")); err != nil {
		t.Fatalf("token does not verify: %v", err)
	}
	t.Logf("iat %v auth_time %v exp %v (lifetime %v)", c.IssuedAt.Time, c.AuthTime, c.ExpiresAt.Time, c.ExpiresAt.Sub(c.IssuedAt.Time))
	if c.AuthTime == nil || c.AuthTime.Before(before) || c.AuthTime.After(after) {
		t.Fatalf("auth_time %v, want the moment Rails answered (between %v and %v)", c.AuthTime, before, after)
	}
	if limit := c.AuthTime.Add(60 * time.Second); c.ExpiresAt.After(limit) {
		t.Errorf("exp %v is after auth_time + cache_ttl %v", c.ExpiresAt.Time, limit)
	}
}
