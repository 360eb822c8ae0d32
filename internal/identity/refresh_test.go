package identity

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/legacy-auth/legacy-auth/test/testutil"
	promtest "github.com/prometheus/client_golang/prometheus/testutil"
)

// waitRefreshes waits until the refresh counter of result has grown by n.
func waitRefreshes(t *testing.T, result string, from float64, n float64) {
	t.Helper()
	c := refreshes.WithLabelValues(result)
	testutil.WaitFor(t, 10*time.Second, "a background refresh ("+result+")", func() bool {
		return promtest.ToFloat64(c) >= from+n
	})
}

// TestRefreshAhead (issue 20, item 3): a hit in the last part of cache_ttl
// refreshes the identity in the background, once, so the user's request
// after the first entry's expiry is a hit and makes no call it waits for.
func TestRefreshAhead(t *testing.T) {
	srv := newAuthService(t, map[string]string{"Bearer active": `{"user_id":"active"}`})
	calls := &srv.calls
	rt := mustCompile(t, &Config{AuthURL: srv.URL + "/refresh", CacheTTL: ptr(10.0)})
	clock := testutil.NewClock()
	rt.now = clock.Now
	req := authRequest("Bearer active")
	auth := func() Outcome {
		t.Helper()
		d, err := rt.Authenticate(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		return d.Outcome
	}
	if o := auth(); o != OutcomeMiss || calls.Load() != 1 {
		t.Fatalf("first request: %s, %d calls", o, calls.Load())
	}
	clock.Advance(5 * time.Second) // before the refresh window (70–85 % of cache_ttl)
	if o := auth(); o != OutcomeHit || calls.Load() != 1 {
		t.Fatalf("mid-life hit: %s, %d calls; want a hit and no refresh", o, calls.Load())
	}
	before := promtest.ToFloat64(refreshOK)
	clock.Advance(4 * time.Second) // 9 s: inside every entry's window, before its expiry (≥ 9 s)
	if o := auth(); o != OutcomeHit {
		t.Fatalf("late hit: %s, want the cached identity at once", o)
	}
	waitRefreshes(t, "ok", before, 1)
	if calls.Load() != 2 {
		t.Fatalf("%d calls after the refresh, want 2", calls.Load())
	}
	for range 3 {
		auth() // the refreshed entry: no second refresh
	}
	clock.Advance(2 * time.Second) // 11 s: the first entry has expired, the refreshed one is 2 s old
	if o := auth(); o != OutcomeHit || calls.Load() != 2 {
		t.Errorf("after the first entry's expiry: %s, %d calls; want a hit, no call", o, calls.Load())
	}
}

// TestRefreshAheadRejected: a 401 on refresh drops the identity.
func TestRefreshAheadRejected(t *testing.T) {
	var revoked atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if revoked.Load() {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		fmt.Fprint(w, `{"user_id":"gone"}`)
	}))
	t.Cleanup(srv.Close)
	rt := mustCompile(t, &Config{AuthURL: srv.URL + "/rejected", CacheTTL: ptr(10.0)})
	clock := testutil.NewClock()
	rt.now = clock.Now
	req := authRequest("Bearer gone")
	if _, err := rt.Authenticate(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	revoked.Store(true)
	before := promtest.ToFloat64(refreshDropped)
	clock.Advance(9 * time.Second)
	if _, err := rt.Authenticate(context.Background(), req); err != nil {
		t.Fatalf("the late hit itself is still served: %v", err)
	}
	waitRefreshes(t, "dropped", before, 1)
	_, err := rt.Authenticate(context.Background(), req)
	var rejected *RejectedError
	if !errors.As(err, &rejected) {
		t.Errorf("after a 401 on refresh: %v, want the rejection (entry dropped)", err)
	}
}

// TestRefreshAheadYieldsToRequests: with every permit taken, a background
// refresh is shed at once, never queued ahead of a waiting request.
func TestRefreshAheadYieldsToRequests(t *testing.T) {
	srv := newAuthService(t, map[string]string{"Bearer busy": `{"user_id":"busy"}`})
	calls := &srv.calls
	rt := mustCompile(t, &Config{AuthURL: srv.URL + "/busy", CacheTTL: ptr(10.0), MaxConcurrentCalls: ptr(1)})
	clock := testutil.NewClock()
	rt.now = clock.Now
	req := authRequest("Bearer busy")
	if _, err := rt.Authenticate(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	permit, ok := rt.admission.limiter.TryAcquirePermit() // Rails busy with someone else
	if !ok {
		t.Fatal("no permit free")
	}
	before := promtest.ToFloat64(refreshShed)
	clock.Advance(9 * time.Second)
	if _, err := rt.Authenticate(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	waitRefreshes(t, "shed", before, 1)
	if calls.Load() != 1 {
		t.Errorf("%d calls: the shed refresh reached Rails", calls.Load())
	}
	// A shed refresh was not a try: once Rails has a free permit, the next
	// hit in the window refreshes.
	permit.Drop()
	okBefore := promtest.ToFloat64(refreshOK)
	if _, err := rt.Authenticate(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	waitRefreshes(t, "ok", okBefore, 1)
	if calls.Load() != 2 {
		t.Errorf("%d calls, want the retried refresh's", calls.Load())
	}
}

// Entries cached together expire at different moments.
func TestExpiryJitter(t *testing.T) {
	t.Parallel()
	e := &Engine{Settings: Settings{CacheTTL: 100 * time.Second}}
	seen := map[time.Duration]bool{}
	for range 50 {
		d := e.freshFor(&cacheEntry{jitter: newJitter()})
		if d > 100*time.Second || d < 90*time.Second {
			t.Fatalf("fresh for %s, want within the last 10 %% of cache_ttl", d)
		}
		seen[d] = true
	}
	if len(seen) < 40 {
		t.Errorf("50 entries expire at %d moments, want them spread", len(seen))
	}
	short := &Engine{Settings: Settings{CacheTTL: time.Second}}
	if d := short.freshFor(&cacheEntry{jitter: 0.9}); d != time.Second {
		t.Errorf("a 1 s cache_ttl fresh for %s: short caches have no jitter", d)
	}
}
