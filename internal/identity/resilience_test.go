package identity

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	goruntime "runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/legacy-auth/legacy-auth/test/testutil"
)

// flakyService answers from a function of the call number, counting calls.
func flakyService(t testing.TB, answer func(n int64, w http.ResponseWriter, r *http.Request)) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		answer(calls.Add(1), w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

func okAnswer(w http.ResponseWriter, r *http.Request) {
	fmt.Fprintf(w, `{"user_id":%q,"roles":["user"]}`, r.Header.Get("Authorization"))
}

// TestCoalescing: 1,000 concurrent requests for one cold token make exactly
// one auth call, and every request gets the identity.
func TestCoalescing(t *testing.T) {
	t.Parallel()
	// Without coalescing the service holds each answer until a second call
	// is in flight (bounded), so concurrent misses are proven concurrent;
	// with it, exactly one call is the claim whatever the timing (a late
	// request finds the stored answer).
	var inFlight atomic.Int64
	var holdUntilTwo atomic.Bool
	srv, calls := flakyService(t, func(_ int64, w http.ResponseWriter, r *http.Request) {
		inFlight.Add(1)
		defer inFlight.Add(-1)
		if holdUntilTwo.Load() {
			deadline := time.NewTimer(3 * time.Second)
			defer deadline.Stop()
			tick := time.NewTicker(time.Millisecond)
			defer tick.Stop()
			for inFlight.Load() < 2 {
				select {
				case <-deadline.C:
					okAnswer(w, r)
					return
				case <-tick.C:
				}
			}
		}
		okAnswer(w, r)
	})
	for _, tc := range []struct {
		name      string
		coalesce  bool
		wantCalls func(int64) bool
	}{
		{"on", true, func(n int64) bool { return n == 1 }},
		{"off", false, func(n int64) bool { return n > 1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls.Store(0)
			holdUntilTwo.Store(!tc.coalesce)
			rt := mustCompile(t, &Config{AuthURL: srv.URL + "/" + tc.name, Coalesce: &tc.coalesce, Timeout: ptr(5000.0)})
			n := 1000
			if !tc.coalesce {
				n = 100 // one call each: enough to show they run concurrently
			}
			var wg sync.WaitGroup
			var failed atomic.Int64
			start := make(chan struct{})
			for i := 0; i < n; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					set, err := rt.Authenticate(context.Background(), authRequest("Bearer cold-"+tc.name))
					if err != nil || set.Set["X-User-ID"][0] != "Bearer cold-"+tc.name {
						failed.Add(1)
					}
				}()
			}
			close(start)
			wg.Wait()
			if failed.Load() != 0 {
				t.Errorf("%d of %d requests failed", failed.Load(), n)
			}
			if got := calls.Load(); !tc.wantCalls(got) {
				t.Errorf("coalesce=%v: %d auth calls for %d concurrent requests", tc.coalesce, got, n)
			}
			t.Logf("coalesce=%v: %d requests, %d auth calls", tc.coalesce, n, calls.Load())
		})
	}
}

// TestOutage: the auth service goes down for longer than cache_ttl.
// Established users keep passing (stale-if-error), new users get 503 with
// Retry-After within milliseconds once the breaker is open, nothing hangs.
func TestOutage(t *testing.T) {
	t.Parallel()
	var down atomic.Bool
	srv, calls := flakyService(t, func(_ int64, w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			// Hijack and close: what a crashed Rails behind a live port looks like.
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close()
			return
		}
		okAnswer(w, r)
	})
	// A generous timeout: the warm-up must not fail on a loaded machine.
	rt := mustCompile(t, &Config{AuthURL: srv.URL, CacheTTL: ptr(0.2), StaleIfError: ptr(60.0), Timeout: ptr(10000.0)})
	clock := testutil.NewClock()
	rt.now = clock.Now

	const users = 50
	for i := 0; i < users; i++ {
		if _, err := rt.Authenticate(context.Background(), authRequest(fmt.Sprintf("Bearer user-%d", i))); err != nil {
			t.Fatalf("warm-up: %v", err)
		}
	}
	down.Store(true)
	clock.Advance(300 * time.Millisecond) // every entry is now past cache_ttl

	passed := 0
	for i := 0; i < users; i++ {
		set, err := rt.Authenticate(context.Background(), authRequest(fmt.Sprintf("Bearer user-%d", i)))
		if err == nil && set.Set["X-User-ID"][0] == fmt.Sprintf("Bearer user-%d", i) {
			passed++
		}
	}
	if passed != users {
		t.Errorf("established users passing during the outage: %d/%d, want all", passed, users)
	}

	// New users: the breaker is open by now (5 consecutive failures), so they
	// are refused without a call instead of waiting for the timeout (the
	// latency of that refusal is make bench's figure).
	before := calls.Load()
	for i := 0; i < 20; i++ {
		_, err := rt.Authenticate(context.Background(), authRequest(fmt.Sprintf("Bearer new-%d", i)))
		status, _, h := response(err)
		if status != 503 {
			t.Fatalf("new user during outage: status %d, want 503", status)
		}
		if h["Retry-After"] == nil {
			t.Errorf("503 with an open breaker has no Retry-After header")
		}
	}
	if n := calls.Load() - before; n != 0 {
		t.Errorf("%d auth calls for new users with the breaker open, want 0", n)
	}
	t.Logf("outage: %d/%d established users served stale; 20 new users refused with no auth call; %d auth calls",
		passed, users, calls.Load())
}

