package sharedcache

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Entry is what is shared: the identity and when it was fetched from the
// auth service, so every node applies its own cache_ttl / stale window to
// the same fetch time. Fetched survives a round trip to the millisecond; nil
// and empty Roles are the same.
type Entry struct {
	UserID string
	Roles  []string
	// Extra are the values of the plugin's extra_headers fields, in its
	// order; the cache key's namespace already names which fields they are.
	Extra   []string
	Fetched time.Time
	// Credentials are the hex SHA-256 hashes of the credential's parts
	// (see the package doc): Set indexes the key under each, so that
	// RevokeCredential finds it. They are not part of the stored value.
	Credentials []string
}

// wireEntry is the stored form of an Entry (see the package doc).
type wireEntry struct {
	U string   `json:"u"`
	R []string `json:"r,omitempty"`
	X []string `json:"x,omitempty"`
	F int64    `json:"f"`
}

// ErrBadValue wraps the error Get returns for a stored value it cannot
// decode. It says nothing about Redis's health and does not affect Healthy.
var ErrBadValue = errors.New("bad cached value")

// healthRetryAfter is how long Healthy stays false after an error when no
// call has succeeded since: past it, Healthy is true again so that a caller
// who skips Redis while it is unhealthy lets a call through to find out.
const healthRetryAfter = time.Second

// indexGraceMs is added to a key's expiry for its score in the user index, so
// that clock differences between cluster nodes never prune a live key.
const indexGraceMs = 1000

// indexScript adds ARGV[1] to the user index KEYS[1] with score = now +
// ARGV[2] ms (+ grace), prunes members past their score and makes the index
// expire with its last member. It uses the server's clock (TIME), so it needs
// effects replication: the default from Redis 5, switched on for 3.2 and 4.
var indexScript = fmt.Sprintf(`pcall(redis.replicate_commands)
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]) + %d, ARGV[1])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('PEXPIRE', KEYS[1], math.max(1, tonumber(last[2]) - now))
return 1`, indexGraceMs)

// Cache is a connection to the shared cache. It is safe for concurrent use.
type Cache struct {
	client    redis.UniversalClient
	log       *slog.Logger
	prefix    string
	channel   string
	timeout   time.Duration // per network step
	opTimeout time.Duration // per call
	onResub   func()

	// Health: monotonic nanoseconds since epoch of the last error and of the
	// first success after it. Zero means never.
	epoch   time.Time
	lastErr atomic.Int64
	lastOK  atomic.Int64
	retry   time.Duration

	closeOnce sync.Once
	closed    chan struct{}

	// subscribe loop tuning; fields so tests can shorten them
	pingEvery  time.Duration
	minBackoff time.Duration
	maxBackoff time.Duration
}

// New validates opts (one error lists every problem) and builds the client.
// It does not contact Redis: a Redis that is down fails calls, not New.
func New(opts Options) (*Cache, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	if opts.Mode == "" {
		opts.Mode = ModeStandalone
	}
	timeout := opts.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	c := &Cache{
		client:     newClient(&opts, timeout),
		log:        log,
		prefix:     opts.Prefix,
		channel:    opts.Prefix + "revoke",
		timeout:    timeout,
		opTimeout:  2 * timeout,
		onResub:    opts.OnResubscribe,
		epoch:      time.Now(),
		retry:      healthRetryAfter,
		closed:     make(chan struct{}),
		pingEvery:  time.Second,
		minBackoff: 100 * time.Millisecond,
		maxBackoff: 5 * time.Second,
	}
	return c, nil
}

func (c *Cache) idKey(key string) string {
	return c.prefix + "id:" + hex.EncodeToString([]byte(key))
}

func (c *Cache) userKey(userID string) string {
	return c.prefix + "user:" + userID
}

func (c *Cache) credKey(sha256Hex string) string {
	return c.prefix + "cred:" + sha256Hex
}

// shortHex is what logs may show of a key: the first 4 bytes, in hex.
func shortHex(key string) string {
	if len(key) > 4 {
		key = key[:4]
	}
	return hex.EncodeToString([]byte(key))
}

