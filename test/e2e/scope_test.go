package e2e

// Issue 11: process-wide state (identity and rejection caches, in-flight
// calls, breakers, Redis entries) respects each route: every test here
// drives the real binary and failed on the code before the scoping
// redesign.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/legacy-auth/legacy-auth/internal/fakerails"
	"github.com/legacy-auth/legacy-auth/internal/kongsim"
	"github.com/legacy-auth/legacy-auth/test/redistest"
	"github.com/legacy-auth/legacy-auth/test/testutil"
	"github.com/redis/go-redis/v9"
)

// TestBreakerCountsOnlyFailures (item 1): answers about one credential (404,
// 400, an invalid 200) never open the breaker for everyone; the auth
// service failing (5xx) does.
func TestBreakerCountsOnlyFailures(t *testing.T) {
	t.Parallel()
	a := newAuth(t)
	notFound, badReq, comma, fresh := newToken("b404"), newToken("b400"), newToken("bcomma"), newToken("bfresh")
	a.Set(notFound, fakerails.Deny(http.StatusNotFound))
	a.Set(badReq, fakerails.Deny(http.StatusBadRequest))
	a.Set(comma, fakerails.Response{Status: 200, Body: `{"user_id":"1","roles":["a,b"]}`})
	a.Set(fresh, fakerails.OK("u-fresh"))
	cfg := config(t, map[string]any{"auth_url": a.url, "breaker_threshold": 5, "retries": 0})
	p := newPlugin()
	for i := 0; i < 6; i++ {
		wantExit(t, access(t, shared, p, cfg, request("Authorization", notFound)), 502, "Bad response from authentication service")
		wantExit(t, access(t, shared, p, cfg, request("Authorization", badReq)), 502, "Bad response from authentication service")
		wantExit(t, access(t, shared, p, cfg, request("Authorization", comma)), 500, "Invalid response from authentication service")
	}
	before := a.Calls()
	wantProxied(t, access(t, shared, p, cfg, request("Authorization", fresh)), "X-User-ID", "u-fresh", "X-User-Roles", "")
	if a.Calls() != before+1 {
		t.Errorf("a new user after 18 per-credential answers: %d auth calls, want 1 (breaker must stay closed)", a.Calls()-before)
	}

	// The auth service failing does open it.
	a.FailNext(5, http.StatusServiceUnavailable)
	for i := 0; i < 5; i++ {
		access(t, shared, p, cfg, request("Authorization", newToken("bfail")))
	}
	before = a.Calls()
	res := access(t, shared, p, cfg, request("Authorization", newToken("bnew")))
	wantExit(t, res, 503, "Authentication service unavailable")
	if exitHeader(res, "Retry-After") == "" || a.Calls() != before {
		t.Errorf("after 5 failures: Retry-After %q, %d auth calls; want an open breaker", exitHeader(res, "Retry-After"), a.Calls()-before)
	}
}

// TestCredentialKindsInKey (item 2): the same bytes as an Authorization
// value and as a session cookie are two credentials.
func TestCredentialKindsInKey(t *testing.T) {
	t.Parallel()
	a := newAuth(t)
	session := "_app_session=" + newSecret("kind")
	// Rails reads "Token <session>" as the token "<session>": the canonical
	// Authorization is "Bearer <session>".
	a.Set("Bearer "+session, fakerails.OK("u-header")) // fakerails matches on Authorization only
	cfg := config(t, map[string]any{"auth_url": a.url, "cookie_names": []any{"_app_session"}})
	p := newPlugin()
	wantProxied(t, access(t, shared, p, cfg, request("Authorization", "Token "+session)), "X-User-ID", "u-header", "X-User-Roles", "")
	before := a.Calls()
	wantExit(t, access(t, shared, p, cfg, request("Cookie", session)), 401, "Invalid credentials")
	if a.Calls() != before+1 {
		t.Errorf("cookie credential: %d auth calls, want 1 (it must not share the header's cache entry)", a.Calls()-before)
	}
}

