package identity

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"testing"
	"time"

	"github.com/legacy-auth/legacy-auth/internal/sharedcache"
)

// BenchmarkRevocation100k is the in-process cost of one revocation
// message (issue 18, item 4) with 100,000 cached identities of 100,000
// users in 4 partitions: remembering it and dropping the user's entries
// from every partition. Each iteration revokes one user (by user id, or
// by credential hash) and caches it again, so the cache stays full; the
// re-add is part of the figure (an upper bound).
func BenchmarkRevocation100k(b *testing.B) {
	for _, by := range []string{"user", "credential"} {
		b.Run(by, func(b *testing.B) {
			saved := partitions
			partitions = newPartitionSet(time.Now)
			b.Cleanup(func() { partitions = saved })
			const users, parts = 100000, 4
			var sc scope
			sc.id = "bench-scope-0000"
			ps := make([]*partition, parts)
			for i := range ps {
				ps[i] = partitions.acquire("p"+strconv.Itoa(i), sc)
			}
			entry := func(i int) (*partition, string, *cacheEntry) {
				u := strconv.Itoa(i)
				return ps[i%parts], "key-" + u, indexedEntry("user-"+u, "Bearer tok-"+u)
			}
			for i := 0; i < users; i++ {
				p, k, e := entry(i)
				p.ids.add(k, e, time.Hour, users)
			}
			msgs := make([]sharedcache.Revocation, 1000)
			for i := range msgs {
				if by == "user" {
					msgs[i] = sharedcache.Revocation{UserID: "user-" + strconv.Itoa(i*97)}
				} else {
					sum := sha256.Sum256([]byte("Bearer tok-" + strconv.Itoa(i*97)))
					msgs[i] = sharedcache.Revocation{CredentialSHA256: hex.EncodeToString(sum[:])}
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				j := i % len(msgs)
				if n := revokeLocal(msgs[j], time.Now()); n != 1 {
					b.Fatalf("revocation %d dropped %d identities, want 1", j, n)
				}
				p, k, e := entry(j * 97)
				p.ids.add(k, e, time.Hour, users)
			}
			b.StopTimer()
			revocations.Lock()
			clear(revocations.users)
			clear(revocations.creds)
			revocations.Unlock()
		})
	}
}
