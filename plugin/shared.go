package plugin

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

const (
	DefaultRedisPrefix    = "legacy-auth:"
	DefaultRedisTimeoutMs = 50
	MaxRedisTimeoutMs     = 1000
)

// sharedSettings validates the redis_* fields into s.redis. It is pure: the
// client is created by provision (useRedis).
func (c *Config) sharedSettings(s *settings, problems []string) []string {
	if len(c.RedisAddrs) == 0 {
		return problems
	}
	ms := float64(DefaultRedisTimeoutMs)
	if c.RedisTimeout != nil {
		ms = *c.RedisTimeout
	}
	if ms < 1 || ms > MaxRedisTimeoutMs {
		return append(problems, fmt.Sprintf("redis_timeout: value should be between 1 and %d", MaxRedisTimeoutMs))
	}
	db := 0
	if c.RedisDB != nil {
		db = *c.RedisDB
	}
	opts := sharedcache.Options{
		Mode: orDefault(c.RedisMode, sharedcache.ModeStandalone), Addrs: c.RedisAddrs, MasterName: c.RedisMasterName,
		Username: c.RedisUsername, Password: c.RedisPassword, DB: db, TLS: c.RedisTLS != nil && *c.RedisTLS,
		Prefix: orDefault(c.RedisPrefix, DefaultRedisPrefix), Timeout: time.Duration(ms * float64(time.Millisecond)),
	}
	if err := sharedcache.CheckOptions(opts); err != nil {
		return append(problems, "redis_addrs: "+strings.TrimPrefix(err.Error(), "sharedcache: "))
	}
	s.redis = &opts
	return problems
}

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
	return max(time.Duration(maxRetention.Load()), minRevocationKeep)
}

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

// redisWait is how long a lookup may wait for Redis: redis_timeout, but
// never more than a quarter of timeout, so that a slow Redis leaves the
// verify call at least three quarters of the request's one deadline.
func (e *engine) redisWait() time.Duration {
	return min(e.redis.timeout, e.timeout/4)
}

// sharedLookup asks Redis for key, inside the call's deadline. Redis trouble
// is never an error for the request: it is logged by sharedcache, counted,
// and the caller goes on to the auth service. A value is checked exactly
// like an answer of the auth service; a bad one is a miss.
func (e *engine) sharedLookup(ctx context.Context, key string, parts [][sha256.Size]byte) (*cacheEntry, bool) {
	cache := e.redis.get(e.now())
	if cache == nil || !cache.Healthy() {
		return nil, false
	}
	ctx, cancel := context.WithTimeout(ctx, e.redisWait())
	defer cancel()
	creds := make([]string, len(parts))
	for i, p := range parts {
		creds[i] = hex.EncodeToString(p[:])
	}
	v, ok, err := cache.Get(ctx, key, creds...)
	switch {
	case err != nil:
		redisGetError.Inc()
		return nil, false
	case !ok:
		redisGetMiss.Inc()
		return nil, false
	}
	id, err := checkSharedEntry(v, len(e.extras), e.now())
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
	return &cacheEntry{id: id, fetched: v.Fetched, started: started, parts: parts}, true
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
func (e *engine) sharedStore(key string, ent *cacheEntry) {
	if e.redis == nil {
		return
	}
	cache := e.redis.get(e.now())
	if cache == nil || !cache.Healthy() {
		return
	}
	creds := make([]string, len(ent.parts))
	for i, p := range ent.parts {
		creds[i] = hex.EncodeToString(p[:])
	}
	go func() {
		err := cache.Set(context.Background(), key, sharedcache.Entry{
			UserID: ent.id.UserID, Roles: ent.id.Roles, Extra: ent.id.Extra, Fetched: ent.fetched, Started: ent.started, Credentials: creds,
		}, e.cacheTTL+e.staleIfError)
		if err != nil {
			redisSetError.Inc()
		} else {
			redisSetOK.Inc()
		}
	}()
}

// sharedForget removes key from Redis in the background (after a 401/403).
func (e *engine) sharedForget(key string) {
	if e.redis == nil {
		return
	}
	if cache := e.redis.get(e.now()); cache != nil {
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

func init() { registry.MustRegister(redisOps, revocationsTotal) }