// TestScopeIncludesTLSTrust (item 3): a route that does not verify the auth
// service's certificate never lends its answers to one that does.
func TestScopeIncludesTLSTrust(t *testing.T) {
	t.Parallel()
	token := newToken("tls")
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != token {
			w.WriteHeader(401)
			return
		}
		fmt.Fprint(w, `{"user_id":"u-tls"}`)
	}))
	t.Cleanup(srv.Close)
	url := srv.URL + "/verify?case=" + caseTag(t)
	insecure := config(t, map[string]any{"auth_url": url, "tls_verify": false})
	verifying := config(t, map[string]any{"auth_url": url})
	wantProxied(t, access(t, shared, newPlugin(), insecure, request("Authorization", token)), "X-User-ID", "u-tls", "X-User-Roles", "")
	wantExit(t, access(t, shared, newPlugin(), verifying, request("Authorization", token)), 503, "Authentication service unavailable")
}

// TestCacheBoundPerRoute (item 4): a route with a small cache_max_entries
// evicts only its own users.
func TestCacheBoundPerRoute(t *testing.T) {
	t.Parallel()
	a := newAuth(t)
	a.SetDefault(fakerails.OK("u-any"))
	small := config(t, map[string]any{"auth_url": a.url, "cache_max_entries": 10})
	large := config(t, map[string]any{"auth_url": a.url})
	ps, pl := newPlugin(), newPlugin()
	const users = 300
	tokens := make([]string, users)
	for i := range tokens {
		tokens[i] = newToken(fmt.Sprint("bound", i))
		if res := access(t, shared, pl, large, request("Authorization", tokens[i])); res.Exit != nil {
			t.Fatalf("large route, user %d: %s", i, describe(res))
		}
	}
	// The small route's flood spans sweep periods, so it evicts repeatedly.
	deadline := time.Now().Add(3 * time.Second)
	for i := 0; time.Now().Before(deadline); i++ {
		access(t, shared, ps, small, request("Authorization", newToken(fmt.Sprint("flood", i))))
	}
	before := a.Calls()
	for i, tok := range tokens {
		if res := access(t, shared, pl, large, request("Authorization", tok)); res.Exit != nil {
			t.Fatalf("large route, user %d again: %s", i, describe(res))
		}
	}
	if lost := a.Calls() - before; lost != 0 {
		t.Errorf("the large route lost %d of its %d cached users to the small route's bound", lost, users)
	}
}

// publisher is a go-redis client of the test's Redis.
func publisher(t *testing.T, r *redistest.Server) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: r.Addr(), DialTimeout: time.Second, ReadTimeout: time.Second, MaxRetries: -1})
	t.Cleanup(func() { c.Close() })
	return c
}