func (c *Cache) opCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.opTimeout)
}

// Get returns the entry stored under key. A miss is (Entry{}, false, nil).
func (c *Cache) Get(ctx context.Context, key string) (Entry, bool, error) {
	if key == "" {
		return Entry{}, false, errors.New("redis get: empty key")
	}
	ctx, cancel := c.opCtx(ctx)
	defer cancel()
	val, err := c.client.Get(ctx, c.idKey(key)).Bytes()
	c.observe(err)
	if errors.Is(err, redis.Nil) {
		return Entry{}, false, nil
	}
	if err != nil {
		return Entry{}, false, fmt.Errorf("redis get: %w", err)
	}
	e, err := decodeEntry(val)
	if err != nil {
		c.log.Warn("sharedcache: undecodable cached value", "key_prefix", shortHex(key), "bytes", len(val), "error", err)
		return Entry{}, false, fmt.Errorf("redis get: %w: %v", ErrBadValue, err)
	}
	return e, true, nil
}

func decodeEntry(b []byte) (Entry, error) {
	var w struct {
		U string   `json:"u"`
		R []string `json:"r"`
		X []string `json:"x"`
		F *int64   `json:"f"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return Entry{}, err
	}
	if w.U == "" || w.F == nil {
		return Entry{}, errors.New("missing user id or fetch time")
	}
	return Entry{UserID: w.U, Roles: w.R, Extra: w.X, Fetched: time.UnixMilli(*w.F)}, nil
}

// Set stores e under key for ttl and adds key to the index of e.UserID
// (which then lives at least as long), so that RevokeUser finds it.
func (c *Cache) Set(ctx context.Context, key string, e Entry, ttl time.Duration) error {
	switch {
	case key == "":
		return errors.New("redis set: empty key")
	case e.UserID == "":
		return errors.New("redis set: entry has no user id")
	case e.Fetched.IsZero():
		return errors.New("redis set: entry has no fetch time")
	case ttl < time.Millisecond:
		return fmt.Errorf("redis set: ttl %s is below 1ms", ttl)
	}
	val, err := json.Marshal(wireEntry{U: e.UserID, R: e.Roles, X: e.Extra, F: e.Fetched.UnixMilli()})
	if err != nil {
		return fmt.Errorf("redis set: encode: %w", err)
	}
	ttl = ttl.Round(time.Millisecond)
	ctx, cancel := c.opCtx(ctx)
	defer cancel()
	pipe := c.client.Pipeline()
	member := hex.EncodeToString([]byte(key))
	idx := []*redis.Cmd{pipe.Eval(ctx, indexScript, []string{c.userKey(e.UserID)}, member, ttl.Milliseconds())}
	for _, cred := range e.Credentials {
		idx = append(idx, pipe.Eval(ctx, indexScript, []string{c.credKey(cred)}, member, ttl.Milliseconds()))
	}
	set := pipe.Set(ctx, c.idKey(key), val, ttl)
	_, err = pipe.Exec(ctx)
	c.observe(err)
	if err := set.Err(); err != nil {
		return fmt.Errorf("redis set: %w", err)
	}
	for _, cmd := range idx {
		if err := cmd.Err(); err != nil {
			return fmt.Errorf("redis set: index: %w", err)
		}
	}
	if err != nil {
		return fmt.Errorf("redis set: %w", err)
	}
	return nil
}

// Delete removes key. Its entry in the user index stays until it expires
// there; a RevokeUser in between deletes the (absent) key again, harmlessly.
func (c *Cache) Delete(ctx context.Context, key string) error {
	if key == "" {
		return errors.New("redis delete: empty key")
	}
	ctx, cancel := c.opCtx(ctx)
	defer cancel()
	err := c.client.Del(ctx, c.idKey(key)).Err()
	c.observe(err)
	if err != nil {
		return fmt.Errorf("redis delete: %w", err)
	}
	return nil
}

// RevokeUser deletes every key the user's index lists and returns those keys
// (the binary strings given to Set), including ones that had already expired
// from Redis. The index is left in place, so every node handling the same
// revocation gets the same keys to drop from its local cache. If the
// deletion fails the keys are returned with the error, so the caller can
// still drop them locally. It takes two round trips, each capped at
// 2×Timeout.
func (c *Cache) RevokeUser(ctx context.Context, userID string) ([]string, error) {
	if userID == "" {
		return nil, errors.New("redis revoke user: empty user id")
	}
	return c.revokeIndex(ctx, c.userKey(userID), "user")
}

// RevokeCredential is RevokeUser for the keys indexed under the hex SHA-256
// of one credential part (Entry.Credentials).
func (c *Cache) RevokeCredential(ctx context.Context, sha256Hex string) ([]string, error) {
	if len(sha256Hex) != 64 {
		return nil, errors.New("redis revoke credential: want 64 hex digits")
	}
	return c.revokeIndex(ctx, c.credKey(sha256Hex), "credential")
}

func (c *Cache) revokeIndex(ctx context.Context, index, what string) ([]string, error) {
	rctx, cancel := c.opCtx(ctx)
	members, err := c.client.ZRange(rctx, index, 0, -1).Result()
	cancel()
	c.observe(err)
	if err != nil {
		return nil, fmt.Errorf("redis revoke %s: read index: %w", what, err)
	}
	if len(members) == 0 {
		return nil, nil
	}
	keys := make([]string, 0, len(members))
	for _, m := range members {
		b, err := hex.DecodeString(m)
		if err != nil || len(b) == 0 {
			c.log.Warn("sharedcache: skipping malformed user index member", "bytes", len(m))
			continue
		}
		keys = append(keys, string(b))
	}
	dctx, cancel := c.opCtx(ctx)
	defer cancel()
	pipe := c.client.Pipeline()
	for _, k := range keys {
		pipe.Del(dctx, c.idKey(k))
	}
	_, err = pipe.Exec(dctx)
	c.observe(err)
	if err != nil {
		return keys, fmt.Errorf("redis revoke %s: delete: %w", what, err)
	}
	return keys, nil
}

// Healthy reports whether Redis answered the last call: it is false after an
// error or timeout and true again after a success. So that a caller who
// skips Redis while it is unhealthy is not locked out for good, once a
// second during an outage one call of Healthy returns true: that caller is
// the probe (its call's outcome decides what comes next), and every other
// caller still sees false. A subscription (re)established by Subscribe
// counts as a success, its loss as an error. It costs two atomic loads (and
// one compare-and-swap per second during an outage).
func (c *Cache) Healthy() bool {
	e := c.lastErr.Load()
	if e == 0 || c.lastOK.Load() >= e {
		return true
	}
	now := c.now()
	return now-e >= int64(c.retry) && c.lastErr.CompareAndSwap(e, now)
}

func (c *Cache) now() int64 {
	return int64(time.Since(c.epoch)) + 1 // +1: zero means never
}

// observe records the outcome of a call for Healthy. A miss is a success; a
// call cancelled by its caller says nothing about Redis.
func (c *Cache) observe(err error) {
	switch {
	case err == nil || errors.Is(err, redis.Nil):
		c.succeeded()
	case errors.Is(err, context.Canceled):
	default:
		c.failed(err)
	}
}

func (c *Cache) succeeded() {
	e := c.lastErr.Load()
	ok := c.lastOK.Load()
	if e == 0 || ok >= e {
		return // already healthy: no write on the hot path
	}
	if c.lastOK.CompareAndSwap(ok, c.now()) {
		c.log.Info("sharedcache: redis is healthy again")
	}
}

func (c *Cache) failed(err error) {
	prev := c.lastErr.Swap(c.now())
	if prev == 0 || c.lastOK.Load() >= prev {
		c.log.Warn("sharedcache: redis is unhealthy", "error", err.Error())
	}
}

// Close closes the connections and stops Subscribe. Calls after Close fail.
func (c *Cache) Close() error {
	err := errors.New("sharedcache: already closed")
	c.closeOnce.Do(func() {
		close(c.closed)
		err = c.client.Close()
	})
	return err
}