// TestSlowAuthService: an auth service slower than timeout bounds latency at
// timeout, even with retries configured.
func TestSlowAuthService(t *testing.T) {
	t.Parallel()
	srv, _ := flakyService(t, func(_ int64, w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(3 * time.Second):
		case <-r.Context().Done():
		}
	})
	// The service answers after 3 s (an empty 200, which would be a 500):
	// a 503 proves the timeout cut the call, retries included. The
	// latency is make bench's figure.
	rt := mustCompile(t, &Config{AuthURL: srv.URL, Timeout: ptr(200.0), Retries: ptr(3), BreakerThreshold: ptr(0)})
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			_, err := rt.Authenticate(context.Background(), authRequest(fmt.Sprintf("Bearer slow-%d", i)))
			if status, _, _ := response(err); status != 503 {
				t.Errorf("status %d, want 503", status)
			}
		}(i)
	}
	wg.Wait()
}

// TestRetries: only connection errors and 502/503/504 are retried.
func TestRetries(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		first     int // status of the first answer; later answers are 200
		wantCalls int64
		wantOK    bool
	}{
		{"503 retried", 503, 2, true},
		{"502 retried", 502, 2, true},
		{"504 retried", 504, 2, true},
		{"500 not retried", 500, 1, false},
		{"401 not retried", 401, 1, false},
		{"404 not retried", 404, 1, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv, calls := flakyService(t, func(n int64, w http.ResponseWriter, r *http.Request) {
				if n == 1 {
					w.WriteHeader(tc.first)
					return
				}
				okAnswer(w, r)
			})
			rt := mustCompile(t, &Config{AuthURL: srv.URL})
			_, err := rt.Authenticate(context.Background(), authRequest("Bearer r"))
			if (err == nil) != tc.wantOK || calls.Load() != tc.wantCalls {
				t.Errorf("err=%v calls=%d, want ok=%v calls=%d", err, calls.Load(), tc.wantOK, tc.wantCalls)
			}
		})
	}
}

// TestNegativeCache: a rejected token is remembered for negative_ttl.
func TestNegativeCache(t *testing.T) {
	t.Parallel()
	srv, calls := flakyService(t, func(_ int64, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(403) })
	rt := mustCompile(t, &Config{AuthURL: srv.URL, NegativeTTL: ptr(1.0)})
	clock := testutil.NewClock()
	rt.now = clock.Now
	for i := 0; i < 5; i++ {
		_, err := rt.Authenticate(context.Background(), authRequest("Bearer banned"))
		if status, _, _ := response(err); status != 403 {
			t.Fatalf("status %d, want 403", status)
		}
	}
	if calls.Load() != 1 {
		t.Errorf("%d auth calls for 5 requests with a cached rejection, want 1", calls.Load())
	}
	clock.Advance(1100 * time.Millisecond)
	rt.Authenticate(context.Background(), authRequest("Bearer banned"))
	if calls.Load() != 2 {
		t.Errorf("%d auth calls after negative_ttl, want 2", calls.Load())
	}

	off := mustCompile(t, &Config{AuthURL: srv.URL + "/off", NegativeTTL: ptr(0.0)})
	off.Authenticate(context.Background(), authRequest("Bearer banned"))
	off.Authenticate(context.Background(), authRequest("Bearer banned"))
	if calls.Load() != 4 {
		t.Errorf("negative_ttl 0 must not cache rejections: %d calls, want 4", calls.Load())
	}
}

