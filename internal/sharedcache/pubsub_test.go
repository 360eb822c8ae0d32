package sharedcache

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/legacy-auth/legacy-auth/test/redistest"
)

var hash = strings.Repeat("0123456789abcdef", 4)

func TestParseRevocation(t *testing.T) {
	cases := []struct {
		in   string
		want Revocation
		err  string // substring; empty means valid
	}{
		{`{"credential_sha256":"` + hash + `"}`, Revocation{CredentialSHA256: hash}, ""},
		{`{"credential_sha256":"` + strings.ToUpper(hash) + `"}`, Revocation{CredentialSHA256: hash}, ""},
		{`{"user_id":"42"}`, Revocation{UserID: "42"}, ""},
		{`{"user_id":42}`, Revocation{UserID: "42"}, ""},
		{`{"user_id":-1}`, Revocation{UserID: "-1"}, ""},
		{` {"user_id":"a b", "extra":[1,{"x":2}]} `, Revocation{UserID: "a b"}, ""},
		{`{"user_id":"42","credential_sha256":"` + hash + `"}`, Revocation{UserID: "42", CredentialSHA256: hash}, ""},
		{`{"user_id":"42","credential_sha256":null}`, Revocation{UserID: "42"}, ""},
		{``, Revocation{}, "not a JSON object"},
		{`hello`, Revocation{}, "not a JSON object"},
		{`[{"user_id":"42"}]`, Revocation{}, "not a JSON object"},
		{`"user_id"`, Revocation{}, "not a JSON object"},
		{`{"user_id":"42"`, Revocation{}, "not a JSON object"},
		{`{}`, Revocation{}, "neither"},
		{`null`, Revocation{}, "not a JSON object"},
		{`{"user_id":""}`, Revocation{}, "neither"},
		{`{"user_id":null,"credential_sha256":""}`, Revocation{}, "neither"},
		{`{"user_id":4.2}`, Revocation{}, "neither a string nor an integer"},
		{`{"user_id":1e3}`, Revocation{}, "neither a string nor an integer"},
		{`{"user_id":true}`, Revocation{}, "neither a string nor an integer"},
		{`{"user_id":{"id":1}}`, Revocation{}, "neither a string nor an integer"},
		{`{"user_id":"` + strings.Repeat("x", 257) + `"}`, Revocation{}, "exceeds 256"},
		{`{"credential_sha256":"abc"}`, Revocation{}, "want 64 hex digits"},
		{`{"credential_sha256":"` + strings.Repeat("zz", 32) + `"}`, Revocation{}, "not hexadecimal"},
		{`{"credential_sha256":12}`, Revocation{}, "not a string"},
		{`{"user_id":"1","pad":"` + strings.Repeat("x", 5000) + `"}`, Revocation{}, "exceeds 4096"},
	}
	for _, tc := range cases {
		name := tc.in
		if len(name) > 60 {
			name = name[:60]
		}
		t.Run(name, func(t *testing.T) {
			got, err := ParseRevocation([]byte(tc.in))
			if tc.err == "" {
				if err != nil || got != tc.want {
					t.Fatalf("= %+v, %v; want %+v", got, err, tc.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("err = %v, want one containing %q", err, tc.err)
			}
			if strings.Contains(err.Error(), "zzzz") || strings.Contains(err.Error(), "xxxx") {
				t.Fatalf("error quotes the message: %v", err)
			}
		})
	}
}

func TestPublishValidation(t *testing.T) {
	c, err := New(Options{Addrs: []string{"127.0.0.1:1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, r := range []Revocation{{}, {CredentialSHA256: "abc"}, {UserID: strings.Repeat("x", 300)}} {
		if err := c.Publish(context.Background(), r); err == nil {
			t.Errorf("Publish(%+v) accepted", r)
		}
	}
}

// Two nodes each receive what either publishes, within a second.
func TestSubscribeTwoNodes(t *testing.T) {
	s := redistest.Start(t)
	n1, _ := newCache(t, s.Addr())
	n2, _ := newCache(t, s.Addr())
	r1, r2 := newRecorder(), newRecorder()
	subscribe(t, n1, r1.handle)
	subscribe(t, n2, r2.handle)
	waitSubscribers(t, rawClient(t, s.Addr()), "test:revoke", 2)

	ctx := bg(t)
	for _, tc := range []struct {
		from *Cache
		r    Revocation
	}{
		{n1, Revocation{CredentialSHA256: hash}},
		{n2, Revocation{UserID: "42"}},
		{n1, Revocation{CredentialSHA256: strings.ToUpper(hash), UserID: "7"}},
	} {
		if err := tc.from.Publish(ctx, tc.r); err != nil {
			t.Fatal(err)
		}
		want := tc.r
		want.CredentialSHA256 = strings.ToLower(want.CredentialSHA256)
		for i, rec := range []*recorder{r1, r2} {
			got, took := rec.next(t, 10*time.Second)
			if got != want {
				t.Errorf("node %d got %+v, want %+v", i+1, got, want)
			}
			t.Logf("node %d received %+v after %s", i+1, got, took)
		}
	}
}

func TestSubscribeIgnoresBadMessages(t *testing.T) {
	s := redistest.Start(t)
	c, logs := newCache(t, s.Addr())
	rc := rawClient(t, s.Addr())
	rec := newRecorder()
	var panics atomic.Int32
	subscribe(t, c, func(r Revocation) {
		if r.UserID == "boom" {
			panics.Add(1)
			panic("handler bug")
		}
		rec.handle(r)
	})
	waitSubscribers(t, rc, "test:revoke", 1)
	ctx := bg(t)
	bad := []string{
		"", "not json", "[]", "null", `{}`, `{"user_id":""}`, `{"user_id":1.5}`,
		`{"credential_sha256":"` + strings.Repeat("zz", 32) + `"}`,
		`{"credential_sha256":"short"}`,
		`{"user_id":"` + strings.Repeat("x", 5000) + `"}`,
		"\xff\xfe\x00binary",
		`{"user_id":"boom"}`, // valid, but the handler panics
	}
	for _, m := range bad {
		if err := rc.Publish(ctx, "test:revoke", m).Err(); err != nil {
			t.Fatal(err)
		}
	}
	// Another channel under the prefix is not ours.
	rc.Publish(ctx, "test:revoke:other", `{"user_id":"wrong channel"}`)
	if err := rc.Publish(ctx, "test:revoke", `{"user_id":42}`).Err(); err != nil {
		t.Fatal(err)
	}
	if got, _ := rec.next(t, 10*time.Second); got != (Revocation{UserID: "42"}) {
		t.Fatalf("first handled revocation = %+v, want user 42", got)
	}
	if all := rec.all(); len(all) != 1 {
		t.Fatalf("handled %+v, want only the good message", all)
	}
	if panics.Load() != 1 {
		t.Fatalf("handler ran %d times for the panicking message", panics.Load())
	}
	if n := strings.Count(logs.String(), "ignoring bad revocation message"); n != len(bad)-1 {
		t.Errorf("%d bad-message log lines, want %d:\n%s", n, len(bad)-1, logs)
	}
	if !strings.Contains(logs.String(), "revocation handler panicked") {
		t.Errorf("panic not logged:\n%s", logs)
	}
	if strings.Contains(logs.String(), "zzzz") || strings.Contains(logs.String(), "xxxx") {
		t.Errorf("logs quote message content:\n%s", logs)
	}
	// Still subscribed and working.
	if err := c.Publish(ctx, Revocation{UserID: "after"}); err != nil {
		t.Fatal(err)
	}
	if got, _ := rec.next(t, 10*time.Second); got.UserID != "after" {
		t.Fatalf("got %+v after the bad messages", got)
	}
}

func TestSubscribeReturns(t *testing.T) {
	s := redistest.Start(t)
	for _, how := range []string{"cancel", "close", "cancel while Redis is down"} {
		t.Run(how, func(t *testing.T) {
			c, _ := newCache(t, s.Addr())
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan struct{})
			go func() { defer close(done); c.Subscribe(ctx, func(Revocation) {}) }()
			if how == "cancel while Redis is down" {
				c2, logs2 := newCache(t, "127.0.0.1:1") // nothing listens there
				ctx2, cancel2 := context.WithCancel(context.Background())
				done2 := make(chan struct{})
				go func() { defer close(done2); c2.Subscribe(ctx2, func(Revocation) {}) }()
				eventually(t, 30*time.Second, "Subscribe retrying", func() bool {
					return strings.Contains(logs2.String(), "cannot subscribe to revocations; retrying")
				})
				start := time.Now()
				cancel2()
				select {
				case <-done2:
					t.Logf("returned %s after cancel", time.Since(start))
				case <-time.After(10 * time.Second):
					t.Fatal("Subscribe still running 10s after cancel")
				}
			}
			waitSubscribers(t, rawClient(t, s.Addr()), "test:revoke", 1)
			start := time.Now()
			if how == "close" {
				_ = c.Close()
			} else {
				cancel()
			}
			select {
			case <-done:
				t.Logf("returned %s after %s", time.Since(start), how)
			case <-time.After(10 * time.Second):
				t.Fatalf("Subscribe still running 10s after %s", how)
			}
			waitSubscribers(t, rawClient(t, s.Addr()), "test:revoke", 0)
		})
	}
}
