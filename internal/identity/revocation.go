package identity

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"sync"
	"sync/atomic"
	"time"

	"github.com/legacy-auth/legacy-auth/internal/sharedcache"
)

// The revocation stage: what this node received (remembered as long as an
// entry it beats can live), applied to every partition through the
// indexes, recorded in Redis for every node, and checked on every entry
// read from the shared cache (shared.go) and before every store (cache.go).

// revocations remembers this node's revocations for as long as an entry
// they beat can live (revocationKeep): a verify call already in flight
// when one arrived does not cache its older answer again, and an entry
// read from Redis is checked against them too (Redis may have missed the
// mark: written while it was down).
var revocations = struct {
	sync.Mutex
	creds map[[sha256.Size]byte]time.Time // credential part → when revoked
	users map[string]time.Time            // user id → when revoked
}{creds: map[[sha256.Size]byte]time.Time{}, users: map[string]time.Time{}}

// minRevocationKeep is the least a revocation is remembered: longer than
// any verify call can take (timeout ≤ 60 s).
const minRevocationKeep = 2 * time.Minute

// revocationSkew is how much later than a revocation mark in Redis an
// entry's verify call must have started to be trusted: room for the clock
// differences between the node that verified and the one that marked.
const revocationSkew = time.Second

// maxRetention (ns) is the longest any partition keeps an entry
// (cache_ttl + stale_if_error, or negative_ttl): how long a revocation
// must hold.
var maxRetention atomic.Int64

// revocationKeep is how long a revocation is remembered, here and in Redis.
func revocationKeep() time.Duration {
	keep := max(time.Duration(maxRetention.Load()), minRevocationKeep)
	if providerTokensSeen.Load() {
		// A provider token is verified again, not fetched: its revocation
		// must outlast every token issued before it (provider.go).
		keep = max(keep, maxProviderTokenLifetime)
	}
	return keep
}

// providerTokensSeen: some engine verifies provider tokens.
var providerTokensSeen atomic.Bool

// pruneRevocations forgets the revocations no entry can be older than.
func pruneRevocations(now time.Time) {
	keep := revocationKeep()
	revocations.Lock()
	defer revocations.Unlock()
	for k, t := range revocations.creds {
		if now.Sub(t) > keep {
			delete(revocations.creds, k)
		}
	}
	for u, t := range revocations.users {
		if now.Sub(t) > keep {
			delete(revocations.users, u)
		}
	}
}

// revoke applies one revocation, in this order: remembered (so no call
// in flight caches an older answer, and no Redis read serves one); dropped
// from this process's caches through their indexes (what the user has,
// not a scan); marked in Redis (so every node's shared reads refuse older
// entries, also nodes started later); and the Redis entries the indexes
// name deleted (best effort: the mark is what holds).
func revoke(shared *sharedcache.Cache, r sharedcache.Revocation) {
	now := time.Now()
	dropped := revokeLocal(r, now)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := shared.MarkRevoked(ctx, r, now, revocationKeep()); err != nil {
		logger.Warn("revocation: recording it in Redis failed; nodes that did not receive it may serve entries from Redis", "error", err.Error())
	}
	sharedDeleted := 0
	if r.CredentialSHA256 != "" { // validated and lower-cased by sharedcache
		keys, err := shared.RevokeCredential(ctx, r.CredentialSHA256)
		if err != nil {
			logger.Warn("revocation: deleting a credential's shared entries failed", "error", err.Error())
		}
		sharedDeleted += len(keys)
	}
	if r.UserID != "" {
		keys, err := shared.RevokeUser(ctx, r.UserID)
		if err != nil {
			logger.Warn("revocation: deleting a user's shared entries failed", "error", err.Error())
		}
		sharedDeleted += len(keys)
	}
	revocationsTotal.Inc()
	logger.Info("revocation applied", "shared_entries", sharedDeleted, "local_entries", dropped, "by_user", r.UserID != "")
}

// revokeLocal is revoke's in-process half: remembered, then dropped from
// every partition. It returns how many identities it dropped.
func revokeLocal(r sharedcache.Revocation, now time.Time) int {
	var part [sha256.Size]byte
	byCred := false
	if r.CredentialSHA256 != "" {
		if b, err := hex.DecodeString(r.CredentialSHA256); err == nil && len(b) == sha256.Size {
			copy(part[:], b)
			byCred = true
		}
	}
	revocations.Lock()
	if byCred {
		revocations.creds[part] = now
	}
	if r.UserID != "" {
		revocations.users[r.UserID] = now
	}
	revocations.Unlock()
	return dropRevoked(r.UserID, part, byCred)
}

// dropRevoked deletes the in-process entries of userID (when not empty)
// and of part (when byCred) from every partition, through the indexes.
func dropRevoked(userID string, part [sha256.Size]byte, byCred bool) int {
	dropped := 0
	for _, p := range partitions.all() {
		if byCred {
			dropped += p.ids.revokePart(part)
			p.rejects.revokePart(part)
		}
		if userID != "" {
			dropped += p.ids.revokeUser(userID)
		}
	}
	return dropped
}

func hasPart(parts [][sha256.Size]byte, p [sha256.Size]byte) bool {
	for _, q := range parts {
		if q == p {
			return true
		}
	}
	return false
}

// revokedSince reports whether one of parts or userID was revoked after t.
func revokedSince(parts [][sha256.Size]byte, userID string, t time.Time) bool {
	revocations.Lock()
	defer revocations.Unlock()
	if len(revocations.creds) == 0 && len(revocations.users) == 0 {
		return false
	}
	for _, p := range parts {
		if at, ok := revocations.creds[p]; ok && at.After(t) {
			return true
		}
	}
	at, ok := revocations.users[userID]
	return ok && at.After(t)
}
