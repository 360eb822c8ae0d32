package sharedcache

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/legacy-auth/legacy-auth/test/redistest"
)

// Redis killed or frozen mid-traffic: every call fails by the cache's own
// timeout (never the caller's deadline), Healthy goes false, and everything
// works again once Redis is back.
func TestRedisOutage(t *testing.T) {
	cases := []struct {
		name         string
		break_, mend func(*redistest.Server)
	}{
		{"killed and restarted", (*redistest.Server).Stop, (*redistest.Server).Restart},
		{"frozen and resumed", (*redistest.Server).Pause, (*redistest.Server).Resume},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := redistest.Start(t)
			c, logs := newCache(t, s.Addr(), short)
			ctx := bg(t)
			e := Entry{UserID: "42", Roles: []string{"a"}, Fetched: time.Now()}
			// Warm the pool: mid-traffic, connections are open.
			for i := 0; i < 5; i++ {
				if err := c.Set(ctx, "warm", e, time.Minute); err != nil {
					t.Fatal(err)
				}
			}

			tc.break_(s)
			calls := []struct {
				name string
				do   func() error
			}{
				{"Get", func() error { _, _, err := c.Get(ctx, "warm"); return err }},
				{"Set", func() error { return c.Set(ctx, "k", e, time.Minute) }},
				{"Delete", func() error { return c.Delete(ctx, "k") }},
				{"Publish", func() error { return c.Publish(ctx, Revocation{UserID: "42"}) }},
			}
			for round := 0; round < 3; round++ {
				for _, call := range calls {
					start := time.Now()
					err := call.do()
					took := time.Since(start)
					if err == nil {
						t.Fatalf("%s succeeded with Redis %s", call.name, tc.name)
					}
					// ctx allows 10 s: 200 times the cache's timeout.
					if ctx.Err() != nil {
						t.Fatalf("%s waited for the caller's deadline: %v", call.name, err)
					}
					if round == 0 {
						t.Logf("%s failed after %s: %v", call.name, took.Round(time.Microsecond), err)
					}
					if c.Healthy() {
						t.Errorf("Healthy after %s failed", call.name)
					}
				}
			}
			_, err := c.RevokeUser(ctx, "42") // two steps, each capped
			if err == nil || ctx.Err() != nil {
				t.Errorf("RevokeUser: %v (caller's deadline: %v)", err, ctx.Err())
			}
			if !strings.Contains(logs.String(), "redis is unhealthy") {
				t.Errorf("no unhealthy log line:\n%s", logs)
			}

			tc.mend(s)
			start := time.Now()
			eventually(t, 30*time.Second, "Set succeeds after recovery", func() bool {
				return c.Set(ctx, "k", e, time.Minute) == nil
			})
			t.Logf("recovered %s after Redis came back", time.Since(start).Round(time.Millisecond))
			if !c.Healthy() {
				t.Error("not Healthy after a successful Set")
			}
			if got, ok, err := c.Get(ctx, "k"); !ok || err != nil || got.UserID != "42" {
				t.Errorf("Get after recovery = %+v %v %v", got, ok, err)
			}
			if !strings.Contains(logs.String(), "healthy again") {
				t.Errorf("no recovery log line:\n%s", logs)
			}
		})
	}
}

// Healthy lets a probe through once a second after the last error, so a
// caller that bypasses Redis while unhealthy is not locked out for good.
func TestHealthyRetryWindow(t *testing.T) {
	c, _ := newCache(t, "127.0.0.1:1", short)
	c.retry = time.Hour // no real time passes a window; advance does
	if _, _, err := c.Get(bg(t), "k"); err == nil {
		t.Fatal("Get succeeded against nothing")
	}
	if c.Healthy() {
		t.Fatal("Healthy right after an error")
	}
	advance(c, time.Hour)
	if !c.Healthy() {
		t.Fatal("still unhealthy past the retry window")
	}
	for i := 0; i < 3; i++ {
		if c.Healthy() {
			t.Fatal("a second caller was let through in the same window")
		}
	}
	_, _, _ = c.Get(bg(t), "k") // the probe fails
	if c.Healthy() {
		t.Fatal("Healthy right after the probe failed")
	}
	// A caller's own cancellation says nothing about Redis.
	c2, _ := newCache(t, "127.0.0.1:1")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, _ = c2.Get(ctx, "k")
	if !c2.Healthy() {
		t.Fatal("a cancelled call made the cache unhealthy")
	}
}

