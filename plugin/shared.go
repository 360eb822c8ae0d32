package plugin

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/legacy-auth/legacy-auth/plugin/sharedcache"
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

// sharedCaches holds one connection (and one revocation subscriber) per
// distinct Redis configuration, for the life of the process.
var sharedCaches sync.Map // string → *sharedcache.Cache

func (c *Config) sharedSettings(s *settings, problems []string) []string {
	if len(c.RedisAddrs) == 0 {
		return problems
	}
	var bad []string
	var timeout time.Duration
	ms := float64(DefaultRedisTimeoutMs)
	if c.RedisTimeout != nil {
		ms = *c.RedisTimeout
	}
	if ms < 1 || ms > MaxRedisTimeoutMs {
		bad = append(bad, fmt.Sprintf("redis_timeout: value should be between 1 and %d", MaxRedisTimeoutMs))
	}
	timeout = time.Duration(ms * float64(time.Millisecond))
	db := 0
	if c.RedisDB != nil {
		db = *c.RedisDB
	}
	opts := sharedcache.Options{
		Mode: orDefault(c.RedisMode, sharedcache.ModeStandalone), Addrs: c.RedisAddrs, MasterName: c.RedisMasterName,
		Username: c.RedisUsername, Password: c.RedisPassword, DB: db, TLS: c.RedisTLS != nil && *c.RedisTLS,
		Prefix: orDefault(c.RedisPrefix, DefaultRedisPrefix), Timeout: timeout, Logger: logger,
	}
	if len(bad) > 0 {
		return append(problems, bad...)
	}
	key := fmt.Sprintf("%s|%v|%s|%s|%x|%d|%t|%s|%s", opts.Mode, opts.Addrs, opts.MasterName, opts.Username,
		sha256.Sum256([]byte(opts.Password)), opts.DB, opts.TLS, opts.Prefix, opts.Timeout)
	if v, ok := sharedCaches.Load(key); ok {
		s.shared = v.(*sharedcache.Cache)
		return problems
	}
	var cache *sharedcache.Cache
	opts.OnResubscribe = func() {
		// Revocations published while we were not subscribed are lost:
		// forget what we hold rather than serve a revoked identity.
		n := identities.Len()
		identities.c.Flush()
		logger.Warn("revocation channel resubscribed; in-process identity cache flushed", "entries", n)
	}
	cache, err := sharedcache.New(opts)
	if err != nil {
		return append(problems, "redis_addrs: "+strings.TrimPrefix(err.Error(), "sharedcache: "))
	}
	if actual, loaded := sharedCaches.LoadOrStore(key, cache); loaded {
		cache.Close()
		s.shared = actual.(*sharedcache.Cache)
		return problems
	}
	go cache.Subscribe(context.Background(), func(r sharedcache.Revocation) { revoke(cache, r) })
	s.shared = cache
	return problems
}

// namespaces are the cache-key namespaces compiled in this process: a
// credential revocation names SHA-256(credential), and its keys are that
// hash under each namespace.
var namespaces sync.Map // string → struct{}

// revocations remembers recent revocations so that a verify call that was
// already in flight when one arrived does not cache its older answer again.
var revocations = struct {
	sync.Mutex
	keys  map[string]time.Time // cache key → when revoked
	users map[string]time.Time // user id → when revoked
}{keys: map[string]time.Time{}, users: map[string]time.Time{}}

// revocationMemory is how long revocations are remembered: longer than any
// verify call can take (timeout ≤ 60 s).
const revocationMemory = 2 * time.Minute

