package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/legacy-auth/legacy-auth/internal/fakerails"
	"github.com/legacy-auth/legacy-auth/test/testutil"
)

// TestRedisLogsThroughSlog: go-redis's own log lines (here a failed dial)
// come out as the plugin's structured lines, not as go-redis's plain
// stderr prints.
func TestRedisLogsThroughSlog(t *testing.T) {
	s, out := startServer(t)
	a := newAuth(t)
	u := user{token: newToken("redislog"), id: "u-redislog", roles: "r"}
	a.Set(u.token, fakerails.OK(u.id, "r"))
	cfg := config(t, map[string]any{"auth_url": a.url, "redis_addrs": []any{testutil.FreeAddr(t)}})
	p := newPlugin()
	// While Redis is down the plugin skips it, letting one call through a
	// second as a probe: that call's failed dial is what go-redis logs.
	if !waitUntil(30*time.Second, func() bool {
		u.token = newToken("redislog")
		a.Set(u.token, fakerails.OK(u.id, "r"))
		if err := checkUser(access(t, s, p, cfg, request("Authorization", u.token)), u); err != nil {
			t.Fatalf("with Redis unreachable: %v", err)
		}
		return strings.Contains(out.String(), "component=go-redis")
	}) {
		t.Fatalf("no go-redis line through slog in 30 s; output:\n%s", out.String())
	}
	line, _ := waitOutput(out, "component=go-redis")
	t.Logf("plugin: %s", line)
	if !strings.Contains(line, "level=WARN") {
		t.Errorf("go-redis line not at level WARN: %s", line)
	}
}
