package sharedcache

import (
	"context"
	"encoding/hex"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/legacy-auth/legacy-auth/test/redistest"
)

func TestNewValidation(t *testing.T) {
	cases := []struct {
		name string
		opts Options
		want []string // substrings of the error; none means valid
	}{
		{"standalone", Options{Addrs: []string{"127.0.0.1:6379"}}, nil},
		{"explicit standalone", Options{Mode: "standalone", Addrs: []string{"redis.internal:6379"}}, nil},
		{"sentinel", Options{Mode: "sentinel", Addrs: []string{"a:26379", "b:26379"}, MasterName: "mymaster"}, nil},
		{"cluster", Options{Mode: "cluster", Addrs: []string{"a:7000", "b:7001", "[::1]:7002"}}, nil},
		{"no addrs", Options{}, []string{"at least one host:port"}},
		{"bad mode", Options{Mode: "ring", Addrs: []string{"a:1"}}, []string{`mode "ring"`}},
		{"no port", Options{Addrs: []string{"redis"}}, []string{`addrs[0] "redis": want host:port`}},
		{"bad port", Options{Addrs: []string{"redis:0"}}, []string{"not in 1..65535"}},
		{"empty host", Options{Addrs: []string{":6379"}}, []string{"empty host"}},
		{"url", Options{Addrs: []string{"redis://cache:6379"}}, []string{"not a URL"}},
		{"standalone with two", Options{Addrs: []string{"a:1", "b:2"}}, []string{"exactly one address"}},
		{"sentinel without master", Options{Mode: "sentinel", Addrs: []string{"a:26379"}}, []string{"master_name is required"}},
		{"master name outside sentinel", Options{Mode: "cluster", Addrs: []string{"a:1"}, MasterName: "m"}, []string{"only used in sentinel mode"}},
		{"cluster db", Options{Mode: "cluster", Addrs: []string{"a:1"}, DB: 2}, []string{"db must be 0 in cluster mode"}},
		{"negative db", Options{Addrs: []string{"a:1"}, DB: -1}, []string{"db must not be negative"}},
		{"negative timeout", Options{Addrs: []string{"a:1"}, Timeout: -time.Second}, []string{"timeout must not be negative"}},
		{"prefix with space", Options{Addrs: []string{"a:1"}, Prefix: "legacy auth:"}, []string{"whitespace"}},
		{
			"every problem in one error",
			Options{Mode: "sentinel", Addrs: []string{"nope", "x:99999"}, DB: -3, Timeout: -1},
			[]string{"addrs[0]", "addrs[1]", "master_name is required", "db must not be negative", "timeout must not be negative"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := New(tc.opts)
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				_ = c.Close()
				return
			}
			if err == nil {
				_ = c.Close()
				t.Fatalf("New accepted %+v", tc.opts)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// New must not need Redis; a call to a Redis that is not there fails fast.
func TestNewWithRedisDown(t *testing.T) {
	s := redistest.Start(t)
	addr := s.Addr()
	s.Stop()
	c, _ := newCache(t, addr, short)
	if !c.Healthy() {
		t.Fatal("Healthy before any call")
	}
	ctx := bg(t)
	_, _, err := c.Get(ctx, "k")
	if err == nil || ctx.Err() != nil {
		t.Fatalf("Get with Redis down: err=%v, caller's deadline %v", err, ctx.Err())
	}
	if c.Healthy() {
		t.Fatal("Healthy after a failed call")
	}
}

func TestRoundtrip(t *testing.T) {
	s := redistest.Start(t)
	c, _ := newCache(t, s.Addr())
	ctx := bg(t)
	fetched := time.Date(2026, 3, 1, 12, 30, 45, 123456789, time.UTC)
	cases := []struct {
		name string
		key  string
		e    Entry
	}{
		{"roles", credKey("ns-a", "Bearer abc"), Entry{UserID: "42", Roles: []string{"admin", "staff"}, Fetched: fetched}},
		{"no roles", credKey("ns-a", "Bearer def"), Entry{UserID: "7", Fetched: fetched}},
		{"empty roles", credKey("ns-b", "Bearer def"), Entry{UserID: "7", Roles: []string{}, Fetched: fetched}},
		{"unicode and quotes", "\x00\xff raw \"key\"", Entry{UserID: "ü-\"x\"", Roles: []string{"a\nb", "ß"}, Fetched: time.Now()}},
		{"at the epoch", "epoch", Entry{UserID: "1", Fetched: time.UnixMilli(0)}},
		{"before 1970", "old", Entry{UserID: "1", Fetched: time.Date(1969, 7, 20, 20, 17, 0, 999_999_999, time.UTC)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := c.Set(ctx, tc.key, tc.e, time.Minute); err != nil {
				t.Fatalf("Set: %v", err)
			}
			got, ok, err := c.Get(ctx, tc.key)
			if err != nil || !ok {
				t.Fatalf("Get = %v, %v", ok, err)
			}
			if got.UserID != tc.e.UserID || !slices.Equal(got.Roles, tc.e.Roles) {
				t.Errorf("Get = %+v, want %+v", got, tc.e)
			}
			if want := tc.e.Fetched.Truncate(time.Millisecond); !got.Fetched.Equal(want) {
				t.Errorf("Fetched = %s, want %s", got.Fetched.Format(time.RFC3339Nano), want.Format(time.RFC3339Nano))
			}
			if d := tc.e.Fetched.Sub(got.Fetched); d < 0 || d >= time.Millisecond {
				t.Errorf("Fetched off by %s", d)
			}
		})
	}
	if _, ok, err := c.Get(ctx, "never set"); ok || err != nil {
		t.Fatalf("Get of a missing key = %v, %v; want a plain miss", ok, err)
	}
	if !c.Healthy() {
		t.Fatal("not Healthy after successful calls")
	}
}

// The layout documented in doc.go, byte for byte.
func TestWireFormat(t *testing.T) {
	s := redistest.Start(t)
	c, _ := newCache(t, s.Addr(), func(o *Options) { o.Prefix = "legacy-auth:" })
	rc := rawClient(t, s.Addr())
	ctx := bg(t)
	key := credKey("nsnsnsns", "Bearer token")
	hexKey := hex.EncodeToString([]byte(key))
	fetched := time.UnixMilli(1767225600123)
	before := time.Now()
	if err := c.Set(ctx, key, Entry{UserID: "42", Roles: []string{"admin", "staff"}, Fetched: fetched}, 90*time.Second); err != nil {
		t.Fatal(err)
	}
	val, err := rc.Get(ctx, "legacy-auth:id:"+hexKey).Result()
	if err != nil {
		t.Fatalf("raw GET: %v", err)
	}
	if want := `{"u":"42","r":["admin","staff"],"f":1767225600123}`; val != want {
		t.Errorf("value = %s, want %s", val, want)
	}
	if len(hexKey) != 80 || hexKey != strings.ToLower(hexKey) {
		t.Errorf("hex key %q: want 80 lower-case hex digits", hexKey)
	}
	z, err := rc.ZRangeWithScores(ctx, "legacy-auth:user:42", 0, -1).Result()
	if err != nil || len(z) != 1 || z[0].Member != hexKey {
		t.Fatalf("index = %v, %v", z, err)
	}
	expiry := time.UnixMilli(int64(z[0].Score))
	lo, hi := before.Add(90*time.Second+indexGraceMs*time.Millisecond-time.Second), time.Now().Add(90*time.Second+indexGraceMs*time.Millisecond+time.Second)
	if expiry.Before(lo) || expiry.After(hi) {
		t.Errorf("index score %s, want about now+91s", expiry)
	}
	keys, err := rc.Keys(ctx, "*").Result()
	slices.Sort(keys)
	if want := []string{"legacy-auth:id:" + hexKey, "legacy-auth:user:42"}; err != nil || !slices.Equal(keys, want) {
		t.Errorf("keys = %q, want %q", keys, want)
	}

	// Revocations go out on legacy-auth:revoke as the documented JSON.
	sub := rc.Subscribe(ctx, "legacy-auth:revoke")
	defer sub.Close()
	if _, err := sub.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		r    Revocation
		want string
	}{
		{Revocation{CredentialSHA256: strings.Repeat("AB", 32)}, `{"credential_sha256":"` + strings.Repeat("ab", 32) + `"}`},
		{Revocation{UserID: "42"}, `{"user_id":"42"}`},
	} {
		if err := c.Publish(ctx, tc.r); err != nil {
			t.Fatal(err)
		}
		m, err := sub.ReceiveMessage(ctx)
		if err != nil || m.Payload != tc.want {
			t.Errorf("published %+v as %v %v, want %s", tc.r, m, err, tc.want)
		}
	}
}

func TestTTL(t *testing.T) {
	s := redistest.Start(t)
	c, _ := newCache(t, s.Addr())
	rc := rawClient(t, s.Addr())
	ctx := bg(t)
	e := Entry{UserID: "u", Fetched: time.Now()}
	for _, ttl := range []time.Duration{1500 * time.Millisecond, 2500 * time.Millisecond, time.Hour} {
		t.Run(ttl.String(), func(t *testing.T) {
			key := "ttl-" + ttl.String()
			start := time.Now()
			if err := c.Set(ctx, key, e, ttl); err != nil {
				t.Fatal(err)
			}
			pttl, err := rc.PTTL(ctx, c.idKey(key)).Result()
			// Redis counts down from the Set; at most elapsed has gone.
			elapsed := time.Since(start)
			if elapsed >= ttl {
				t.Skipf("Set and PTTL took %s, the whole %s TTL: nothing to check", elapsed, ttl)
			}
			if err != nil || pttl > ttl || pttl < ttl-elapsed-time.Millisecond {
				t.Errorf("PTTL = %s %v, want between %s and %s", pttl, err, ttl-elapsed, ttl)
			}
			ipttl, err := rc.PTTL(ctx, c.userKey("u")).Result()
			if err != nil || ipttl < pttl {
				t.Errorf("index PTTL = %s %v, want at least the key's %s", ipttl, err, pttl)
			}
		})
	}
	key := "short"
	start := time.Now() // before Redis can start the key's clock
	if err := c.Set(ctx, key, e, 300*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "entry expires", func() bool {
		_, ok, err := c.Get(ctx, key)
		return err == nil && !ok
	})
	if el := time.Since(start); el < 300*time.Millisecond {
		t.Errorf("entry gone after %s, before its 300ms TTL", el)
	}
}

// The index lives as long as its longest-lived key and forgets expired keys.
func TestUserIndexExpiry(t *testing.T) {
	s := redistest.Start(t)
	c, _ := newCache(t, s.Addr())
	rc := rawClient(t, s.Addr())
	ctx := bg(t)
	e := Entry{UserID: "9", Fetched: time.Now()}
	if err := c.Set(ctx, "long", e, time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := c.Set(ctx, "brief", e, 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if ipttl, _ := rc.PTTL(ctx, c.userKey("9")).Result(); ipttl < time.Hour-time.Minute {
		t.Fatalf("index PTTL = %s after a short Set, want it kept at about 1h", ipttl)
	}
	// Each Set prunes members past their expiry plus indexGraceMs: keep
	// setting until brief is pruned, which must happen, and long must stay.
	want := []string{hex.EncodeToString([]byte("long")), hex.EncodeToString([]byte("new"))}
	var members []string
	eventually(t, 30*time.Second, "brief pruned from the index", func() bool {
		if err := c.Set(ctx, "new", e, time.Minute); err != nil {
			t.Fatal(err)
		}
		members, _ = rc.ZRange(ctx, c.userKey("9"), 0, -1).Result()
		slices.Sort(members)
		return !slices.Contains(members, hex.EncodeToString([]byte("brief")))
	})
	if !slices.Equal(members, want) {
		t.Fatalf("index members = %q, want %q (brief pruned)", members, want)
	}
}

func TestDelete(t *testing.T) {
	s := redistest.Start(t)
	c, _ := newCache(t, s.Addr())
	ctx := bg(t)
	e := Entry{UserID: "1", Fetched: time.Now()}
	for _, k := range []string{"a", "b"} {
		if err := c.Set(ctx, k, e, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Delete(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, "never there"); err != nil {
		t.Fatalf("Delete of a missing key: %v", err)
	}
	if _, ok, _ := c.Get(ctx, "a"); ok {
		t.Error("a still there after Delete")
	}
	if _, ok, _ := c.Get(ctx, "b"); !ok {
		t.Error("b gone after Delete of a")
	}
}

func TestRevokeUser(t *testing.T) {
	s := redistest.Start(t)
	c, _ := newCache(t, s.Addr())
	other, _ := newCache(t, s.Addr()) // a second node
	ctx := bg(t)
	now := time.Now()
	user42 := []string{credKey("ns-1", "t1"), credKey("ns-1", "t2"), credKey("ns-2", "t1"), "\x00binary\xff"}
	for i, k := range user42 {
		if err := c.Set(ctx, k, Entry{UserID: "42", Roles: []string{"r" + strconv.Itoa(i)}, Fetched: now}, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	keep := credKey("ns-1", "someone else")
	if err := c.Set(ctx, keep, Entry{UserID: "7", Fetched: now}, time.Minute); err != nil {
		t.Fatal(err)
	}

	got, err := c.RevokeUser(ctx, "42")
	if err != nil {
		t.Fatal(err)
	}
	want := slices.Clone(user42)
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("RevokeUser = %q, want %q", got, want)
	}
	for _, k := range user42 {
		if _, ok, _ := c.Get(ctx, k); ok {
			t.Errorf("key %x survived RevokeUser", k[:4])
		}
	}
	if _, ok, _ := c.Get(ctx, keep); !ok {
		t.Error("another user's key was revoked")
	}

	// Every node handling the same revocation gets the same keys.
	again, err := other.RevokeUser(ctx, "42")
	slices.Sort(again)
	if err != nil || !slices.Equal(again, want) {
		t.Fatalf("second node's RevokeUser = %q, %v; want %q", again, err, want)
	}
	if none, err := c.RevokeUser(ctx, "nobody"); err != nil || len(none) != 0 {
		t.Fatalf("RevokeUser(nobody) = %q, %v", none, err)
	}
	if _, err := c.RevokeUser(ctx, ""); err == nil {
		t.Fatal("RevokeUser(\"\") accepted")
	}
}

func TestSetValidation(t *testing.T) {
	c, err := New(Options{Addrs: []string{"127.0.0.1:1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ok := Entry{UserID: "1", Fetched: time.Now()}
	cases := []struct {
		name string
		key  string
		e    Entry
		ttl  time.Duration
	}{
		{"empty key", "", ok, time.Minute},
		{"no user", "k", Entry{Fetched: time.Now()}, time.Minute},
		{"no fetch time", "k", Entry{UserID: "1"}, time.Minute},
		{"zero ttl", "k", ok, 0},
		{"sub-millisecond ttl", "k", ok, time.Microsecond},
	}
	for _, tc := range cases {
		if err := c.Set(context.Background(), tc.key, tc.e, tc.ttl); err == nil {
			t.Errorf("%s: Set accepted", tc.name)
		}
	}
	if !c.Healthy() {
		t.Error("argument errors made the cache unhealthy")
	}
}

func TestBadStoredValue(t *testing.T) {
	s := redistest.Start(t)
	c, logs := newCache(t, s.Addr())
	rc := rawClient(t, s.Addr())
	ctx := bg(t)
	key := credKey("nsnsnsns", "Bearer secret")
	for _, v := range []string{"not json", `{"u":"","f":1}`, `{"u":"1"}`, `{"u":"1","f":"x"}`, `[1]`} {
		rc.Set(ctx, c.idKey(key), v, time.Minute)
		_, ok, err := c.Get(ctx, key)
		if ok || !errors.Is(err, ErrBadValue) {
			t.Errorf("Get of %q = %v, %v; want ErrBadValue", v, ok, err)
		}
	}
	if !c.Healthy() {
		t.Error("a bad value made the cache unhealthy")
	}
	full := hex.EncodeToString([]byte(key))
	if strings.Contains(logs.String(), full) || strings.Contains(logs.String(), full[8:]) {
		t.Errorf("logs show key material: %s", logs)
	}
	if !strings.Contains(logs.String(), "key_prefix="+full[:8]) {
		t.Errorf("logs lack the short key prefix: %s", logs)
	}
}

func TestClusterMode(t *testing.T) {
	s := redistest.StartCluster(t)
	c, _ := newCache(t, s.Addr(), func(o *Options) { o.Mode = ModeCluster })
	ctx := bg(t)
	keys := []string{credKey("ns", "a"), credKey("ns", "b"), credKey("ns", "c")}
	for _, k := range keys {
		if err := c.Set(ctx, k, Entry{UserID: "42", Roles: []string{"x"}, Fetched: time.Now()}, time.Minute); err != nil {
			t.Fatalf("Set: %v", err)
		}
		if _, ok, err := c.Get(ctx, k); !ok || err != nil {
			t.Fatalf("Get: %v %v", ok, err)
		}
	}
	got, err := c.RevokeUser(ctx, "42")
	if err != nil || len(got) != len(keys) {
		t.Fatalf("RevokeUser = %d keys, %v (CROSSSLOT?)", len(got), err)
	}
	for _, k := range keys {
		if _, ok, _ := c.Get(ctx, k); ok {
			t.Error("key survived RevokeUser")
		}
	}
	rec := newRecorder()
	subscribe(t, c, rec.handle)
	waitSubscribers(t, rawClient(t, s.Addr()), c.channel, 1)
	if err := c.Publish(ctx, Revocation{UserID: "42"}); err != nil {
		t.Fatal(err)
	}
	if r, _ := rec.next(t, 10*time.Second); r.UserID != "42" {
		t.Fatalf("got %+v", r)
	}
}

func TestSentinelMode(t *testing.T) {
	m := redistest.Start(t)
	sn := redistest.StartSentinel(t, m, "mymaster")
	c, _ := newCache(t, sn.Addr(), func(o *Options) {
		o.Mode, o.MasterName = ModeSentinel, "mymaster"
	})
	ctx := bg(t)
	if err := c.Set(ctx, "k", Entry{UserID: "5", Fetched: time.Now()}, time.Minute); err != nil {
		t.Fatalf("Set through sentinel: %v", err)
	}
	// The value landed on the master the sentinel named.
	if n, err := rawClient(t, m.Addr()).Exists(ctx, c.idKey("k")).Result(); err != nil || n != 1 {
		t.Fatalf("EXISTS on master = %d, %v", n, err)
	}
	if e, ok, err := c.Get(ctx, "k"); !ok || err != nil || e.UserID != "5" {
		t.Fatalf("Get = %+v %v %v", e, ok, err)
	}
}
