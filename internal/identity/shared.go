package identity

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/legacy-auth/legacy-auth/internal/sharedcache"
	"github.com/prometheus/client_golang/prometheus"
)

// The shared cache: with redis_addrs set, every Kong node's plugin process
// looks in Redis after an in-process miss and before calling Rails, and
// writes fresh answers there, so a token verified through one node is
// known to all; a revocation published on Redis reaches every node. The
// cache-hit path of a warm node never touches Redis.

// redisClient is one Redis connection (and revocation subscriber) shared by
// every engine with the same Redis settings. Clients unused for redisIdle
// are closed (a rotated password leaves its old client unused); an engine
// that comes back to a closed client opens a new one.
type redisClient struct {
	cache    *sharedcache.Cache
	lastUsed atomic.Int64 // unix ns
	closed   atomic.Bool
	stop     context.CancelFunc
}

// redisIdle is how long an unused Redis client is kept open.
const redisIdle = 10 * time.Minute

var redisClients = struct {
	sync.Mutex
	m map[string]*redisClient
	// evicted are settings whose client was closed: a client opened again
	// for them has missed revocations and flushes the in-process cache.
	evicted map[string]bool
}{m: map[string]*redisClient{}, evicted: map[string]bool{}}

// redisUse is an engine's handle on its Redis client.
type redisUse struct {
	key     string
	opts    sharedcache.Options
	timeout time.Duration
	client  atomic.Pointer[redisClient]
}

func redisKey(o sharedcache.Options) string {
	return fmt.Sprintf("%s|%v|%s|%s|%x|%d|%t|%s|%s", o.Mode, o.Addrs, o.MasterName, o.Username,
		sha256.Sum256([]byte(o.Password)), o.DB, o.TLS, o.Prefix, o.Timeout)
}

// useRedis returns a handle on the shared client for opts, opening it.
func useRedis(opts sharedcache.Options) (*redisUse, error) {
	u := &redisUse{key: redisKey(opts), opts: opts, timeout: opts.Timeout}
	c, err := openRedis(u.key, opts)
	if err != nil {
		return nil, err
	}
	u.client.Store(c)
	return u, nil
}

func openRedis(key string, opts sharedcache.Options) (*redisClient, error) {
	redisClients.Lock()
	defer redisClients.Unlock()
	if c, ok := redisClients.m[key]; ok {
		c.lastUsed.Store(time.Now().UnixNano())
		return c, nil
	}
	opts.Logger = logger
	opts.OnResubscribe = flushIdentities
	cache, err := sharedcache.New(opts)
	if err != nil {
		return nil, errors.New(strings.TrimPrefix(err.Error(), "sharedcache: "))
	}
	if redisClients.evicted[key] {
		flushIdentities()
	}
	ctx, stop := context.WithCancel(context.Background())
	c := &redisClient{cache: cache, stop: stop}
	c.lastUsed.Store(time.Now().UnixNano())
	redisClients.m[key] = c
	go cache.Subscribe(ctx, func(r sharedcache.Revocation) { revoke(cache, r) })
	return c, nil
}

// get returns the live client, opening a new one after an idle close.
func (u *redisUse) get(now time.Time) *sharedcache.Cache {
	c := u.client.Load()
	if c.closed.Load() {
		n, err := openRedis(u.key, u.opts)
		if err != nil {
			return nil
		}
		u.client.Store(n)
		c = n
	}
	if n := now.UnixNano(); n-c.lastUsed.Load() > int64(time.Second) {
		c.lastUsed.Store(n)
	}
	return c.cache
}

// touch keeps the engine's client (and so its revocation subscription)
// open while the engine serves requests, hits included.
func (u *redisUse) touch(now time.Time) { u.get(now) }

// unheldRedisIdle is how long a client no engine holds is kept: one that a
// retired engine still in use reopened (see lifecycle.go).
const unheldRedisIdle = time.Minute

// pruneRedis closes the clients unused since before now-redisIdle, and
// those no engine holds unused since before now-unheldRedisIdle.
func pruneRedis(now time.Time) int {
	holders := heldKeys("redis|") // before redisClients: letGo locks in the other order
	redisClients.Lock()
	defer redisClients.Unlock()
	n := 0
	for key, c := range redisClients.m {
		idle := now.UnixNano() - c.lastUsed.Load()
		if idle <= int64(unheldRedisIdle) || (idle <= int64(redisIdle) && holders["redis|"+key]) {
			continue
		}
		closeRedisLocked(key, c)
		n++
	}
	return n
}

// closeRedis closes the client of key at once (its last engine let go).
func closeRedis(key string) {
	redisClients.Lock()
	defer redisClients.Unlock()
	if c, ok := redisClients.m[key]; ok {
		closeRedisLocked(key, c)
	}
}

// closeRedisLocked closes c; redisClients held. A client opened again for
// the same settings has missed revocations meanwhile and flushes the
// in-process cache (evicted).
func closeRedisLocked(key string, c *redisClient) {
	c.closed.Store(true)
	c.stop()
	_ = c.cache.Close()
	delete(redisClients.m, key)
	redisClients.evicted[key] = true
}

// pruneShared closes process-wide resources nobody used for a while.
func pruneShared() {
	now := time.Now()
	pruneBreakers(now)
	pruneRedis(now)
	pruneRevocations(now)
}

