package identity

import (
	"crypto/sha256"
	"fmt"
	"testing"
	"time"

	"github.com/legacy-auth/legacy-auth/test/testutil"
)

func indexedEntry(user, cred string) *cacheEntry {
	return &cacheEntry{id: &Identity{UserID: user}, fetched: time.Now(), parts: [][sha256.Size]byte{sha256.Sum256([]byte(cred))}}
}

// The indexes find exactly a user's or a credential's entries, and hold
// nothing go-cache does not: overwrites, removals, evictions and flushes
// keep them in step.
func TestRevocationIndexes(t *testing.T) {
	t.Parallel()
	clock := testutil.NewClock()
	b := newBoundedCache(clock.Now)
	for i := 0; i < 10; i++ {
		b.add(fmt.Sprint("a", i), indexedEntry("alice", fmt.Sprint("ta", i)), time.Hour, 1000)
		b.add(fmt.Sprint("b", i), indexedEntry("bob", fmt.Sprint("tb", i)), time.Hour, 1000)
	}
	b.add("shared", &rejection{status: 401, parts: [][sha256.Size]byte{sha256.Sum256([]byte("ta3"))}}, time.Hour, 1000)
	if n := b.revokeUser("alice"); n != 10 {
		t.Fatalf("revokeUser(alice) dropped %d, want 10", n)
	}
	if b.Len() != 11 {
		t.Fatalf("%d items left, want bob's 10 and the rejection", b.Len())
	}
	if n := b.revokePart(sha256.Sum256([]byte("tb4"))); n != 1 {
		t.Fatalf("revokePart(tb4) dropped %d, want 1", n)
	}
	if n := b.revokePart(sha256.Sum256([]byte("ta3"))); n != 1 || b.Len() != 9 {
		t.Fatalf("revokePart(ta3) dropped %d (%d left), want the rejection", n, b.Len())
	}
	// An overwrite with another user moves the key between users.
	b.add("b0", indexedEntry("carol", "tb0"), time.Hour, 1000)
	if n := b.revokeUser("bob"); n != 8 {
		t.Fatalf("revokeUser(bob) dropped %d, want 8 (b0 is carol's now)", n)
	}
	if len(b.byUser) != 1 || len(b.byUser["carol"]) != 1 {
		t.Fatalf("user index %v, want only carol's key", b.byUser)
	}
	b.remove("b0")
	if len(b.byUser) != 0 || len(b.byPart) != 0 {
		t.Fatalf("indexes hold %d users and %d parts with an empty cache", len(b.byUser), len(b.byPart))
	}
	// Evictions of a full cache unindex what they drop.
	for i := 0; i < 500; i++ {
		b.add(fmt.Sprint("f", i), indexedEntry(fmt.Sprint("u", i), fmt.Sprint("tf", i)), time.Hour, 100)
		clock.Advance(sweepEvery)
	}
	if users, parts := len(b.byUser), len(b.byPart); users != b.Len() || parts != b.Len() {
		t.Fatalf("after evictions: %d items, %d users and %d parts indexed", b.Len(), users, parts)
	}
	b.flush()
	if len(b.byUser) != 0 || len(b.byPart) != 0 {
		t.Fatal("flush left index entries")
	}
}

// A revocation drops a user from every partition through the indexes.
func TestDropRevokedEveryPartition(t *testing.T) {
	clock := testutil.NewClock()
	saved := partitions
	partitions = newPartitionSet(clock.Now)
	t.Cleanup(func() { partitions = saved })
	var sc scope
	sc.id = "scope-a"
	p1 := partitions.acquire("p1", sc)
	p2 := partitions.acquire("p2", sc)
	p1.ids.add("k1", indexedEntry("dave", "t1"), time.Hour, 100)
	p2.ids.add("k1", indexedEntry("dave", "t1"), time.Hour, 100)
	p2.ids.add("k2", indexedEntry("erin", "t2"), time.Hour, 100)
	if n := dropRevoked("dave", [sha256.Size]byte{}, false); n != 2 {
		t.Fatalf("dropped %d, want dave's entry in both partitions", n)
	}
	if n := dropRevoked("", sha256.Sum256([]byte("t2")), true); n != 1 || p2.ids.Len() != 0 {
		t.Fatalf("credential revocation dropped %d, %d left", n, p2.ids.Len())
	}
}