// The subscriber survives Redis going away: after Redis is back it
// resubscribes, a revocation published then is received, and OnResubscribe
// reports the gap.
func TestResubscribe(t *testing.T) {
	cases := []struct {
		name         string
		break_, mend func(*redistest.Server)
	}{
		{"killed and restarted", (*redistest.Server).Stop, (*redistest.Server).Restart},
		// A frozen server keeps the TCP connection: only the missing ping
		// answer shows the subscription is dead.
		{"frozen and resumed", (*redistest.Server).Pause, (*redistest.Server).Resume},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := redistest.Start(t)
			var resubs atomic.Int32
			c, logs := newCache(t, s.Addr(), short, func(o *Options) { o.OnResubscribe = func() { resubs.Add(1) } })
			c.pingEvery = 200 * time.Millisecond
			pub, _ := newCache(t, s.Addr())
			rec := newRecorder()
			subscribe(t, c, rec.handle)
			rc := rawClient(t, s.Addr())
			waitSubscribers(t, rc, "test:revoke", 1)
			ctx := bg(t)
			if err := pub.Publish(ctx, Revocation{UserID: "before"}); err != nil {
				t.Fatal(err)
			}
			if r, _ := rec.next(t, 10*time.Second); r.UserID != "before" {
				t.Fatalf("got %+v", r)
			}
			if n := resubs.Load(); n != 0 {
				t.Fatalf("OnResubscribe called %d times after a clean first subscription", n)
			}

			tc.break_(s)
			// Mend only once the subscriber has seen the break: a frozen
			// server resumed before a ping goes unanswered is no break.
			eventually(t, 30*time.Second, "subscriber notices the break", func() bool {
				return strings.Contains(logs.String(), "revocation subscription lost")
			})
			down := time.Now()
			tc.mend(s)

			publishUntilHeard(t, pub, rec, logs)
			t.Logf("revocation received %s after Redis came back", time.Since(down).Round(time.Millisecond))
			if resubs.Load() < 1 {
				t.Error("OnResubscribe not called")
			}
			if !strings.Contains(logs.String(), "subscribed to revocations after a break") {
				t.Errorf("no resubscribe log line:\n%s", logs)
			}
		})
	}
}

// A subscriber started while Redis is down subscribes once Redis is up, and
// reports the gap: the node may have cached identities meanwhile.
func TestSubscribeBeforeRedis(t *testing.T) {
	s := redistest.Start(t)
	s.Stop()
	var resubs atomic.Int32
	c, logs := newCache(t, s.Addr(), short, func(o *Options) { o.OnResubscribe = func() { resubs.Add(1) } })
	rec := newRecorder()
	subscribe(t, c, rec.handle)
	eventually(t, 30*time.Second, "a retry log line", func() bool {
		return strings.Contains(logs.String(), "cannot subscribe to revocations; retrying")
	})
	s.Restart()
	pub, _ := newCache(t, s.Addr())
	publishUntilHeard(t, pub, rec, logs)
	if n := resubs.Load(); n != 1 {
		t.Errorf("OnResubscribe called %d times, want 1", n)
	}
}

// publishUntilHeard publishes {"user_id":"after"} every 100 ms until rec
// hears it (bounded at 30 s): messages sent before the subscriber is back
// are lost, which is pub/sub.
func publishUntilHeard(t *testing.T, pub *Cache, rec *recorder, logs *logBuffer) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		_ = pub.Publish(context.Background(), Revocation{UserID: "after"})
		select {
		case r := <-rec.ch:
			if r.UserID != "after" {
				t.Fatalf("got %+v", r)
			}
			return
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no revocation received within 30s of Redis coming back; log:\n%s", logs)
		}
	}
}