// redisPrefix is a Redis key prefix of the test's own.
func redisPrefix(t *testing.T) string {
	tag := caseTag(t)
	return "t-" + tag[len(tag)-6:] + ":"
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// TestRevocationCoversEveryEntryOfACredential (item 5): revoking a token
// drops it also where it was cached together with a session cookie.
func TestRevocationCoversEveryEntryOfACredential(t *testing.T) {
	t.Parallel()
	rds := redistest.Start(t)
	a := newAuth(t)
	token := newToken("revoke")
	a.Set(token, fakerails.OK("u-rev"))
	prefix := redisPrefix(t)
	cfg := config(t, map[string]any{"auth_url": a.url, "cookie_names": []any{"_s"}, "redis_addrs": []any{rds.Addr()}, "redis_prefix": prefix})
	p := newPlugin()
	withCookie := request("Authorization", token, "Cookie", "_s="+newSecret("revcookie"))
	wantProxied(t, access(t, shared, p, cfg, withCookie), "X-User-ID", "u-rev", "X-User-Roles", "")
	before := a.Calls()
	wantProxied(t, access(t, shared, p, cfg, withCookie), "X-User-ID", "u-rev", "X-User-Roles", "")
	if a.Calls() != before {
		t.Fatalf("second request was not a cache hit")
	}

	a.Set(token, fakerails.Deny(401)) // revoked in Rails too
	msg, _ := json.Marshal(map[string]string{"credential_sha256": sha256Hex(token)})
	pub := publisher(t, rds)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// The subscriber may still be connecting: publish until one receives it.
	if !waitUntil(5*time.Second, func() bool { n, _ := pub.Publish(ctx, prefix+"revoke", msg).Result(); return n > 0 }) {
		t.Fatal("no subscriber received the revocation")
	}
	if !waitUntil(5*time.Second, func() bool {
		res := access(t, shared, p, cfg, withCookie)
		return res.Exit != nil && res.Exit.Status == 401
	}) {
		t.Error("token + session cookie still served after the token's revocation")
	}
}

// TestSlowRedisNeverFailsARequest (item 6): a frozen Redis costs a lookup at
// most a quarter of timeout, inside one deadline; a request that joined the
// shared call (both start together) gets its answer too.
func TestSlowRedisNeverFailsARequest(t *testing.T) {
	t.Parallel()
	rds := redistest.Start(t)
	a := newAuth(t)
	token := newToken("slowredis")
	a.Set(token, fakerails.Response{Status: 200, Identity: &fakerails.Identity{UserID: "u-slow"}, Delay: 600 * time.Millisecond})
	cfg := config(t, map[string]any{"auth_url": a.url, "timeout": 1000, "redis_timeout": 400,
		"redis_addrs": []any{rds.Addr()}, "redis_prefix": redisPrefix(t)})
	rds.Pause()
	t.Cleanup(rds.Resume)
	p := newPlugin()
	var wg sync.WaitGroup
	results := make([]*kongsim.Result, 2)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, _, err := timedAccess(shared, p, cfg, request("Authorization", token))
			if err != nil {
				t.Errorf("request %d: %v", i, err)
			}
			results[i] = res
		}()
	}
	wg.Wait()
	for i, res := range results {
		if res != nil {
			wantProxied(t, res, "X-User-ID", "u-slow", "X-User-Roles", "")
			t.Logf("request %d: %s", i, summary(res))
		}
	}
}

// TestStalePolicyPerRoute (item 7): two routes of one auth service share a
// failing call; only the one with stale_if_error serves the stale identity
// (the shared call found it in Redis).
func TestStalePolicyPerRoute(t *testing.T) {
	t.Parallel()
	rds := redistest.Start(t)
	a := newAuth(t)
	token := newToken("stale")
	a.Set(token, fakerails.OK("u-stale"))
	prefix := redisPrefix(t)
	route := func(stale int) map[string]any {
		return config(t, map[string]any{"auth_url": a.url, "cache_ttl": 0.2, "stale_if_error": stale, "retries": 0,
			"redis_addrs": []any{rds.Addr()}, "redis_prefix": prefix})
	}
	lenient, strict := route(3600), route(0)
	writer, _ := startServer(t) // puts the identity in Redis; the shared server has never seen it
	wantProxied(t, access(t, writer, newPlugin(), lenient, request("Authorization", token)), "X-User-ID", "u-stale", "X-User-Roles", "")
	fetched := time.Now()
	pub := publisher(t, rds)
	if !waitUntil(5*time.Second, func() bool {
		n, _ := pub.Exists(context.Background(), mustKeys(t, pub, prefix+"id:*")...).Result()
		return n == 1
	}) {
		t.Fatal("the identity did not reach Redis")
	}
	// Past cache_ttl: what expires an entry in the real binary is its clock.
	waitUntil(time.Second, func() bool { return time.Since(fetched) > 300*time.Millisecond })

	a.Set(token, fakerails.Response{Status: 503, Delay: 500 * time.Millisecond})
	before := a.Calls()
	pa, pb := newPlugin(), newPlugin()
	var wg sync.WaitGroup
	var ra, rb *kongsim.Result
	wg.Add(2)
	go func() { defer wg.Done(); ra, _, _ = timedAccess(shared, pa, lenient, request("Authorization", token)) }()
	// B joins A's call once it has reached the auth service.
	waitUntil(5*time.Second, func() bool { return a.Calls() > before })
	go func() { defer wg.Done(); rb, _, _ = timedAccess(shared, pb, strict, request("Authorization", token)) }()
	wg.Wait()
	if ra == nil || rb == nil {
		t.Fatal("an access event failed")
	}
	wantProxied(t, ra, "X-User-ID", "u-stale", "X-User-Roles", "")
	wantExit(t, rb, 502, "Bad response from authentication service")
}

