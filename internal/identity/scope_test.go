package identity

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/legacy-auth/legacy-auth/test/testutil"
)

// TestCredentialKeyUnambiguous: the kind and boundaries of each part are in
// the key.
func TestCredentialKeyUnambiguous(t *testing.T) {
	t.Parallel()
	sc := scope{id: strings.Repeat("s", scopeLen)}
	keys := map[string]credential{}
	for _, c := range []credential{
		{authorization: "_s=S"}, {cookie: "_s=S"},
		{authorization: "ab", cookie: "c"}, {authorization: "a", cookie: "bc"},
		{authorization: "a\nb"}, {authorization: "a", cookie: "b"},
	} {
		k := credentialKey(sc, c)
		if prev, ok := keys[k]; ok {
			t.Errorf("%+v and %+v share a key", prev, c)
		}
		keys[k] = c
	}
	other := scope{id: strings.Repeat("o", scopeLen)}
	if credentialKey(sc, credential{authorization: "x"}) == credentialKey(other, credential{authorization: "x"}) {
		t.Error("two scopes share a key")
	}
}

// TestScopeFields: every setting that changes how an answer is obtained or
// trusted changes the scope; policy does not.
func TestScopeFields(t *testing.T) {
	t.Parallel()
	base := func() Settings {
		u, _ := url.Parse("https://rails.internal/verify")
		return Settings{AuthURL: u, AuthMethod: "POST", TLS: TLSSettings{Verify: true}, CacheTTL: time.Minute}
	}
	ref := newScope(base())
	for name, change := range map[string]func(*Settings){
		"method": func(s *Settings) { s.AuthMethod = "GET" },
		"url":    func(s *Settings) { s.AuthURL, _ = url.Parse("https://rails.internal/verify2") },
		"verify": func(s *Settings) { s.TLS.Verify = false },
		"ca":     func(s *Settings) { s.TLS.CAFile = "/ca.pem" },
		"cert":   func(s *Settings) { s.TLS.CertFile = "/c.pem" },
		"key":    func(s *Settings) { s.TLS.KeyFile = "/k.pem" },
		"extras": func(s *Settings) { s.Extras = []ExtraHeader{{Field: "email", Header: "X-Email"}} },
		"extra set": func(s *Settings) {
			s.Extras = []ExtraHeader{{Field: "e", Header: "X-E"}, {Field: "mail", Header: "X-M"}}
		},
	} {
		s := base()
		change(&s)
		if newScope(s).id == ref.id {
			t.Errorf("%s: same scope", name)
		}
	}
	s := base()
	s.CacheTTL, s.StaleIfError, s.NegativeTTL, s.Timeout = time.Hour, time.Hour, time.Hour, time.Second
	if newScope(s).id != ref.id {
		t.Error("policy changed the scope")
	}
	u, _ := url.Parse("https://rails.internal/verify?api_key=SECRET#x")
	if got := redactURL(u); got != "https://rails.internal/verify" {
		t.Errorf("redactURL = %q", got)
	}
}

// TestPolicyPerRoute: two routes of one scope share answers, each judging
// age by its own cache_ttl and stale_if_error (injected clock).
func TestPolicyPerRoute(t *testing.T) {
	t.Parallel()
	clock := testutil.NewClock()
	var fail atomic.Bool
	srv, calls := flakyService(t, func(_ int64, w http.ResponseWriter, r *http.Request) {
		if fail.Load() {
			w.WriteHeader(503)
			return
		}
		okAnswer(w, r)
	})
	lenient := mustCompile(t, &Config{AuthURL: srv.URL, CacheTTL: ptr(10.0), StaleIfError: ptr(3600.0), Retries: ptr(0), PluginID: "lenient"})
	strict := mustCompile(t, &Config{AuthURL: srv.URL, CacheTTL: ptr(60.0), StaleIfError: ptr(0.0), Retries: ptr(0), PluginID: "strict"})
	lenient.now, strict.now = clock.Now, clock.Now

	if _, err := lenient.Authenticate(context.Background(), authRequest("Bearer p")); err != nil {
		t.Fatal(err)
	}
	// The strict route takes the lenient route's fresh answer: no call.
	if _, err := strict.Authenticate(context.Background(), authRequest("Bearer p")); err != nil || calls.Load() != 1 {
		t.Fatalf("strict route: err %v, %d calls, want a shared answer", err, calls.Load())
	}
	clock.Advance(30 * time.Second) // stale for lenient (10 s), fresh for strict (60 s)
	if _, err := strict.Authenticate(context.Background(), authRequest("Bearer p")); err != nil || calls.Load() != 1 {
		t.Fatalf("strict route at 30 s: err %v, %d calls, want a hit", err, calls.Load())
	}
	fail.Store(true)
	if _, err := lenient.Authenticate(context.Background(), authRequest("Bearer p")); err != nil {
		t.Errorf("lenient route during an outage: %v, want the stale identity", err)
	}
	clock.Advance(time.Minute) // past strict's cache_ttl, which has no stale window
	if _, err := strict.Authenticate(context.Background(), authRequest("Bearer p")); err == nil {
		t.Error("strict route served a stale identity")
	}
}

// TestFutureFetchTimeNeverFresh: an entry fetched "later than now" is
// neither fresh nor stale.
func TestFutureFetchTimeNeverFresh(t *testing.T) {
	t.Parallel()
	e := &Engine{Settings: Settings{CacheTTL: time.Minute, StaleIfError: time.Hour}}
	now := time.Now()
	ent := &cacheEntry{fetched: now.Add(time.Second)}
	if e.fresh(ent, now) || e.withinStale(ent, now) {
		t.Error("a future fetch time was served")
	}
}

// TestRedisClientsPruned: many password rotations leave one live client
// once the old ones are idle.
func TestRedisClientsPruned(t *testing.T) {
	addr := "127.0.0.1:1" // never dialled successfully: the clients connect lazily
	prefix := fmt.Sprintf("rot-%d:", time.Now().UnixNano())
	var last *Engine
	for i := 0; i < 20; i++ {
		last = mustCompile(t, &Config{AuthURL: "http://127.0.0.1:1/v", RedisAddrs: []string{addr}, RedisPrefix: prefix, RedisPassword: fmt.Sprint("pw", i)})
	}
	live := func() int { return redisClientsFor(prefix) }
	if live() != 20 {
		t.Fatalf("%d clients after 20 rotations, want 20 before pruning", live())
	}
	future := time.Now().Add(redisIdle + time.Minute)
	last.shared.touch(future)
	pruneRedis(future)
	if n := live(); n != 1 {
		t.Errorf("%d clients after pruning, want 1 (the one in use)", n)
	}
	if last.shared.get(future) == nil {
		t.Error("the engine in use lost its client")
	}
}

// redisClientsFor counts the open Redis clients whose settings name prefix.
func redisClientsFor(prefix string) int {
	redisClients.Lock()
	defer redisClients.Unlock()
	n := 0
	for k := range redisClients.m {
		if strings.Contains(k, prefix) {
			n++
		}
	}
	return n
}
