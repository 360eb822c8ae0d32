package identity

import (
	"crypto/sha256"
	"errors"
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
// the auth service (fromScope, fromSiblings).
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

// cacheEntry is a verified identity, when it was fetched, when the call
// that fetched it started (a revocation after that beats it) and the
// hashes of its credential's parts (for revocation). Freshness is judged by
// each reader against its own cache_ttl.
type cacheEntry struct {
	id      *Identity
	fetched time.Time
	started time.Time
	parts   [][sha256.Size]byte
	// jitter places the entry in the expiry and refresh spreads
	// (refresh.go); refreshing is set when its refresh ahead started.
	jitter     float64
	refreshing atomic.Bool
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

// keepAtLeast raises the partition's retention to d (and the process's
// maxRetention, how long revocations are kept).
func (p *partition) keepAtLeast(d time.Duration) {
	for {
		old := maxRetention.Load()
		if int64(d) <= old || maxRetention.CompareAndSwap(old, int64(d)) {
			break
		}
	}
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

// drop removes the partition key at once (its last engine let go).
func (ps *partitionSet) drop(key string) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if p := ps.byKey[key]; p != nil {
		ps.remove(p)
	}
}

// remove unlinks p; ps.mu held.
func (ps *partitionSet) remove(p *partition) {
	p.dead.Store(true)
	delete(ps.byKey, p.key)
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
	for _, p := range ps.byKey {
		if now-p.lastUsed.Load() <= p.retention.Load()+int64(time.Minute) {
			continue
		}
		ps.remove(p)
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

// sweep deletes the expired items of every partition: the one janitor
// of all caches (go-cache's own would be two goroutines per partition).
func (ps *partitionSet) sweep() {
	for _, p := range ps.all() {
		p.ids.deleteExpired()
		p.rejects.deleteExpired()
	}
}

var pruneOnce sync.Once

// startPruning runs the janitor and prune every minute for the life of the
// process.
func startPruning() {
	pruneOnce.Do(func() {
		go func() {
			for range time.Tick(time.Minute) {
				partitions.sweep()
				partitions.prune()
				pruneShared()
			}
		}()
	})
}

// boundedCache is a go-cache with an upper bound on its item count and
// indexes by user id and by credential part, so that a revocation costs
// what the revoked user has, not a scan of the cache.
type boundedCache struct {
	c   *gocache.Cache
	now func() time.Time
	// mu makes the count check and the insert one step, so concurrent
	// misses cannot overshoot the bound. Only writes (cache misses) take it;
	// reads go straight to go-cache.
	mu        sync.Mutex
	lastSweep atomic.Int64 // unix nanoseconds of the last full expiry sweep

	// The indexes are kept in step with go-cache by add and go-cache's
	// eviction callback, which Delete and DeleteExpired call synchronously:
	// every mutation holds mu, so the two never disagree. A key string
	// shares its bytes with go-cache's: an index entry costs its slot.
	byUser map[string][]string
	byPart map[[sha256.Size]byte][]string
}

func newBoundedCache(now func() time.Time) *boundedCache {
	// No janitor of its own: partitionSet.sweep is the one for all.
	b := &boundedCache{c: gocache.New(gocache.NoExpiration, 0), now: now,
		byUser: map[string][]string{}, byPart: map[[sha256.Size]byte][]string{}}
	b.c.OnEvicted(b.unindex)
	return b
}

// indexed is what a cached value is found by on revocation.
func indexed(v any) (userID string, parts [][sha256.Size]byte) {
	switch e := v.(type) {
	case *cacheEntry:
		return e.id.UserID, e.parts
	case *rejection:
		return "", e.parts
	}
	return "", nil
}

// index and unindex run with mu held.
func (b *boundedCache) index(key string, v any) {
	user, parts := indexed(v)
	if user != "" {
		b.byUser[user] = append(b.byUser[user], key)
	}
	for _, p := range parts {
		b.byPart[p] = append(b.byPart[p], key)
	}
}

func (b *boundedCache) unindex(key string, v any) {
	user, parts := indexed(v)
	if user != "" {
		if keys := without(b.byUser[user], key); len(keys) == 0 {
			delete(b.byUser, user)
		} else {
			b.byUser[user] = keys
		}
	}
	for _, p := range parts {
		if keys := without(b.byPart[p], key); len(keys) == 0 {
			delete(b.byPart, p)
		} else {
			b.byPart[p] = keys
		}
	}
}

// without removes one occurrence of key (a user or part has few keys).
func without(keys []string, key string) []string {
	for i, k := range keys {
		if k == key {
			keys[i] = keys[len(keys)-1]
			return keys[:len(keys)-1]
		}
	}
	return keys
}

// revokeUser deletes the identities of userID and returns how many.
func (b *boundedCache) revokeUser(userID string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	keys := append([]string(nil), b.byUser[userID]...)
	return b.removeKeys(keys, func(v any) bool { u, _ := indexed(v); return u == userID })
}

// revokePart deletes every item whose credential contains part.
func (b *boundedCache) revokePart(part [sha256.Size]byte) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	keys := append([]string(nil), b.byPart[part]...)
	return b.removeKeys(keys, func(v any) bool { _, ps := indexed(v); return hasPart(ps, part) })
}

// removeKeys deletes those of keys whose value matches; mu held.
func (b *boundedCache) removeKeys(keys []string, match func(v any) bool) int {
	n := 0
	for _, k := range keys {
		if v, ok := b.c.Get(k); ok && match(v) {
			b.c.Delete(k)
			n++
		}
	}
	return n
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
	// Readers do not take mu, so the key must never be missing while it is
	// replaced: a request looking in that gap would start a second verify
	// call. A live old value is unindexed by hand and replaced by Set in
	// one step (Set calls no eviction callback); the same value (every
	// request of a shared call stores its answer) is left alone; an
	// expired one, which readers already miss, is deleted first so the
	// eviction callback unindexes it.
	if old, ok := b.c.Get(key); ok {
		if old == v {
			return true
		}
		b.unindex(key, old)
	} else {
		b.c.Delete(key)
	}
	b.c.Set(key, v, ttl)
	b.index(key, v)
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

func (b *boundedCache) remove(key string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.c.Delete(key)
}

// deleteExpired is the janitor's sweep of this cache.
func (b *boundedCache) deleteExpired() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.c.DeleteExpired()
}

// keys returns every key held (tests).
func (b *boundedCache) keys() []string {
	out := make([]string, 0, b.c.ItemCount())
	for k := range b.c.Items() {
		out = append(out, k)
	}
	return out
}

// flush empties the cache (go-cache's Flush calls no eviction callback).
func (b *boundedCache) flush() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.c.Flush()
	b.byUser = map[string][]string{}
	b.byPart = map[[sha256.Size]byte][]string{}
}

// Len is the number of items held, expired ones not yet swept included.
func (b *boundedCache) Len() int { return b.c.ItemCount() }

// The cache stage of the request path: judging entries by this route's
// policy, finding them in this route's partition and its scope's siblings,
// storing them.

// fresh reports whether ent is younger than this route's cache_ttl. An
// entry fetched "in the future" (a clock step, or a planted Redis value) is
// never fresh.
func (e *Engine) fresh(ent *cacheEntry, now time.Time) bool {
	age := now.Sub(ent.fetched)
	return age >= 0 && age < e.freshFor(ent) && ent.id.live(now)
}

func (e *Engine) withinStale(ent *cacheEntry, now time.Time) bool {
	age := now.Sub(ent.fetched)
	return age >= 0 && age < e.CacheTTL+e.StaleIfError && ent.id.live(now)
}

func (e *Engine) rejectionFresh(r *rejection, now time.Time) bool {
	age := now.Sub(r.fetched)
	return age >= 0 && age < e.NegativeTTL
}

// entryTTL is how long this route keeps ent: to the end of its stale window.
func (e *Engine) entryTTL(ent *cacheEntry, now time.Time) time.Duration {
	d := e.CacheTTL + e.StaleIfError - now.Sub(ent.fetched)
	if x := ent.id.expires(); !x.IsZero() {
		d = min(d, x.Sub(now)) // a provider identity ends with its token
	}
	if d > time.Millisecond {
		return d
	}
	return time.Millisecond
}

// storeLocal adds ent to p unless a revocation beats it, and reports
// whether it is kept. The check follows the add: a revocation is
// remembered before it sweeps the partitions, so one that arrives around
// the add is seen either by the sweep or by the check.
func storeLocal(p *partition, key string, ent *cacheEntry, ttl time.Duration, bound int) bool {
	p.ids.add(key, ent, ttl, bound)
	if revokedSince(ent.parts, ent.id.UserID, ent.started) {
		p.ids.remove(key)
		return false
	}
	return true
}

func newer(a, b *cacheEntry) *cacheEntry {
	switch {
	case a == nil:
		return b
	case b == nil || a.fetched.After(b.fetched):
		return a
	}
	return b
}

func lookupIdentity(p *partition, key string) *cacheEntry {
	if v, ok := p.ids.get(key); ok {
		return v.(*cacheEntry)
	}
	return nil
}

func lookupRejection(p *partition, key string) *rejection {
	if v, ok := p.rejects.get(key); ok {
		return v.(*rejection)
	}
	return nil
}

// newestInScope returns the newest identity and rejection that the other
// partitions of the scope hold for key.
func (e *Engine) newestInScope(key string, own *partition) (*cacheEntry, *rejection) {
	var ent *cacheEntry
	var rej *rejection
	for _, q := range partitions.siblings(e.scope) {
		if q == own {
			continue
		}
		ent = newer(ent, lookupIdentity(q, key))
		if r := lookupRejection(q, key); r != nil && (rej == nil || r.fetched.After(rej.fetched)) {
			rej = r
		}
	}
	return ent, rej
}

// fromRoute is step 2: this route's partition. A fresh identity or a
// fresh cached rejection answers; an identity past cache_ttl is kept as
// the stale candidate.
func (e *Engine) fromRoute(p *partition, key string, now time.Time) answer {
	var a answer
	if e.CacheTTL > 0 {
		if ent := lookupIdentity(p, key); ent != nil {
			if e.fresh(ent, now) {
				return answer{id: ent.id, outcome: OutcomeHit, ent: ent}
			}
			a.stale = ent
		}
	}
	if e.NegativeTTL > 0 {
		if r := lookupRejection(p, key); r != nil && e.rejectionFresh(r, now) {
			return answer{outcome: OutcomeRejectedHit, err: &RejectedError{Status: r.status}}
		}
	}
	return a
}

// fromScope is step 3: another route of this scope may know the answer;
// what it knows is copied into this route's partition.
func (e *Engine) fromScope(p *partition, key string, now time.Time) answer {
	if e.CacheTTL <= 0 && e.NegativeTTL <= 0 {
		return answer{}
	}
	var a answer
	ent, rej := e.newestInScope(key, p)
	if ent != nil && e.CacheTTL > 0 {
		if e.fresh(ent, now) {
			storeLocal(p, key, ent, e.entryTTL(ent, now), e.CacheMaxEntries)
			return answer{id: ent.id, outcome: OutcomeHit}
		}
		a.stale = ent
	}
	if rej != nil && e.NegativeTTL > 0 && e.rejectionFresh(rej, now) {
		p.rejects.add(key, rej, e.NegativeTTL-now.Sub(rej.fetched), e.CacheMaxEntries)
		return answer{outcome: OutcomeRejectedHit, err: &RejectedError{Status: rej.status}}
	}
	return a
}

// fromSiblings is the shared call's first look: a fresh entry another
// request's call stored since this request missed.
func (e *Engine) fromSiblings(key string) *cacheEntry {
	if e.CacheTTL <= 0 {
		return nil
	}
	for _, q := range partitions.siblings(e.scope) {
		if ent := lookupIdentity(q, key); ent != nil && e.fresh(ent, e.now()) {
			return ent
		}
	}
	return nil
}

// store is step 4d: a fresh answer goes to this route's partition before
// the call ends (so that a request that missed just now finds it instead of
// calling again) and to the shared cache, unless a revocation beats it. It
// reports whether the answer may be cached.
func (e *Engine) store(key string, ent *cacheEntry) bool {
	if revokedSince(ent.parts, ent.id.UserID, ent.started) {
		return false
	}
	if e.CacheTTL > 0 {
		now := e.now()
		if !storeLocal(e.partition(now), key, ent, e.entryTTL(ent, now), e.CacheMaxEntries) {
			return false
		}
		if ent.id.source == SourceLegacy { // provider identities are verified on each node
			e.sharedStore(key, ent)
		}
	}
	return true
}

// settle is step 5: this route's policy applied to the shared call's
// result: a fresh answer cached here, a rejection remembered for
// negative_ttl (and never served stale), a failure of the verifier
// answered from the newest stale entry inside stale_if_error.
func (e *Engine) settle(p *partition, key string, cred credential, res callResult, stale *cacheEntry) answer {
	var rejected *RejectedError
	switch {
	case res.entry != nil:
		if e.CacheTTL > 0 && res.cacheable {
			storeLocal(p, key, res.entry, e.entryTTL(res.entry, e.now()), e.CacheMaxEntries)
		}
		return answer{id: res.entry.id, outcome: OutcomeMiss}
	case errors.As(res.err, &rejected):
		p.ids.remove(key)
		if e.NegativeTTL > 0 {
			p.rejects.add(key, &rejection{status: rejected.Status, fetched: e.now(), parts: credentialParts(cred)}, e.NegativeTTL, e.CacheMaxEntries)
		}
	case authServiceFailed(res.err):
		if s := newer(stale, res.stale); s != nil && e.CacheTTL > 0 && e.withinStale(s, e.now()) {
			return answer{id: s.id, outcome: OutcomeStale}
		}
	}
	return answer{err: res.err}
}