// mustKeys lists the Redis keys matching pattern.
func mustKeys(t *testing.T, c *redis.Client, pattern string) []string {
	t.Helper()
	keys, err := c.Keys(context.Background(), pattern).Result()
	if err != nil || len(keys) == 0 {
		return []string{"none"}
	}
	return keys
}

// TestCookieValuesOutsideRFC6265 (item 8): a session cookie whose value
// could smuggle a second cookie to Rack is not forwarded.
func TestCookieValuesOutsideRFC6265(t *testing.T) {
	t.Parallel()
	a := newAuth(t)
	token := newToken("cookieval")
	a.Set(token, fakerails.OK("u-cv"))
	cfg := config(t, map[string]any{"auth_url": a.url, "cookie_names": []any{"_s"}})
	p := newPlugin()
	for _, v := range []string{"junk,remember_user_token=XYZ", "a b", `a"b`, `a\b`, "a\tb"} {
		wantExit(t, access(t, shared, p, cfg, request("Cookie", "_s="+v)), 401, "Authorization header is missing")
	}
	if a.Calls() != 0 {
		t.Errorf("%d auth calls for malformed session cookies, want 0", a.Calls())
	}
	wantProxied(t, access(t, shared, p, cfg, request("Authorization", token, "Cookie", "_s=junk,remember_user_token=XYZ")), "X-User-ID", "u-cv", "X-User-Roles", "")
	if rs := a.Requests(); len(rs) != 1 || rs[0].Cookie != "" {
		t.Errorf("auth service got Cookie %q, want none", rs[len(rs)-1].Cookie)
	}
}

// TestAuthURLUserinfo (item 9): userinfo in auth_url is refused by the
// schema, and by the plugin when a config bypasses the schema: the
// gateway's secret never stands in for a client's credential.
func TestAuthURLUserinfo(t *testing.T) {
	t.Parallel()
	a := newAuth(t)
	u := strings.Replace(a.url, "http://", "http://gw:"+newSecret("userinfo")+"@", 1)
	if _, err := kongsim.ProcessConfig(schema, map[string]any{"auth_url": u}); err == nil {
		t.Error("Kong's schema accepted an auth_url with userinfo")
	}
	cfg := config(t, map[string]any{"auth_url": a.url, "cookie_names": []any{"_s"}})
	cfg["auth_url"] = u // as a Kong without this schema would send it
	if res := access(t, shared, newPlugin(), cfg, request("Cookie", "_s=abc")); res.Exit == nil || res.Exit.Status != 500 {
		t.Errorf("config with userinfo: %s, want 500", describe(res))
	}
	if a.Calls() != 0 {
		t.Errorf("%d auth calls, want 0", a.Calls())
	}
}

