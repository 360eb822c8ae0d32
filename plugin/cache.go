package plugin

import (
	"crypto/sha256"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	gocache "github.com/patrickmn/go-cache"
)

// Cached answers live in partitions, one per plugin entity (Kong's
// __plugin_id) and scope. A partition holds that plugin's identities and
// rejections, each bounded by its own cache_max_entries, so one route's
// bound never evicts another route's users. Routes of one scope still share
// answers: a miss in one partition takes a sibling's entry before asking
// the auth service (see engine.lookupScope).
//
// Partitions live at package level, not in a plugin instance: Kong starts a
// new instance on every plugin-iterator rebuild, and go-pdk drops instances
// idle for 60 s, so an instance-level cache would be emptied at the worst
// moments. A partition no instance has used for longer than its entries can
// live is dropped (partitionSet.prune).
//
// github.com/patrickmn/go-cache is an RWMutex-guarded map with per-item
// expiry and a janitor: what the Lua original had in kong.cache, without a
// service to run. boundedCache adds the size bound it lacks.

// cacheEntry is a verified identity, when it was fetched and the hashes of
// its credential's parts (for revocation). Freshness is judged by each
// reader against its own cache_ttl.
type cacheEntry struct {
	id      *Identity
	fetched time.Time
	parts   [][sha256.Size]byte
}

// rejection is a cached 401 or 403.
type rejection struct {
	status  int
	fetched time.Time
	parts   [][sha256.Size]byte
}

// partition is one plugin entity's cache in one scope.
type partition struct {
	key     string
	scope   scope
	ids     *boundedCache
	rejects *boundedCache
	// lastUsed (unix ns) and retention (ns: the longest time any user keeps
	// an entry) decide when prune drops the partition; dead tells engines
	// holding it to acquire a live one.
	lastUsed  atomic.Int64
	retention atomic.Int64
	dead      atomic.Bool
}

// touch records a use, writing at most once a second (no cache-line
// ping-pong between cores on the hit path).
func (p *partition) touch(now time.Time) {
	n := now.UnixNano()
	if n-p.lastUsed.Load() > int64(time.Second) {
		p.lastUsed.Store(n)
	}
}

// keepAtLeast raises the partition's retention to d.
func (p *partition) keepAtLeast(d time.Duration) {
	for {
		old := p.retention.Load()
		if int64(d) <= old || p.retention.CompareAndSwap(old, int64(d)) {
			return
		}
	}
}

// partitionSet is every live partition of the process.
type partitionSet struct {
	mu      sync.RWMutex
	byKey   map[string]*partition
	byScope map[string][]*partition
	now     func() time.Time
}

func newPartitionSet(now func() time.Time) *partitionSet {
	return &partitionSet{byKey: map[string]*partition{}, byScope: map[string][]*partition{}, now: now}
}

// partitions are the process's caches.
var partitions = newPartitionSet(time.Now)

// partitionKey names the partition of a plugin entity in a scope. Without a
// plugin id (a Kong that does not send __plugin_id), configurations with
// the same bound share one.
func partitionKey(pluginID string, sc scope, bound int) string {
	if pluginID != "" {
		return "plugin:" + pluginID + "\x00" + sc.id
	}
	return "bound:" + strconv.Itoa(bound) + "\x00" + sc.id
}

// acquire returns the live partition key, creating it.
func (ps *partitionSet) acquire(key string, sc scope) *partition {
	ps.mu.RLock()
	p := ps.byKey[key]
	ps.mu.RUnlock()
	if p != nil {
		return p
	}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if p = ps.byKey[key]; p != nil {
		return p
	}
	p = &partition{key: key, scope: sc, ids: newBoundedCache(ps.now), rejects: newBoundedCache(ps.now)}
	p.lastUsed.Store(ps.now().UnixNano())
	ps.byKey[key] = p
	ps.byScope[sc.id] = append(ps.byScope[sc.id], p)
	return p
}

