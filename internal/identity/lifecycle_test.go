package identity

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/legacy-auth/legacy-auth/test/redistest"
	"github.com/legacy-auth/legacy-auth/test/testutil"
	"github.com/redis/go-redis/v9"
)

// TestRotationsLeaveNothingBehind (issue 18, item 7): a configuration
// rotated 100 times on one Kong plugin id leaves no Redis connection,
// file descriptor, goroutine, partition or breaker of the 99 replaced
// ones. Every replaced Config stays reachable (go-pdk may keep an instance
// for a while): only the successor rule can release them, not the
// collector. Not parallel: it counts the process's goroutines and FDs.
func TestRotationsLeaveNothingBehind(t *testing.T) {
	const rotations = 100
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, `{"user_id":"u-rot"}`) })
	svc := httptest.NewServer(ok)
	t.Cleanup(svc.Close)
	ca := testutil.NewCA(t)
	tlsSvc := httptest.NewUnstartedServer(ok)
	tlsSvc.TLS = ca.ServerTLS(t)
	tlsSvc.StartTLS()
	t.Cleanup(tlsSvc.Close)
	rds := redistest.Start(t)
	admin := redis.NewClient(&redis.Options{Addr: rds.Addr()})
	t.Cleanup(func() { admin.Close() })
	ctx := context.Background()
	acl := []any{"ACL", "SETUSER", "rot", "on", "~*", "&*", "+@all"}
	for i := range rotations {
		acl = append(acl, fmt.Sprintf(">pw-%d", i))
	}
	if err := admin.Do(ctx, acl...).Err(); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	rs, _, _, _ := providerKeys(t)
	jwks := newJWKSServer(t, rs)

	for _, tc := range []struct {
		kind   string
		config func(i int) *Config
		// left counts what the replaced configurations still hold.
		left func() int
		// steady is what one live configuration holds at most, whatever
		// was connected when the baseline was taken (the revocation
		// subscriber connects in the background).
		steady int
	}{
		{
			kind: "redis_password",
			config: func(i int) *Config {
				return &Config{AuthURL: svc.URL + "/verify", RedisAddrs: []string{rds.Addr()}, RedisUsername: "rot", RedisPassword: fmt.Sprintf("pw-%d", i)}
			},
			left:   func() int { return redisConnections(t, admin, "rot") },
			steady: 2, // a pool connection and the subscriber's
		},
		{
			kind: "tls_ca_file",
			config: func(i int) *Config {
				return &Config{AuthURL: tlsSvc.URL + "/verify", TLSCAFile: testutil.WritePEM(t, dir, fmt.Sprintf("ca-%d.pem", i), "CERTIFICATE", ca.DER)}
			},
			left: func() int { return countMap(&transports) + countMap(&tlsFiles) },
		},
		{
			// Each issuer's key set runs a background refresh: a replaced
			// configuration's stops with its last holder.
			kind: "jwks_uri",
			config: func(i int) *Config {
				return &Config{AuthURL: svc.URL + "/verify", Issuers: []Issuer{{Issuer: "https://idp.rot", JWKSURI: fmt.Sprintf("%s/?v=%d", jwks.URL, i),
					Audiences: []string{"api"}, Algorithms: []string{"RS256"}, UserIDClaim: "sub", RolesClaim: "roles"}}}
			},
			left: func() int {
				jwksSets.Lock()
				defer jwksSets.Unlock()
				n := 0
				for uri := range jwksSets.m {
					if strings.HasPrefix(uri, jwks.URL) {
						n++
					}
				}
				return n
			},
		},
		{
			kind:   "auth_url",
			config: func(i int) *Config { return &Config{AuthURL: fmt.Sprintf("%s/verify?v=%d", svc.URL, i)} },
			left: func() int {
				n := 0
				for _, p := range partitions.all() {
					if strings.Contains(p.key, "rotate-auth_url") {
						n++
					}
				}
				return n + countMap(&breakers)
			},
		},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			pluginID := "rotate-" + tc.kind
			var keep []*Config
			request := func(i int) {
				cfg := tc.config(i)
				cfg.PluginID = pluginID
				keep = append(keep, cfg)
				// What Access does around the PDK calls (go-pdk's test
				// environment leaks two goroutines per request: not used
				// where goroutines are counted).
				rt, err := cfg.compile()
				if err != nil {
					t.Fatalf("rotation %d: %v", i, err)
				}
				rt.enter()
				d, err := rt.Authenticate(ctx, authRequest(fmt.Sprintf("Bearer rot-%s-%d", tc.kind, i)))
				rt.leave()
				if err != nil || d.Set["X-User-ID"][0] != "u-rot" {
					t.Fatalf("rotation %d: %v %v", i, d.Set, err)
				}
			}
			request(0)
			baseLeft, baseG, baseFD := tc.left(), runtime.NumGoroutine(), openFDs(t)
			for i := 1; i < rotations; i++ {
				request(i)
			}
			var left, g, fd int
			released := func() bool {
				left, g, fd = tc.left(), runtime.NumGoroutine(), openFDs(t)
				return left <= max(baseLeft, tc.steady) && g <= baseG+10 && fd <= baseFD+10
			}
			for deadline := time.Now().Add(20 * time.Second); !released() && time.Now().Before(deadline); {
				time.Sleep(20 * time.Millisecond) // polling an outcome, not timing one
			}
			if !released() {
				t.Fatalf("%s after %d rotations: held %d (after the first: %d), goroutines %d (%d), FDs %d (%d)",
					tc.kind, rotations, left, baseLeft, g, baseG, fd, baseFD)
			}
			t.Logf("%s after %d rotations: held %d (after the first: %d), goroutines %d (%d), FDs %d (%d)",
				tc.kind, rotations, left, baseLeft, g, baseG, fd, baseFD)
			runtime.KeepAlive(keep)
		})
	}
}

// redisConnections counts Redis's clients logged in as user.
func redisConnections(t *testing.T, admin *redis.Client, user string) int {
	list, err := admin.ClientList(context.Background()).Result()
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(list, " user="+user+" ")
}

func openFDs(t *testing.T) int {
	entries, err := os.ReadDir(filepath.Join("/proc", "self", "fd"))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	return len(entries)
}

func countMap(m interface{ Range(func(k, v any) bool) }) int {
	n := 0
	m.Range(func(any, any) bool { n++; return true })
	return n
}

// A retired engine lets go only when its last request has left, and a
// resource closes only when its last holder lets go.
func TestRetireWaitsForInflight(t *testing.T) {
	t.Parallel()
	closed := 0
	r := resource{key: "test|inflight", close: func() { closed++ }}
	var a, b lifecycle
	a.own(r)
	b.own(r)
	a.enter()
	a.retire()
	if closed != 0 || held(r.key) != 2 {
		t.Fatalf("released with a request in flight (closed %d, held %d)", closed, held(r.key))
	}
	a.leave()
	if closed != 0 || held(r.key) != 1 {
		t.Fatalf("after the last request: closed %d, held %d; want 0 and 1 (b still holds it)", closed, held(r.key))
	}
	b.retire()
	b.retire() // idempotent
	if closed != 1 || held(r.key) != 0 {
		t.Fatalf("after the last holder: closed %d, held %d; want 1 and 0", closed, held(r.key))
	}
}

// held reports how many engines hold key.
func held(key string) int {
	resourceRefs.Lock()
	defer resourceRefs.Unlock()
	return resourceRefs.n[key]
}