// TestRedisValuesValidated (item 10): a value planted in Redis is checked
// like an answer of the auth service, and a fetch time in the future is
// never fresh.
func TestRedisValuesValidated(t *testing.T) {
	t.Parallel()
	rds := redistest.Start(t)
	writer, _ := startServer(t)
	reader, _ := startServer(t)
	pub := publisher(t, rds)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	future := time.Now().Add(time.Hour).UnixMilli()
	for _, tc := range []struct{ name, value string }{
		{"crlf", `{"u":"1\r\nX-Admin: yes","f":%d}`},
		{"comma", `{"u":"1","r":["admin,root"],"f":%d}`},
		{"future", fmt.Sprintf(`{"u":"planted","f":%d}`, future) + "%.0d"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newAuth(t)
			token := newToken("planted")
			a.Set(token, fakerails.OK("u-real"))
			prefix := redisPrefix(t)
			cfg := config(t, map[string]any{"auth_url": a.url, "redis_addrs": []any{rds.Addr()}, "redis_prefix": prefix})
			wantProxied(t, access(t, writer, newPlugin(), cfg, request("Authorization", token)), "X-User-ID", "u-real", "X-User-Roles", "")
			var keys []string
			waitUntil(5*time.Second, func() bool { keys, _ = pub.Keys(ctx, prefix+"id:*").Result(); return len(keys) == 1 })
			if len(keys) != 1 {
				t.Fatalf("%d shared entries, want 1", len(keys))
			}
			value := tc.value
			if strings.Contains(value, "%d") {
				value = fmt.Sprintf(value, time.Now().UnixMilli())
			} else {
				value = strings.TrimSuffix(value, "%.0d")
			}
			if err := pub.Set(ctx, keys[0], value, time.Hour).Err(); err != nil {
				t.Fatal(err)
			}
			before := a.Calls()
			wantProxied(t, access(t, reader, newPlugin(), cfg, request("Authorization", token)), "X-User-ID", "u-real", "X-User-Roles", "")
			if a.Calls() != before+1 {
				t.Errorf("planted value: %d auth calls, want 1 (the value must be ignored)", a.Calls()-before)
			}
		})
	}
}

// TestNoSecretsInLogsOrLabels (item 11): an auth_url query string and a
// Redis address with a password are never logged or used as a label.
func TestNoSecretsInLogsOrLabels(t *testing.T) {
	t.Parallel()
	addr := testutil.FreeAddr(t)
	s, out := startServer(t, "LEGACY_AUTH_METRICS_ADDR="+addr)
	key, pw := newSecret("apikey"), newSecret("redispw")
	down := "http://" + testutil.FreeAddr(t) + "/verify?api_key=" + key
	cfg := config(t, map[string]any{"auth_url": down, "breaker_threshold": 1, "retries": 0})
	for i := 0; i < 2; i++ {
		access(t, s, newPlugin(), cfg, request("Authorization", newToken("logs")))
	}
	bad := config(t, map[string]any{"auth_url": down})
	bad["redis_addrs"] = []any{"user:" + pw + "@127.0.0.1:6379"} // past the schema, as a Kong without it would send
	if res := access(t, s, newPlugin(), bad, request("Authorization", newToken("logs"))); res.Exit == nil || res.Exit.Status != 500 {
		t.Errorf("config with a password in redis_addrs: %s, want 500", describe(res))
	}
	if _, ok := waitOutput(out, "invalid configuration", "redis_addrs"); !ok {
		t.Fatalf("no config-error line for redis_addrs:\n%s", out.String())
	}
	if _, ok := waitOutput(out, "circuit breaker changed state"); !ok {
		t.Fatalf("no breaker line:\n%s", out.String())
	}
	metrics := ""
	if waitUntil(5*time.Second, func() bool {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
		metrics = string(b)
		return strings.Contains(metrics, "legacy_auth_breaker_state")
	}) {
		for _, line := range strings.Split(metrics, "\n") {
			if strings.HasPrefix(line, "legacy_auth_breaker_state{") {
				t.Logf("metric: %s", line)
			}
		}
	} else {
		t.Fatal("no legacy_auth_breaker_state metric")
	}
	for what, text := range map[string]string{"logs": out.String(), "metrics": metrics} {
		for _, secret := range []string{key, pw, "api_key"} {
			if strings.Contains(text, secret) {
				t.Errorf("%s contain %q", what, secret[:min(len(secret), 12)])
			}
		}
	}
}

