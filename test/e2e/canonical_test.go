package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/legacy-auth/legacy-auth/internal/fakerails"
	"github.com/legacy-auth/legacy-auth/test/redistest"
)

// TestRespelledTokenIsOneCredential (issue 18, item 2): the spellings
// Rails reads as one token are one Rails call, one cache entry, one Redis
// entry, and a revocation naming "Bearer X" ends every spelling.
func TestRespelledTokenIsOneCredential(t *testing.T) {
	t.Parallel()
	rds := redistest.Start(t)
	a := newAuth(t)
	secret := newSecret("respell")
	canonical := "Bearer " + secret
	a.Set(canonical, fakerails.OK("u-respell"))
	prefix := redisPrefix(t)
	cfg := config(t, map[string]any{"auth_url": a.url, "redis_addrs": []any{rds.Addr()}, "redis_prefix": prefix})
	p := newPlugin()
	spellings := []string{canonical, "bearer " + secret, "Bearer  " + secret, "Bearer\t" + secret,
		"Bearer " + secret + ", x=1", "Token " + secret, `Token token="` + secret + `"`}
	for _, sp := range spellings {
		wantProxied(t, access(t, shared, p, cfg, request("Authorization", sp)), "X-User-ID", "u-respell", "X-User-Roles", "")
	}
	if n := a.Calls(); n != 1 {
		t.Errorf("%d spellings of one token made %d Rails calls, want 1", len(spellings), n)
	}
	for _, c := range a.Requests() {
		if c.Authorization != canonical {
			t.Errorf("Rails received Authorization %q, want the canonical %q", c.Authorization, canonical)
		}
	}
	pub := publisher(t, rds)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// The shared store is asynchronous: wait for it, then count.
	var ids []string
	waitUntil(5*time.Second, func() bool { ids, _ = pub.Keys(ctx, prefix+"id:*").Result(); return len(ids) > 0 })
	if len(ids) != 1 {
		t.Errorf("Redis holds %d entries for one token, want 1", len(ids))
	}

	a.Set(canonical, fakerails.Deny(401)) // the owner logged out
	msg, _ := json.Marshal(map[string]string{"credential_sha256": sha256Hex(canonical)})
	if !waitUntil(5*time.Second, func() bool { n, _ := pub.Publish(ctx, prefix+"revoke", msg).Result(); return n > 0 }) {
		t.Fatal("no subscriber received the revocation")
	}
	for _, sp := range spellings {
		if !waitUntil(5*time.Second, func() bool {
			res := access(t, shared, p, cfg, request("Authorization", sp))
			return res.Exit != nil && res.Exit.Status == 401
		}) {
			t.Errorf("%q still served after the revocation of %q", strings.ReplaceAll(sp, secret, "<secret>"), "Bearer <secret>")
		}
	}
}

// TestUnreadableCredentialNeverReachesRails (issue 18, item 2): what
// Rails' token parser would not read as a token is 401 at the gateway.
func TestUnreadableCredentialNeverReachesRails(t *testing.T) {
	t.Parallel()
	a := newAuth(t)
	a.SetDefault(fakerails.OK("u-any"))
	cfg := config(t, map[string]any{"auth_url": a.url})
	p := newPlugin()
	for _, v := range []string{"Basic dXNlcjpwYXNz", "Bearer ,", "Bearer token=token=x", newSecret("noscheme")} {
		wantExit(t, access(t, shared, p, cfg, request("Authorization", v)), 401, "Invalid credentials")
	}
	if n := a.Calls(); n != 0 {
		t.Errorf("Rails called %d times for unreadable credentials", n)
	}
}