// flushIdentities forgets every cached identity: revocations may have been
// missed while no subscription was live.
func flushIdentities() {
	n := 0
	for _, p := range partitions.all() {
		n += p.ids.Len()
		p.ids.flush()
	}
	logger.Warn("revocation channel (re)subscribed after a gap; in-process identity cache flushed", "entries", n)
}

// redisWait is how long a lookup may wait for Redis: redis_timeout, but
// never more than a quarter of timeout, so that a slow Redis leaves the
// verify call at least three quarters of the request's one deadline.
func (e *Engine) redisWait() time.Duration {
	return min(e.shared.timeout, e.Timeout/4)
}

// hexParts are credential parts as the shared cache names them.
func hexParts(parts [][sha256.Size]byte) []string {
	out := make([]string, len(parts))
	for i, p := range parts {
		out[i] = hex.EncodeToString(p[:])
	}
	return out
}

// fromShared is step 4a: the shared cache's entry for key (checked
// against revocations: 4b), or nil.
func (e *Engine) fromShared(ctx context.Context, key string, parts [][sha256.Size]byte) *cacheEntry {
	if e.CacheTTL <= 0 || e.shared == nil {
		return nil
	}
	ent, _ := e.sharedLookup(ctx, key, parts)
	return ent
}

// sharedLookup asks Redis for key, inside the call's deadline. Redis trouble
// is never an error for the request: it is logged by sharedcache, counted,
// and the caller goes on to the auth service. A value is checked exactly
// like an answer of the auth service; a bad one is a miss.
func (e *Engine) sharedLookup(ctx context.Context, key string, parts [][sha256.Size]byte) (*cacheEntry, bool) {
	cache := e.shared.get(e.now())
	if cache == nil || !cache.Healthy() {
		return nil, false
	}
	ctx, cancel := context.WithTimeout(ctx, e.redisWait())
	defer cancel()
	creds := hexParts(parts)
	v, ok, err := cache.Get(ctx, key, creds...)
	switch {
	case err != nil:
		redisGetError.Inc()
		return nil, false
	case !ok:
		redisGetMiss.Inc()
		return nil, false
	}
	id, err := checkSharedEntry(v, len(e.Extras), e.now())
	if err != nil {
		redisGetBad.Inc()
		logger.Warn("shared cache: ignoring an invalid cached value", "error", err.Error())
		return nil, false
	}
	started := v.Started
	if started.IsZero() {
		started = v.Fetched
	}
	// A revocation recorded in Redis, or received by this node, beats an
	// entry whose call started before it, whoever wrote the entry and
	// whenever it landed.
	if v.Revoked(revocationSkew) || revokedSince(parts, v.UserID, started) {
		redisGetRevoked.Inc()
		return nil, false
	}
	return &cacheEntry{id: id, fetched: v.Fetched, started: started, parts: parts, jitter: newJitter()}, true
}

// checkSharedEntry validates a value read from Redis like an answer of the
// auth service, and refuses a fetch time in the future.
func checkSharedEntry(v sharedcache.Entry, extras int, now time.Time) (*Identity, error) {
	if v.Fetched.After(now) {
		return nil, errors.New("fetch time in the future")
	}
	if len(v.Extra) != extras {
		return nil, fmt.Errorf("%d extra values, want %d", len(v.Extra), extras)
	}
	if err := checkIdentity(v.UserID, v.Roles, v.Extra); err != nil {
		return nil, err
	}
	return newIdentity(v.UserID, v.Roles, v.Extra, v.Fetched), nil
}

// sharedStore writes a fresh answer to Redis in the background: the request
// does not wait for it.
func (e *Engine) sharedStore(key string, ent *cacheEntry) {
	if e.shared == nil {
		return
	}
	cache := e.shared.get(e.now())
	if cache == nil || !cache.Healthy() {
		return
	}
	creds := hexParts(ent.parts)
	go func() {
		err := cache.Set(context.Background(), key, sharedcache.Entry{
			UserID: ent.id.UserID, Roles: ent.id.Roles, Extra: ent.id.Extra, Fetched: ent.fetched, Started: ent.started, Credentials: creds,
		}, e.CacheTTL+e.StaleIfError)
		if err != nil {
			redisSetError.Inc()
		} else {
			redisSetOK.Inc()
		}
	}()
}

// sharedForget removes key from Redis in the background (after a 401/403).
func (e *Engine) sharedForget(key string) {
	if e.shared == nil {
		return
	}
	if cache := e.shared.get(e.now()); cache != nil {
		go cache.Delete(context.Background(), key)
	}
}

var (
	redisOps = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "legacy_auth_redis_operations_total",
		Help: "Shared-cache operations by op (get, set) and result (hit, miss, bad, revoked, ok, error).",
	}, []string{"op", "result"})
	revocationsTotal = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "legacy_auth_revocations_total",
		Help: "Revocation messages applied from the Redis channel.",
	})
	redisGetHit   = redisOps.WithLabelValues("get", "hit")
	redisGetMiss  = redisOps.WithLabelValues("get", "miss")
	redisGetBad   = redisOps.WithLabelValues("get", "bad")
	redisGetError = redisOps.WithLabelValues("get", "error")
	// revoked: an entry found in Redis that a revocation beats.
	redisGetRevoked = redisOps.WithLabelValues("get", "revoked")
	redisSetOK      = redisOps.WithLabelValues("set", "ok")
	redisSetError   = redisOps.WithLabelValues("set", "error")
)