// TestSchemaRefusesWhatThePluginRefuses (item 12): Kong's schema processing
// (the Admin API) answers these configs with an error instead of letting
// every request fail with 500.
func TestSchemaRefusesWhatThePluginRefuses(t *testing.T) {
	t.Parallel()
	base := "http://127.0.0.1:1/verify"
	for name, fields := range map[string]map[string]any{
		"user_id_header Authorization": {"user_id_header": "Authorization"},
		"user_id_header host":          {"user_id_header": "host"},
		"user_roles_header Cookie":     {"user_roles_header": "cOOkie"},
		"underscore spelling":          {"user_id_header": "Transfer_Encoding"},
		"roles equal to id":            {"user_id_header": "X-Who", "user_roles_header": "X-Who"},
		"extra header Cookie":          {"extra_headers": map[string]any{"email": "Cookie"}},
		"jwt_header = user_id_header":  {"jwt_header": "X-User-ID", "jwt_key_file": "/k.pem"},
	} {
		fields["auth_url"] = base
		if _, err := kongsim.ProcessConfig(schema, fields); err == nil {
			t.Errorf("%s: accepted by Kong's schema", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
}

// TestRequestsCountedOnce: legacy_auth_requests_total grows by exactly one
// per request, whatever the outcome (a Redis hit included).
func TestRequestsCountedOnce(t *testing.T) {
	t.Parallel()
	rds := redistest.Start(t)
	addr := testutil.FreeAddr(t)
	s, _ := startServer(t, "LEGACY_AUTH_METRICS_ADDR="+addr)
	writer, _ := startServer(t)
	metricsURL := "http://" + addr + "/metrics"
	if !waitUntil(5*time.Second, func() bool {
		resp, err := http.Get(metricsURL)
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	}) {
		t.Fatal("metrics endpoint not reachable")
	}
	a := newAuth(t)
	good, bad, other := newToken("count"), newToken("countbad"), newToken("countredis")
	a.Set(good, fakerails.OK("u-c"))
	a.Set(other, fakerails.OK("u-r"))
	prefix := redisPrefix(t)
	cfg := config(t, map[string]any{"auth_url": a.url, "redis_addrs": []any{rds.Addr()}, "redis_prefix": prefix})
	anon := config(t, map[string]any{"auth_url": a.url, "allow_anonymous": true})

	// Another node puts other's identity in Redis.
	wantProxied(t, access(t, writer, newPlugin(), cfg, request("Authorization", other)), "X-User-ID", "u-r", "X-User-Roles", "")
	pub := publisher(t, rds)
	if !waitUntil(5*time.Second, func() bool { return mustKeys(t, pub, prefix+"id:*")[0] != "none" }) {
		t.Fatal("the identity did not reach Redis")
	}
	p := newPlugin()
	reqs := []struct {
		cfg map[string]any
		r   *kongsim.Request
	}{
		{cfg, request("Authorization", good)}, {cfg, request("Authorization", good)}, // miss, hit
		{cfg, request("Authorization", bad)}, {cfg, request("Authorization", bad)}, // rejected, rejected_cached
		{cfg, request()}, {anon, request()}, // missing, anonymous
		{cfg, request("Authorization", other)}, // answered by Redis
	}
	for _, rq := range reqs {
		access(t, s, p, rq.cfg, rq.r)
	}
	// A second plugin of the same scope shares the answer through a sibling.
	access(t, s, newPlugin(), cfg, request("Authorization", good))
	total := 0.0
	for name, v := range scrape(t, metricsURL) {
		if strings.HasPrefix(name, "legacy_auth_requests_total{") {
			t.Logf("%s %g", name, v)
			total += v
		}
	}
	if want := float64(len(reqs) + 1); total != want {
		t.Errorf("legacy_auth_requests_total sums to %g over %g requests", total, want)
	}
}
