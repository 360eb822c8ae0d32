package plugin

import (
	"crypto/sha256"
	"sync"
	"sync/atomic"
	"time"

	gocache "github.com/patrickmn/go-cache"
)

// The two process-wide caches. They live at package level, not in a plugin
// instance: Kong starts a new instance on every plugin-iterator rebuild and
// go-pdk drops instances idle for 60 s, so an instance-level cache would be
// emptied at the worst moments.
//
// github.com/patrickmn/go-cache is an RWMutex-guarded map with per-item
// expiry and a janitor that sweeps expired items: what the Lua original had
// in kong.cache, without a service to run. It has no size bound, so
// boundedCache adds one. Rejections have their own cache so that a flood of
// bad tokens can never push out the identities of real users.
var (
	identities = newBoundedCache()
	rejections = newBoundedCache()
)

// cacheEntry is a verified identity and when it was fetched. Freshness is
// judged by the reader against its own cache_ttl: entries are shared by every
// instance that calls the same auth service, whatever their TTLs.
type cacheEntry struct {
	id      *Identity
	fetched time.Time
}

// rejection is a cached 401 or 403.
type rejection struct {
	status  int
	fetched time.Time
}

// namespaceLen is how many bytes of the namespace hash prefix a key.
const namespaceLen = 8

// cacheKey is namespace ‖ SHA-256(credential): the raw token is never a key
// and never stored, and the namespace (a hash of the auth service and
// method) keeps answers of different auth services apart. The credential
// hash is the same under every namespace, so a revocation that names
// SHA-256(credential) can find the credential's entries everywhere.
func cacheKey(namespace []byte, credential string) string {
	var buf [512]byte
	var b []byte
	if len(credential) <= len(buf) {
		b = append(buf[:0], credential...) // no heap copy for ordinary tokens
	} else {
		b = []byte(credential)
	}
	sum := sha256.Sum256(b)
	var k [namespaceLen + sha256.Size]byte
	copy(k[:namespaceLen], namespace)
	copy(k[namespaceLen:], sum[:])
	return string(k[:])
}

// boundedCache is a go-cache with an upper bound on its item count.
type boundedCache struct {
	c *gocache.Cache
	// mu makes the count check and the insert one step, so concurrent
	// misses cannot overshoot the bound. Only writes (cache misses) take it;
	// reads go straight to go-cache.
	mu        sync.Mutex
	lastSweep atomic.Int64 // unix nanoseconds of the last full expiry sweep
}

func newBoundedCache() *boundedCache {
	return &boundedCache{c: gocache.New(gocache.NoExpiration, time.Minute)}
}

// sweepEvery throttles the O(n) expiry sweep a full cache triggers, so a
// flood of new keys costs one sweep a second, not one per key.
const sweepEvery = time.Second

// add stores v under key for ttl, keeping at most max items: when the
// cache is full it first sweeps expired items and, if still full, evicts
// a tenth of the items at random (at most once per sweepEvery); it
// reports whether v was stored. Between evictions a full cache refuses new
// keys: the answer is still served, only not remembered.
func (b *boundedCache) add(key string, v any, ttl time.Duration, max int) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.c.ItemCount() >= max {
		if _, exists := b.c.Get(key); !exists {
			b.makeRoom(max)
			if b.c.ItemCount() >= max {
				return false
			}
		}
	}
	b.c.Set(key, v, ttl)
	return true
}

// makeRoom is the throttled O(n) part of add.
func (b *boundedCache) makeRoom(max int) {
	now := time.Now().UnixNano()
	if now-b.lastSweep.Load() < int64(sweepEvery) {
		return
	}
	b.lastSweep.Store(now)
	b.c.DeleteExpired()
	if n := b.c.ItemCount(); n >= max {
		// Go's map iteration order is random: this drops a random tenth,
		// so a cache sized below the active users still keeps most of them.
		drop := n/10 + 1
		for k := range b.c.Items() {
			if drop == 0 {
				break
			}
			b.c.Delete(k)
			drop--
		}
		evictionsTotal.Add(float64(n/10 + 1))
	}
}

func (b *boundedCache) get(key string) (any, bool) { return b.c.Get(key) }

// Len is the number of items held, expired ones not yet swept included.
func (b *boundedCache) Len() int { return b.c.ItemCount() }
