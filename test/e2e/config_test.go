package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/legacy-auth/legacy-auth/internal/fakerails"
)

// TestCustomHeaderNames: the identity goes out under the configured names
// only; the default names are not set.
func TestCustomHeaderNames(t *testing.T) {
	a := newAuth(t)
	token := newToken("custom")
	a.Set(token, fakerails.OK("u-55", "admin"))
	cfg := config(t, map[string]any{"auth_url": a.url, "user_id_header": "X-Authenticated-User", "user_roles_header": "X-Authenticated-Roles"})
	res := access(t, shared, newPlugin(), cfg, request("Authorization", token))
	wantProxied(t, res, "X-Authenticated-User", "u-55", "X-Authenticated-Roles", "admin")
	for _, def := range []string{"X-User-ID", "X-User-Roles"} {
		if h := spellings(res.Upstream, def); len(h) != 0 {
			t.Errorf("default header %s set too: %v", def, h)
		}
	}
	t.Logf("custom names: %s", summary(res))
}

// TestAuthMethodGET: auth_method GET calls the verify endpoint with GET,
// still forwarding Authorization and Content-Type.
func TestAuthMethodGET(t *testing.T) {
	a := newAuth(t)
	token := newToken("get")
	a.Set(token, fakerails.OK("u-1"))
	cfg := config(t, map[string]any{"auth_url": a.url, "auth_method": "GET"})
	res := access(t, shared, newPlugin(), cfg, request("Authorization", token))
	wantProxied(t, res, "X-User-ID", "u-1", "X-User-Roles", "")
	recs := a.Requests()
	if len(recs) != 1 {
		t.Fatalf("auth calls = %d, want 1", len(recs))
	}
	r := recs[0]
	t.Logf("auth service received: %s %s Authorization=%t Content-Type=%q", r.Method, r.Path, r.Authorization == token, r.ContentType)
	if r.Method != http.MethodGet || r.Authorization != token || r.ContentType != "application/json" {
		t.Errorf("auth service received %s Authorization ok=%t Content-Type=%q, want GET with the header and application/json",
			r.Method, r.Authorization == token, r.ContentType)
	}
}

// TestCacheTTLZero: cache_ttl 0 turns caching off, so every request asks
// the auth service.
func TestCacheTTLZero(t *testing.T) {
	a := newAuth(t)
	token := newToken("nocache")
	a.Set(token, fakerails.OK("u-2", "r"))
	cfg := config(t, map[string]any{"auth_url": a.url, "cache_ttl": 0})
	p := newPlugin()
	const n = 5
	for i := range n {
		res := access(t, shared, p, cfg, request("Authorization", token))
		wantProxied(t, res, "X-User-ID", "u-2", "X-User-Roles", "r")
		if got := a.Calls(); got != i+1 {
			t.Fatalf("after request %d: auth calls = %d, want %d", i+1, got, i+1)
		}
	}
	t.Logf("cache_ttl 0: %d requests, %d auth calls", n, a.Calls())
}

// TestConfigChangeNewAuthURL: changing a plugin's auth_url makes Kong
// start a new instance (and close the old one); the next request asks the
// new service, not the old one and not the old answer in the cache.
func TestConfigChangeNewAuthURL(t *testing.T) {
	oldSvc, newSvc := newAuth(t), newAuth(t)
	token := newToken("move")
	oldSvc.Set(token, fakerails.OK("old-user", "legacy"))
	newSvc.Set(token, fakerails.OK("new-user", "modern"))
	p := newPlugin()

	cfgOld := config(t, map[string]any{"auth_url": oldSvc.url})
	res := access(t, shared, p, cfgOld, request("Authorization", token))
	wantProxied(t, res, "X-User-ID", "old-user", "X-User-Roles", "legacy")
	res = access(t, shared, p, cfgOld, request("Authorization", token)) // hit
	wantProxied(t, res, "X-User-ID", "old-user", "X-User-Roles", "legacy")
	before := shared.Instances()[p.ID]
	if before == 0 {
		t.Fatalf("no running instance for plugin %s: %v", p.ID, shared.Instances())
	}

	cfgNew := config(t, map[string]any{"auth_url": newSvc.url})
	res = access(t, shared, p, cfgNew, request("Authorization", token))
	wantProxied(t, res, "X-User-ID", "new-user", "X-User-Roles", "modern")
	after := shared.Instances()[p.ID]
	t.Logf("instance before %d, after %d; old service calls %d, new service calls %d", before, after, oldSvc.Calls(), newSvc.Calls())
	if after == 0 || after == before {
		t.Errorf("instance after the change = %d, want a new one (before: %d)", after, before)
	}
	for id, inst := range shared.Instances() {
		if inst == before {
			t.Errorf("old instance %d still remembered by Kong for plugin %s", before, id)
		}
	}
	if line, ok := waitOutput(sharedOut, fmt.Sprintf("closed instance %d\"", before)); !ok {
		t.Errorf("the plugin server did not log closing instance %d", before)
	} else {
		t.Logf("plugin: %s", line)
	}
	if oldSvc.Calls() != 1 || newSvc.Calls() != 1 {
		t.Errorf("calls: old service %d (want 1), new service %d (want 1)", oldSvc.Calls(), newSvc.Calls())
	}
}

// TestNumericUserIDKeepsDigits: a JSON integer id beyond 2^53 keeps every
// digit (no float64 round trip anywhere between Rails and the upstream).
func TestNumericUserIDKeepsDigits(t *testing.T) {
	a := newAuth(t)
	token := newToken("bigid")
	a.Set(token, fakerails.OK(json.Number("9007199254740993"), "admin"))
	cfg := config(t, map[string]any{"auth_url": a.url})
	p := newPlugin()
	for _, phase := range []string{"miss", "hit"} {
		res := access(t, shared, p, cfg, request("Authorization", token))
		wantProxied(t, res, "X-User-ID", "9007199254740993", "X-User-Roles", "admin")
		v, _ := upstreamValue(res, "X-User-ID")
		t.Logf("%s: X-User-ID = %s", phase, v)
	}
}