// siblings returns the partitions of scope sc (the caller's own included).
func (ps *partitionSet) siblings(sc scope) []*partition {
	ps.mu.RLock()
	defer ps.mu.RUnlock()
	return ps.byScope[sc.id]
}

// all returns every live partition.
func (ps *partitionSet) all() []*partition {
	ps.mu.RLock()
	defer ps.mu.RUnlock()
	out := make([]*partition, 0, len(ps.byKey))
	for _, p := range ps.byKey {
		out = append(out, p)
	}
	return out
}

// prune drops the partitions unused for longer than their retention (plus
// a minute): no entry in them could be served any more. It returns how
// many it dropped.
func (ps *partitionSet) prune() int {
	now := ps.now().UnixNano()
	ps.mu.Lock()
	defer ps.mu.Unlock()
	dropped := 0
	for key, p := range ps.byKey {
		if now-p.lastUsed.Load() <= p.retention.Load()+int64(time.Minute) {
			continue
		}
		p.dead.Store(true)
		delete(ps.byKey, key)
		list := ps.byScope[p.scope.id]
		for i, q := range list {
			if q == p {
				list = append(list[:i:i], list[i+1:]...)
				break
			}
		}
		if len(list) == 0 {
			delete(ps.byScope, p.scope.id)
		} else {
			ps.byScope[p.scope.id] = list
		}
		dropped++
	}
	return dropped
}

// counts are the entries held, for the metrics gauges.
func (ps *partitionSet) counts() (ids, rejects int) {
	for _, p := range ps.all() {
		ids += p.ids.Len()
		rejects += p.rejects.Len()
	}
	return ids, rejects
}

var pruneOnce sync.Once

// startPruning runs prune every minute for the life of the process.
func startPruning() {
	pruneOnce.Do(func() {
		go func() {
			for range time.Tick(time.Minute) {
				partitions.prune()
				pruneShared()
			}
		}()
	})
}

// boundedCache is a go-cache with an upper bound on its item count.
type boundedCache struct {
	c   *gocache.Cache
	now func() time.Time
	// mu makes the count check and the insert one step, so concurrent
	// misses cannot overshoot the bound. Only writes (cache misses) take it;
	// reads go straight to go-cache.
	mu        sync.Mutex
	lastSweep atomic.Int64 // unix nanoseconds of the last full expiry sweep
}

func newBoundedCache(now func() time.Time) *boundedCache {
	return &boundedCache{c: gocache.New(gocache.NoExpiration, time.Minute), now: now}
}

// sweepEvery throttles the O(n) sweep a full cache triggers, so a flood of
// new keys costs one sweep a second, not one per key.
const sweepEvery = time.Second

// add stores v under key for ttl, keeping at most max items: when the
// cache is full it sweeps expired items and, if still full, evicts a random
// tenth (at most once per sweepEvery); it reports whether v was stored.
// Between evictions a full cache refuses new keys: the answer is still
// served, only not remembered.
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
	now := b.now().UnixNano()
	if now-b.lastSweep.Load() < int64(sweepEvery) {
		return
	}
	b.lastSweep.Store(now)
	b.c.DeleteExpired()
	if n := b.c.ItemCount(); n >= max {
		// Map iteration order is random: this drops a random tenth, so a
		// cache sized below the active users still keeps most of them.
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

func (b *boundedCache) remove(key string) { b.c.Delete(key) }

// removeIf deletes every item for which drop is true and returns how many.
func (b *boundedCache) removeIf(drop func(v any) bool) int {
	n := 0
	for k, item := range b.c.Items() {
		if drop(item.Object) {
			b.c.Delete(k)
			n++
		}
	}
	return n
}

// keys returns every key held (tests).
func (b *boundedCache) keys() []string {
	out := make([]string, 0, b.c.ItemCount())
	for k := range b.c.Items() {
		out = append(out, k)
	}
	return out
}

// flush empties the cache.
func (b *boundedCache) flush() { b.c.Flush() }

// Len is the number of items held, expired ones not yet swept included.
func (b *boundedCache) Len() int { return b.c.ItemCount() }
