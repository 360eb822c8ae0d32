package identity

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// The plugin's own work per request, without the PDK round trips (counted
// separately, end to end, in test/e2e): run with
//   go test ./plugin -run '^$' -bench . -benchmem

func benchService(b *testing.B, status int) *httptest.Server {
	b.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if status != 200 {
			w.WriteHeader(status)
			return
		}
		fmt.Fprint(w, `{"user_id":"12345","roles":["admin","editor"]}`)
	}))
	b.Cleanup(srv.Close)
	return srv
}

func benchRuntime(b *testing.B, cfg *Config) *Engine {
	b.Helper()
	rt, err := cfg.compile()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { runtime.KeepAlive(cfg) }) // see mustCompile
	return rt
}

// benchAccess times Authenticate on h, which must succeed (ok) or be
// refused.
func benchAccess(b *testing.B, rt *Engine, h map[string][]string, ok bool) {
	b.Helper()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := rt.Authenticate(context.Background(), h); (err == nil) != ok {
			b.Fatalf("want accepted %t, got %v", ok, err)
		}
	}
}

// typicalHeaders is a browser-like request: the plugin scans every header
// for spoofed identity names, so the header count is part of the cost.
func typicalHeaders(token string) map[string][]string {
	return map[string][]string{
		"host": {"api.example.com"}, "user-agent": {"Mozilla/5.0"}, "accept": {"application/json"},
		"accept-encoding": {"gzip, br"}, "accept-language": {"en-GB"}, "connection": {"keep-alive"},
		"x-request-id": {"5f0c7c1e"}, "authorization": {token},
	}
}

func BenchmarkAccessCacheHit(b *testing.B) {
	rt := benchRuntime(b, &Config{AuthURL: benchService(b, 200).URL})
	h := typicalHeaders("Bearer bench-hit")
	if _, err := rt.Authenticate(context.Background(), h); err != nil {
		b.Fatal(err)
	}
	benchAccess(b, rt, h, true)
}

func BenchmarkAccessCacheHitParallel(b *testing.B) {
	rt := benchRuntime(b, &Config{AuthURL: benchService(b, 200).URL})
	h := typicalHeaders("Bearer bench-hit-parallel")
	if _, err := rt.Authenticate(context.Background(), h); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			rt.Authenticate(context.Background(), h)
		}
	})
}

// BenchmarkAccessMiss: every request asks a local auth service (cache_ttl 0).
func BenchmarkAccessMiss(b *testing.B) {
	rt := benchRuntime(b, &Config{AuthURL: benchService(b, 200).URL + "/miss", CacheTTL: ptr(0.0)})
	h := typicalHeaders("Bearer bench-miss")
	benchAccess(b, rt, h, true)
}

// BenchmarkAccessRejected: a bad token answered by the auth service each time.
func BenchmarkAccessRejected(b *testing.B) {
	rt := benchRuntime(b, &Config{AuthURL: benchService(b, 401).URL, NegativeTTL: ptr(0.0), BreakerThreshold: ptr(0)})
	h := typicalHeaders("Bearer bench-bad")
	benchAccess(b, rt, h, false)
}

// BenchmarkAccessRejectedCached: a bad token answered from the negative cache.
func BenchmarkAccessRejectedCached(b *testing.B) {
	rt := benchRuntime(b, &Config{AuthURL: benchService(b, 401).URL + "/neg"})
	h := typicalHeaders("Bearer bench-bad-cached")
	rt.Authenticate(context.Background(), h)
	benchAccess(b, rt, h, false)
}

// BenchmarkCacheMemory reports the heap held per cached identity at
// 100,000 entries (metric bytes/entry). The measurement is made once,
// whatever b.N: it is a size, not a speed.
func BenchmarkCacheMemory(b *testing.B) {
	rt := benchRuntime(b, &Config{AuthURL: benchService(b, 200).URL + "/mem", BreakerThreshold: ptr(0)})
	b.ReportMetric(measureCacheMemory(b, rt, 100000), "bytes/entry")
	for range b.N {
	}
}

// providerBench is an engine trusting an RS256 issuer, and a token of it.
func providerBench(b *testing.B, edit func(*Config)) (*Engine, map[string][]string) {
	rs, _, _, _ := providerKeys(b)
	jwks := newJWKSServer(b, rs)
	rails, _ := railsCounting(b)
	rt := providerEngine(b, rails.URL, jwks, edit)
	return rt, typicalHeaders("Bearer " + sign(b, rs, jwt.MapClaims{"realm_access": map[string]any{"roles": []string{"admin", "editor"}}}))
}

// BenchmarkAccessProviderHit: a provider token served from the cache (the
// same path as a Rails hit, plus the exp check).
func BenchmarkAccessProviderHit(b *testing.B) {
	rt, h := providerBench(b, nil)
	if _, err := rt.Authenticate(context.Background(), h); err != nil {
		b.Fatal(err)
	}
	benchAccess(b, rt, h, true)
}

// BenchmarkAccessProviderMiss: every request verifies the token (RS256,
// 2048-bit) against the cached key set (cache_ttl 0): no network.
func BenchmarkAccessProviderMiss(b *testing.B) {
	rt, h := providerBench(b, func(c *Config) { c.CacheTTL = ptr(0.0) })
	benchAccess(b, rt, h, true)
}

// BenchmarkAccessProviderForged: a token of the issuer with a bad
// signature, verified and refused each time (negative_ttl 0): what a flood
// of forged tokens costs the gateway, and Rails nothing.
func BenchmarkAccessProviderForged(b *testing.B) {
	rt, h := providerBench(b, func(c *Config) { c.NegativeTTL = ptr(0.0) })
	tok := h["authorization"][0]
	h["authorization"] = []string{tok[:len(tok)-4] + "AAAA"}
	benchAccess(b, rt, h, false)
}