// revoke applies one revocation to this process's caches and to Redis.
func revoke(shared *sharedcache.Cache, r sharedcache.Revocation) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	now := time.Now()
	var keys []string
	if r.CredentialSHA256 != "" {
		sum, err := hex.DecodeString(r.CredentialSHA256)
		if err != nil || len(sum) != 32 {
			return
		}
		namespaces.Range(func(ns, _ any) bool {
			keys = append(keys, ns.(string)+string(sum))
			return true
		})
		for _, k := range keys {
			if err := shared.Delete(ctx, k); err != nil {
				logger.Warn("revocation: deleting a shared entry failed", "error", err.Error())
			}
		}
	}
	if r.UserID != "" {
		fromRedis, err := shared.RevokeUser(ctx, r.UserID)
		if err != nil {
			logger.Warn("revocation: revoking a user's shared entries failed", "error", err.Error())
		}
		keys = append(keys, fromRedis...)
		for k, item := range identities.c.Items() { // keys this node holds that Redis may not know
			if e, ok := item.Object.(*cacheEntry); ok && e.id.UserID == r.UserID {
				keys = append(keys, k)
			}
		}
	}
	revocations.Lock()
	for k, t := range revocations.keys {
		if now.Sub(t) > revocationMemory {
			delete(revocations.keys, k)
		}
	}
	for u, t := range revocations.users {
		if now.Sub(t) > revocationMemory {
			delete(revocations.users, u)
		}
	}
	for _, k := range keys {
		revocations.keys[k] = now
	}
	if r.UserID != "" {
		revocations.users[r.UserID] = now
	}
	revocations.Unlock()
	for _, k := range keys {
		identities.c.Delete(k)
		rejections.c.Delete(k)
	}
	revocationsTotal.Inc()
	logger.Info("revocation applied", "entries", len(keys), "by_user", r.UserID != "")
}

// revokedSince reports whether key or userID was revoked after t.
func revokedSince(key, userID string, t time.Time) bool {
	revocations.Lock()
	defer revocations.Unlock()
	if len(revocations.keys) == 0 && len(revocations.users) == 0 {
		return false
	}
	k, ok1 := revocations.keys[key]
	u, ok2 := revocations.users[userID]
	return (ok1 && k.After(t)) || (ok2 && u.After(t))
}

// sharedLookup asks Redis for key; it returns the entry if Redis answered
// in time. Redis trouble is never an error for the request: it is logged
// by sharedcache, counted, and the caller goes on to the auth service.
func (rt *runtime) sharedLookup(key string) (*cacheEntry, bool) {
	if rt.shared == nil || !rt.shared.Healthy() {
		return nil, false
	}
	e, ok, err := rt.shared.Get(context.Background(), key)
	switch {
	case err != nil:
		redisGetError.Inc()
		return nil, false
	case !ok:
		redisGetMiss.Inc()
		return nil, false
	}
	redisGetHit.Inc()
	return &cacheEntry{id: newIdentity(e.UserID, e.Roles, e.Extra, e.Fetched), fetched: e.Fetched}, true
}

// sharedStore writes a fresh answer to Redis in the background: the request
// does not wait for it.
func (rt *runtime) sharedStore(key string, e *cacheEntry) {
	if rt.shared == nil || !rt.shared.Healthy() {
		return
	}
	go func() {
		err := rt.shared.Set(context.Background(), key, sharedcache.Entry{
			UserID: e.id.UserID, Roles: e.id.Roles, Extra: e.id.Extra, Fetched: e.fetched,
		}, rt.cacheTTL+rt.staleIfError)
		if err != nil {
			redisSetError.Inc()
		} else {
			redisSetOK.Inc()
		}
	}()
}

// sharedForget removes key from Redis in the background (after a 401/403).
func (rt *runtime) sharedForget(key string) {
	if rt.shared == nil {
		return
	}
	go rt.shared.Delete(context.Background(), key)
}

var (
	redisOps = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "legacy_auth_redis_operations_total",
		Help: "Shared-cache operations by op (get, set) and result (hit, miss, ok, error).",
	}, []string{"op", "result"})
	revocationsTotal = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "legacy_auth_revocations_total",
		Help: "Revocation messages applied from the Redis channel.",
	})
	redisGetHit   = redisOps.WithLabelValues("get", "hit")
	redisGetMiss  = redisOps.WithLabelValues("get", "miss")
	redisGetError = redisOps.WithLabelValues("get", "error")
	redisSetOK    = redisOps.WithLabelValues("set", "ok")
	redisSetError = redisOps.WithLabelValues("set", "error")
)

func init() { registry.MustRegister(redisOps, revocationsTotal) }