// TestRejectionNeverServedStale: a 401 after expiry wins over the stale identity.
func TestRejectionNeverServedStale(t *testing.T) {
	t.Parallel()
	srv, _ := flakyService(t, func(n int64, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			okAnswer(w, r)
			return
		}
		w.WriteHeader(401) // revoked
	})
	rt := mustCompile(t, &Config{AuthURL: srv.URL, CacheTTL: ptr(0.1), StaleIfError: ptr(60.0)})
	clock := testutil.NewClock()
	rt.now = clock.Now
	rt.Authenticate(context.Background(), authRequest("Bearer revoked"))
	clock.Advance(150 * time.Millisecond)
	_, err := rt.Authenticate(context.Background(), authRequest("Bearer revoked"))
	if status, _, _ := response(err); status != 401 {
		t.Fatalf("revoked token got %d, want 401", status)
	}
}

// TestBreakerPerAuthURL: one failing auth service does not open the
// breaker of another.
func TestBreakerPerAuthURL(t *testing.T) {
	t.Parallel()
	bad, badCalls := flakyService(t, func(_ int64, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(500) })
	good, _ := flakyService(t, func(_ int64, w http.ResponseWriter, r *http.Request) { okAnswer(w, r) })
	rtBad := mustCompile(t, &Config{AuthURL: bad.URL, BreakerThreshold: ptr(3), BreakerCooldown: ptr(1.0)})
	rtGood := mustCompile(t, &Config{AuthURL: good.URL, BreakerThreshold: ptr(3)})
	for i := 0; i < 10; i++ {
		rtBad.Authenticate(context.Background(), authRequest(fmt.Sprintf("Bearer b%d", i)))
	}
	if badCalls.Load() != 3 {
		t.Errorf("failing service got %d calls, want 3 (breaker opens after 3)", badCalls.Load())
	}
	if _, err := rtGood.Authenticate(context.Background(), authRequest("Bearer g")); err != nil {
		t.Errorf("healthy service refused: %v", err)
	}
	// Half-open after the cooldown (gobreaker's own clock): one probe goes
	// through. Wait for that event, bounded, instead of sleeping.
	deadline := time.Now().Add(10 * time.Second)
	for badCalls.Load() == 3 && time.Now().Before(deadline) {
		rtBad.Authenticate(context.Background(), authRequest("Bearer probe"))
		if badCalls.Load() == 3 {
			time.Sleep(20 * time.Millisecond)
		}
	}
	if badCalls.Load() != 4 {
		t.Errorf("after cooldown: %d calls, want 4 (one probe)", badCalls.Load())
	}
}

// TestRejectionFloodBounded: 100,000 distinct bad tokens keep the caches
// within cache_max_entries and memory flat.
func TestRejectionFloodBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("flood test")
	}
	srv, calls := flakyService(t, func(_ int64, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(401) })
	const max = 2000
	rt := mustCompile(t, &Config{AuthURL: srv.URL, CacheMaxEntries: ptr(max), NegativeTTL: ptr(600.0), BreakerThreshold: ptr(0)})

	var before, after goruntime.MemStats
	goruntime.GC()
	goruntime.ReadMemStats(&before)
	const tokens = 100000
	var wg sync.WaitGroup
	next := atomic.Int64{}
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1); i <= tokens; i = next.Add(1) {
				rt.Authenticate(context.Background(), authRequest(fmt.Sprintf("Bearer junk-%d", i)))
			}
		}()
	}
	wg.Wait()
	goruntime.GC()
	goruntime.ReadMemStats(&after)

	if calls.Load() != tokens {
		t.Errorf("%d auth calls for %d distinct tokens", calls.Load(), tokens)
	}
	if n := rt.part.Load().rejects.Len(); n > max {
		t.Errorf("rejection cache holds %d entries, bound %d", n, max)
	}
	growth := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	if growth > 16<<20 {
		t.Errorf("heap grew by %d MiB over the flood", growth>>20)
	}
	t.Logf("flood: %d bad tokens, %d rejections cached (bound %d), heap growth %d KiB", tokens, rt.part.Load().rejects.Len(), max, growth>>10)
}

// response is what these tests assert of the answer a failure gets (the
// Kong adapter's mapping, plugin/errors.go, is tested there): an open
// breaker is 503 with Retry-After, another failure of the auth service
// 503, a rejection its own status.
func response(err error) (status int, body []byte, h map[string][]string) {
	var open *OpenError
	var rejected *RejectedError
	switch {
	case errors.As(err, &open):
		return 503, nil, map[string][]string{"Retry-After": {strconv.Itoa(int(open.RetryAfter / time.Second))}}
	case errors.As(err, &rejected):
		return rejected.Status, nil, nil
	case errors.Is(err, ErrUnavailable):
		return 503, nil, nil
	case err == nil:
		return 200, nil, nil
	}
	return 500, nil, nil
}
