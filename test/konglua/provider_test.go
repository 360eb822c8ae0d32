package konglua

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/legacy-auth/legacy-auth/internal/fakerails"
	"github.com/legacy-auth/legacy-auth/test/oidctest"
)

// TestProviderTokensInKong (issue 21, items 1 and 5): Kong's own schema
// processing takes jwt_issuers (defaults filled in, HS256 refused), and
// with kong_credential the identity reaches what Kong's later plugins read
// (ngx.ctx.authenticated_credential, set by kong.client.authenticate):
// "provider:<user>" for a token of the real OpenID provider, "legacy:<user>"
// for Rails' answer.
func TestProviderTokensInKong(t *testing.T) {
	need(t)
	t.Parallel()
	prov := oidctest.Start(t, 0)
	rails := fakerails.New()
	t.Cleanup(rails.Close)
	rails.Set("Bearer kl-opaque", fakerails.OK("7", "legacy"))
	issuer := map[string]any{"issuer": prov.Issuer, "jwks_uri": prov.JWKSURI, "audiences": []string{oidctest.Audience}}
	bad := map[string]any{"issuer": prov.Issuer, "jwks_uri": prov.JWKSURI, "audiences": []string{oidctest.Audience}, "algorithms": []string{"HS256"}}
	routes := []Route{
		{Paths: []string{"/prov"}, Upstream: "echo", ExposeKongCtx: true, Config: map[string]any{
			"auth_url": rails.VerifyURL(), "jwt_issuers": []any{issuer}, "kong_credential": true}},
		{Paths: []string{"/hs"}, Upstream: "echo", Config: map[string]any{
			"auth_url": rails.VerifyURL(), "jwt_issuers": []any{bad}}},
	}
	in := start(t, "pv", routes, Options{Lenient: true})

	alice := "Bearer " + prov.Token(t, oidctest.Alice)
	var a answer
	for range 100 { // the first fetch of the provider's keys runs in the background
		if a = send(t, in, "/prov/x", "Authorization", alice); a.Status != 503 {
			break
		}
	}
	if a.Status != 200 || a.identity("X-User-ID")["x-user-id"][0] != "42" {
		t.Fatalf("provider token: %d %s", a.Status, a.Body)
	}
	for _, tc := range []struct{ auth, want string }{{alice, "provider:42"}, {"Bearer kl-opaque", "legacy:7"}} {
		a := send(t, in, "/prov/x", "Authorization", tc.auth)
		raw := a.identity("X-Kong-Lua-Credential")["x-kong-lua-credential"]
		var cred struct {
			ID string `json:"id"`
		}
		if a.Status != 200 || len(raw) != 1 || json.Unmarshal([]byte(raw[0]), &cred) != nil || cred.ID != tc.want {
			t.Errorf("%.20s: %d, credential %v, want id %s", tc.auth, a.Status, raw, tc.want)
		}
	}
	if n := rails.Calls(); n != 1 {
		t.Errorf("Rails calls = %d, want 1 (the opaque token only)", n)
	}
	if a := send(t, in, "/hs/x", "Authorization", alice); a.Status != 500 {
		t.Errorf("HS256 issuer: %d, want 500 (config rejected by Kong's schema)", a.Status)
	}
	errs := configErrors(t, in)
	if e := errs["/prov"]; e != "null" {
		t.Errorf("/prov: Kong's schema refused the config: %s", e)
	}
	if e := errs["/hs"]; !strings.Contains(e, "HS256") && !strings.Contains(e, "expected one of") {
		t.Errorf("/hs: config_error %s, want the algorithm named", e)
	}
}
