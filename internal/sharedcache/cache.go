package sharedcache

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
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
	// Started is when the verify call that produced the answer started
	// (zero: unknown, Fetched stands in): a revocation beats an entry
	// whose call started before it.
	Started time.Time
	// Credentials are the hex SHA-256 hashes of the credential's parts
	// (see the package doc): Set indexes the key under each, so that
	// RevokeCredential finds it. They are not part of the stored value.
	Credentials []string
	// RevokedAt is set by Get: the latest revocation recorded in Redis
	// (MarkRevoked) for the entry's user or for one of the credential
	// hashes given to Get; zero when none. Not stored.
	RevokedAt time.Time
}

// Revoked reports whether a revocation recorded at RevokedAt beats e:
// its verify call started before the revocation (plus skew, for clock
// differences between the node that verified and the one that recorded).
func (e Entry) Revoked(skew time.Duration) bool {
	if e.RevokedAt.IsZero() {
		return false
	}
	started := e.Started
	if started.IsZero() {
		started = e.Fetched
	}
	return started.Before(e.RevokedAt.Add(skew))
}

// wireEntry is the stored form of an Entry (see the package doc).
type wireEntry struct {
	U string   `json:"u"`
	R []string `json:"r,omitempty"`
	X []string `json:"x,omitempty"`
	F int64    `json:"f"`
	S int64    `json:"s,omitempty"`
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

// indexChunk is how many index members revokeIndex reads and deletes per
// round trip: an index of any size is worked through in bounded steps.
const indexChunk = 500

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

// revokedUserKey and revokedCredKey hold the time of the latest revocation
// of a user or a credential part (MarkRevoked).
func (c *Cache) revokedUserKey(userID string) string {
	return c.prefix + "rv:user:" + userID
}

func (c *Cache) revokedCredKey(sha256Hex string) string {
	return c.prefix + "rv:cred:" + sha256Hex
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

// Get returns the entry stored under key, with RevokedAt set from the
// revocation state of its user and of creds (hex SHA-256 credential
// parts; the caller knows them, the stored value does not). A miss is
// (Entry{}, false, nil). It takes one round trip, and a second when the
// entry is found (its user's revocation state). The caller decides what a
// revoked entry is worth (Entry.Revoked).
func (c *Cache) Get(ctx context.Context, key string, creds ...string) (Entry, bool, error) {
	if key == "" {
		return Entry{}, false, errors.New("redis get: empty key")
	}
	ctx, cancel := c.opCtx(ctx)
	defer cancel()
	pipe := c.client.Pipeline()
	get := pipe.Get(ctx, c.idKey(key))
	marks := make([]*redis.StringCmd, len(creds))
	for i, cred := range creds {
		marks[i] = pipe.Get(ctx, c.revokedCredKey(cred))
	}
	_, err := pipe.Exec(ctx)
	if errors.Is(err, redis.Nil) {
		err = nil // a miss of any of them
	}
	c.observe(err)
	if err != nil {
		return Entry{}, false, fmt.Errorf("redis get: %w", err)
	}
	val, err := get.Bytes()
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
	for _, m := range marks {
		e.RevokedAt = later(e.RevokedAt, revokedAt(m))
	}
	user := c.client.Get(ctx, c.revokedUserKey(e.UserID))
	if err := user.Err(); err != nil && !errors.Is(err, redis.Nil) {
		c.observe(err)
		// Unknown revocation state: the entry cannot be trusted.
		return Entry{}, false, fmt.Errorf("redis get: revocation state: %w", err)
	}
	e.RevokedAt = later(e.RevokedAt, revokedAt(user))
	return e, true, nil
}

// RevokedAt returns the latest revocation recorded in Redis (MarkRevoked)
// for userID or for one of the credential hashes creds, zero when none, in
// one round trip. It serves identities that are never stored in Redis (the
// identity provider's tokens, verified on each node): a node that missed
// the published revocation still refuses them.
func (c *Cache) RevokedAt(ctx context.Context, userID string, creds ...string) (time.Time, error) {
	ctx, cancel := c.opCtx(ctx)
	defer cancel()
	pipe := c.client.Pipeline()
	marks := make([]*redis.StringCmd, 0, len(creds)+1)
	if userID != "" {
		marks = append(marks, pipe.Get(ctx, c.revokedUserKey(userID)))
	}
	for _, cred := range creds {
		marks = append(marks, pipe.Get(ctx, c.revokedCredKey(cred)))
	}
	if len(marks) == 0 {
		return time.Time{}, nil
	}
	_, err := pipe.Exec(ctx)
	if errors.Is(err, redis.Nil) {
		err = nil // absent marks
	}
	c.observe(err)
	if err != nil {
		return time.Time{}, fmt.Errorf("redis revocation marks: %w", err)
	}
	var at time.Time
	for _, m := range marks {
		at = later(at, revokedAt(m))
	}
	return at, nil
}

// revokedAt reads a revocation mark (Unix ms); zero when absent or
// malformed (a malformed mark is logged by nobody: it is treated as a
// revocation now, the safe reading).
func revokedAt(cmd *redis.StringCmd) time.Time {
	v, err := cmd.Result()
	if err != nil {
		return time.Time{}
	}
	ms, err := strconv.ParseInt(v, 10, 64)
	if err != nil || ms <= 0 {
		return time.Now()
	}
	return time.UnixMilli(ms)
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func decodeEntry(b []byte) (Entry, error) {
	var w struct {
		U string   `json:"u"`
		R []string `json:"r"`
		X []string `json:"x"`
		F *int64   `json:"f"`
		S int64    `json:"s"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return Entry{}, err
	}
	if w.U == "" || w.F == nil {
		return Entry{}, errors.New("missing user id or fetch time")
	}
	e := Entry{UserID: w.U, Roles: w.R, Extra: w.X, Fetched: time.UnixMilli(*w.F)}
	if w.S > 0 {
		e.Started = time.UnixMilli(w.S)
	}
	return e, nil
}

// Set stores e under key for ttl, after adding key to the index of
// e.UserID and of each of e.Credentials (which then live at least as
// long), so that RevokeUser and RevokeCredential find it. The value is
// written only once every index holds the key: there is never a value
// without its index entries. It uses no scripting (a Redis user without
// @scripting works) and no transaction (keys in different cluster slots
// work): PEXPIRE's NX and GT options need Redis 7.0 or later.
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
	w := wireEntry{U: e.UserID, R: e.Roles, X: e.Extra, F: e.Fetched.UnixMilli()}
	if !e.Started.IsZero() {
		w.S = e.Started.UnixMilli()
	}
	val, err := json.Marshal(w)
	if err != nil {
		return fmt.Errorf("redis set: encode: %w", err)
	}
	ttl = ttl.Round(time.Millisecond)
	ctx, cancel := c.opCtx(ctx)
	defer cancel()

	member := hex.EncodeToString([]byte(key))
	now := time.Now().UnixMilli()
	keep := ttl.Milliseconds() + indexGraceMs
	pipe := c.client.Pipeline()
	var idx []redis.Cmder
	for _, index := range append([]string{c.userKey(e.UserID)}, mapStrings(e.Credentials, c.credKey)...) {
		idx = append(idx,
			pipe.ZRemRangeByScore(ctx, index, "-inf", strconv.FormatInt(now, 10)),
			pipe.ZAdd(ctx, index, redis.Z{Score: float64(now + keep), Member: member}),
			// The index expires with its longest-lived member: extended
			// (GT), or set on a new index (NX), never shortened.
			pipe.Do(ctx, "PEXPIRE", index, keep, "GT"),
			pipe.Do(ctx, "PEXPIRE", index, keep, "NX"))
	}
	_, err = pipe.Exec(ctx)
	c.observe(err)
	for _, cmd := range idx {
		if err := cmd.Err(); err != nil {
			return fmt.Errorf("redis set: index (value not written): %w", err)
		}
	}
	if err != nil {
		return fmt.Errorf("redis set: index (value not written): %w", err)
	}
	err = c.client.Set(ctx, c.idKey(key), val, ttl).Err()
	c.observe(err)
	if err != nil {
		return fmt.Errorf("redis set: %w", err)
	}
	return nil
}

func mapStrings(in []string, f func(string) string) []string {
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = f(s)
	}
	return out
}

// MarkRevoked records r in Redis, with its time at, for keep (at least as
// long as an entry it beats can live: cache_ttl + stale_if_error): every
// Get of an entry of that user or credential part from then on reports it
// (Entry.RevokedAt), on every node, including nodes started later. A
// mark's lifetime is only ever extended, never shortened; its time is the
// last writer's (every node that receives a revocation marks it, within
// moments of each other).
func (c *Cache) MarkRevoked(ctx context.Context, r Revocation, at time.Time, keep time.Duration) error {
	if err := r.normalize(); err != nil {
		return fmt.Errorf("redis mark revoked: %w", err)
	}
	var keys []string
	if r.UserID != "" {
		keys = append(keys, c.revokedUserKey(r.UserID))
	}
	if r.CredentialSHA256 != "" {
		keys = append(keys, c.revokedCredKey(r.CredentialSHA256))
	}
	ms := max(keep.Milliseconds(), 1)
	ctx, cancel := c.opCtx(ctx)
	defer cancel()
	pipe := c.client.Pipeline()
	var cmds []redis.Cmder
	for _, k := range keys {
		cmds = append(cmds,
			pipe.Do(ctx, "SET", k, at.UnixMilli(), "KEEPTTL"),
			pipe.Do(ctx, "PEXPIRE", k, ms, "GT"),
			pipe.Do(ctx, "PEXPIRE", k, ms, "NX"))
	}
	_, err := pipe.Exec(ctx)
	c.observe(err)
	for _, cmd := range cmds {
		if err := cmd.Err(); err != nil {
			return fmt.Errorf("redis mark revoked: %w", err)
		}
	}
	return err
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
// deletion fails the keys handled so far are returned with the error. It
// takes two round trips per 500 index members, each capped at 2×Timeout,
// for as long as ctx allows.
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

// revokeIndex works through index in chunks of indexChunk members, each
// read and deleted in its own round trips (each capped at 2×Timeout), so
// an index of any size is worked through as far as ctx allows. The index
// itself is left in place.
func (c *Cache) revokeIndex(ctx context.Context, index, what string) ([]string, error) {
	var keys []string
	for start := int64(0); ; start += indexChunk {
		rctx, cancel := c.opCtx(ctx)
		members, err := c.client.ZRange(rctx, index, start, start+indexChunk-1).Result()
		cancel()
		c.observe(err)
		if err != nil {
			return keys, fmt.Errorf("redis revoke %s: read index: %w", what, err)
		}
		chunk := make([]string, 0, len(members))
		for _, m := range members {
			b, err := hex.DecodeString(m)
			if err != nil || len(b) == 0 {
				c.log.Warn("sharedcache: skipping malformed index member", "bytes", len(m))
				continue
			}
			chunk = append(chunk, string(b))
		}
		if len(chunk) > 0 {
			dctx, cancel := c.opCtx(ctx)
			pipe := c.client.Pipeline()
			for _, k := range chunk {
				pipe.Del(dctx, c.idKey(k))
			}
			_, err = pipe.Exec(dctx)
			cancel()
			c.observe(err)
			keys = append(keys, chunk...)
			if err != nil {
				return keys, fmt.Errorf("redis revoke %s: delete: %w", what, err)
			}
		}
		if len(members) < indexChunk {
			return keys, nil
		}
	}
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
