package e2e

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/legacy-auth/legacy-auth/internal/fakerails"
	"github.com/legacy-auth/legacy-auth/internal/kongsim"
	"github.com/legacy-auth/legacy-auth/test/oidctest"
)

// providerConfig is a route trusting the running provider p, with Rails
// (a) for everything else.
func providerConfig(t *testing.T, a *authService, p *oidctest.Provider, extra map[string]any) map[string]any {
	fields := map[string]any{
		"auth_url": a.url,
		"jwt_issuers": []any{map[string]any{
			"issuer": p.Issuer, "jwks_uri": p.JWKSURI, "audiences": []string{oidctest.Audience},
			"claim_headers": map[string]any{"email": "X-User-Email"},
		}},
		"extra_headers": map[string]any{"email": "X-User-Email"},
	}
	for k, v := range extra {
		fields[k] = v
	}
	return config(t, fields)
}

// firstAccess sends req until the answer is not the 503 of keys still
// loading (the first fetch runs in the background; a request waits for it
// about 100 ms): bounded, an event, not a sleep.
func firstAccess(t *testing.T, p kongsim.PluginRef, cfg map[string]any, req *kongsim.Request) *kongsim.Result {
	t.Helper()
	for range 100 {
		res := access(t, shared, p, cfg, req)
		if res.Exit == nil || res.Exit.Status != 503 {
			return res
		}
	}
	t.Fatal("the provider's keys never loaded")
	return nil
}

// TestProviderTokens: the real binary with a real OpenID provider
// (node's oidc-provider) beside Rails. A provider token is verified at
// the gateway (Rails not called) and gets the same identity headers; a
// forged one is 401 without Rails; an opaque token goes to Rails; with
// kong_credential each is presented to Kong under its source; with
// legacy_fallback false only provider tokens pass.
func TestProviderTokens(t *testing.T) {
	prov := oidctest.Start(t, 0)
	a := newAuth(t)
	opaque := newToken("opaque")
	a.Set(opaque, fakerails.Response{Status: 200, Body: `{"user_id":7,"roles":["legacy"],"email":"bob@rails.example"}`})
	cfg := providerConfig(t, a, prov, map[string]any{"kong_credential": true})
	p := newPlugin()

	alice := "Bearer " + prov.Token(t, oidctest.Alice)
	res := firstAccess(t, p, cfg, request("Authorization", alice))
	wantIdentity(t, res, "X-User-ID", "42", "X-User-Roles", "admin,editor")
	if v, _ := upstreamValue(res, "X-User-Email"); v != "alice@example.com" {
		t.Errorf("X-User-Email = %q, want the token's email claim", v)
	}
	if res.Credential == nil || res.Credential.ID != "provider:42" {
		t.Errorf("kong.client.authenticate credential = %+v, want provider:42", res.Credential)
	}
	res = access(t, shared, p, cfg, request("Authorization", alice))
	wantIdentity(t, res, "X-User-ID", "42", "X-User-Roles", "admin,editor")
	if want := []string{"kong.request.get_header", "kong.client.authenticate", "kong.service.request.set_headers"}; !sameCalls(res.Calls, want) {
		t.Errorf("PDK calls of a provider-token hit with kong_credential = %v, want %v", res.Calls, want)
	}

	// A forged token: Alice's signature over another payload.
	parts := strings.Split(strings.TrimPrefix(alice, "Bearer "), ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	parts[1] = base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(payload), `"sub":"42"`, `"sub":"1"`, 1)))
	res = access(t, shared, p, cfg, request("Authorization", "Bearer "+strings.Join(parts, ".")))
	wantExit(t, res, 401, "Invalid credentials")

	if n := a.Calls(); n != 0 {
		t.Fatalf("Rails called %d times for provider tokens", n)
	}

	// An opaque token goes to Rails; the same headers, its own source.
	res = access(t, shared, p, cfg, request("Authorization", opaque))
	wantIdentity(t, res, "X-User-ID", "7", "X-User-Roles", "legacy")
	if v, _ := upstreamValue(res, "X-User-Email"); v != "bob@rails.example" {
		t.Errorf("X-User-Email = %q, want Rails' email", v)
	}
	if res.Credential == nil || res.Credential.ID != "legacy:7" {
		t.Errorf("credential = %+v, want legacy:7", res.Credential)
	}
	if n := a.Calls(); n != 1 {
		t.Errorf("Rails calls = %d, want 1 (the opaque token)", n)
	}

	// Provider only: the opaque token is refused without calling Rails.
	only := providerConfig(t, a, prov, map[string]any{"legacy_fallback": false})
	q := newPlugin()
	bob := "Bearer " + prov.Token(t, oidctest.Bob)
	res = firstAccess(t, q, only, request("Authorization", bob))
	wantProxied(t, res, "X-User-ID", "7", "X-User-Roles", "")
	if res.Credential != nil {
		t.Errorf("kong_credential off, yet kong.client.authenticate was called: %+v", res.Credential)
	}
	res = access(t, shared, q, only, request("Authorization", newToken("opaque")))
	wantExit(t, res, 401, "Invalid credentials")
	if n := a.Calls(); n != 1 {
		t.Errorf("legacy_fallback false: Rails calls = %d, want still 1", n)
	}
}
