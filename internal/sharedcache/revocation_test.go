package sharedcache

import (
	"context"
	"encoding/hex"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/legacy-auth/legacy-auth/test/redistest"
	"github.com/redis/go-redis/v9"
)

// Get reports the latest revocation of the entry's user and of the
// credential hashes it is given; a revocation beats the entries whose call
// started before it.
func TestGetReportsRevocations(t *testing.T) {
	s := redistest.Start(t)
	c, _ := newCache(t, s.Addr())
	other, _ := newCache(t, s.Addr()) // a node started later
	ctx := bg(t)
	cred := strings.Repeat("ab", 32)
	started := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	e := Entry{UserID: "42", Fetched: started.Add(time.Second), Started: started, Credentials: []string{cred}}
	if err := c.Set(ctx, "k", e, time.Hour); err != nil {
		t.Fatal(err)
	}
	got, ok, err := other.Get(ctx, "k", cred)
	if err != nil || !ok || !got.RevokedAt.IsZero() || got.Revoked(time.Second) || !got.Started.Equal(started) {
		t.Fatalf("before any revocation: %+v %t %v", got, ok, err)
	}

	for _, tc := range []struct {
		name string
		r    Revocation
	}{
		{"user", Revocation{UserID: "42"}},
		{"credential", Revocation{CredentialSHA256: strings.ToUpper(cred)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s2 := redistest.Start(t)
			w, _ := newCache(t, s2.Addr())
			r, _ := newCache(t, s2.Addr())
			if err := w.Set(ctx, "k", e, time.Hour); err != nil {
				t.Fatal(err)
			}
			at := time.Now().Truncate(time.Millisecond)
			if err := w.MarkRevoked(ctx, tc.r, at, time.Hour); err != nil {
				t.Fatal(err)
			}
			got, ok, err := r.Get(ctx, "k", cred)
			if err != nil || !ok || !got.RevokedAt.Equal(at) || !got.Revoked(time.Second) {
				t.Fatalf("after the revocation: RevokedAt %v (want %v) ok %t err %v", got.RevokedAt, at, ok, err)
			}
			// An entry whose call started after the revocation (past the
			// skew) is not beaten by it.
			fresh := e
			fresh.Started = at.Add(2 * time.Second)
			if err := w.Set(ctx, "k2", fresh, time.Hour); err != nil {
				t.Fatal(err)
			}
			if got, _, _ := r.Get(ctx, "k2", cred); got.Revoked(time.Second) {
				t.Error("an entry verified after the revocation counts as revoked")
			}
		})
	}
}

// A mark lives as long as the longest keep any node asked for.
func TestMarkRevokedNeverShortened(t *testing.T) {
	s := redistest.Start(t)
	c, _ := newCache(t, s.Addr())
	rc := rawClient(t, s.Addr())
	ctx := bg(t)
	now := time.Now()
	if err := c.MarkRevoked(ctx, Revocation{UserID: "7"}, now, time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := c.MarkRevoked(ctx, Revocation{UserID: "7"}, now.Add(time.Second), time.Minute); err != nil {
		t.Fatal(err)
	}
	pttl, err := rc.PTTL(ctx, c.revokedUserKey("7")).Result()
	if err != nil || pttl < time.Hour-time.Minute {
		t.Errorf("mark PTTL %s %v after a shorter keep, want about 1h", pttl, err)
	}
	v, _ := rc.Get(ctx, c.revokedUserKey("7")).Result()
	if v != strconv.FormatInt(now.Add(time.Second).UnixMilli(), 10) {
		t.Errorf("mark = %s, want the later time", v)
	}
	if err := c.MarkRevoked(ctx, Revocation{}, now, time.Hour); err == nil {
		t.Error("MarkRevoked of an empty revocation accepted")
	}
}

// There is never a value without its index entries: when an index cannot
// be written, neither is the value.
func TestSetWritesNoValueWithoutIndex(t *testing.T) {
	s := redistest.Start(t)
	c, _ := newCache(t, s.Addr())
	rc := rawClient(t, s.Addr())
	ctx := bg(t)
	cred := strings.Repeat("cd", 32)
	// The credential index key holds a string: ZADD fails (WRONGTYPE).
	if err := rc.Set(ctx, c.credKey(cred), "x", 0).Err(); err != nil {
		t.Fatal(err)
	}
	err := c.Set(ctx, "k", Entry{UserID: "1", Fetched: time.Now(), Credentials: []string{cred}}, time.Minute)
	if err == nil {
		t.Fatal("Set succeeded although an index could not be written")
	}
	if n, _ := rc.Exists(ctx, c.idKey("k")).Result(); n != 0 {
		t.Error("the value was written without its index entry")
	}
}

// An index of any size is revoked in chunks.
func TestRevokeLargeIndex(t *testing.T) {
	s := redistest.Start(t)
	c, _ := newCache(t, s.Addr())
	rc := rawClient(t, s.Addr())
	ctx := bg(t)
	n := 3*indexChunk + 7
	pipe := rc.Pipeline()
	for i := 0; i < n; i++ {
		k := "key-" + strconv.Itoa(i)
		pipe.ZAdd(ctx, c.userKey("big"), redisZ(time.Now().Add(time.Hour), hex.EncodeToString([]byte(k))))
		pipe.Set(ctx, c.idKey(k), `{"u":"big","f":1}`, time.Hour)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	keys, err := c.RevokeUser(context.Background(), "big")
	if err != nil || len(keys) != n {
		t.Fatalf("RevokeUser = %d keys, %v; want %d", len(keys), err, n)
	}
	if left, _ := rc.Keys(ctx, c.prefix+"id:*").Result(); len(left) != 0 {
		t.Errorf("%d entries left after revoking a %d-member index", len(left), n)
	}
}

func redisZ(expiry time.Time, member string) redis.Z {
	return redis.Z{Score: float64(expiry.UnixMilli()), Member: member}
}

// RevokedAt reads the marks without an entry: the latest of the user's and
// the credentials', zero when there is none.
func TestRevokedAtReadsMarks(t *testing.T) {
	s := redistest.Start(t)
	w, _ := newCache(t, s.Addr())
	r, _ := newCache(t, s.Addr()) // another node
	ctx := bg(t)
	cred := strings.Repeat("cd", 32)
	if at, err := r.RevokedAt(ctx, "42", cred); err != nil || !at.IsZero() {
		t.Fatalf("no marks: %v %v", at, err)
	}
	userAt := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	credAt := userAt.Add(10 * time.Second)
	if err := w.MarkRevoked(ctx, Revocation{UserID: "42"}, userAt, time.Hour); err != nil {
		t.Fatal(err)
	}
	if at, err := r.RevokedAt(ctx, "42", cred); err != nil || !at.Equal(userAt) {
		t.Fatalf("user mark: %v %v, want %v", at, err, userAt)
	}
	if err := w.MarkRevoked(ctx, Revocation{CredentialSHA256: cred}, credAt, time.Hour); err != nil {
		t.Fatal(err)
	}
	if at, err := r.RevokedAt(ctx, "42", cred); err != nil || !at.Equal(credAt) {
		t.Fatalf("user and credential marks: %v %v, want the later %v", at, err, credAt)
	}
	if at, err := r.RevokedAt(ctx, "7"); err != nil || !at.IsZero() {
		t.Fatalf("another user: %v %v", at, err)
	}
	s.Stop()
	if _, err := r.RevokedAt(ctx, "42", cred); err == nil {
		t.Error("RevokedAt with Redis down reported no error")
	}
}
