package plugin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/singleflight"
)

// engine is a compiled configuration: built once per plugin instance, used
// by every request of that instance concurrently, never mutated (but for
// the atomics that follow pruned shared resources).
type engine struct {
	settings
	scope   scope
	headers *headerPlan
	auth    *authClient
	// breakerKey names the shared breaker (empty: breaker off).
	breakerKey string
	// flightID names what changes how a shared call runs besides the
	// scope: only requests with equal flightIDs share an in-flight call.
	flightID string
	partKey  string
	part     atomic.Pointer[partition]
	redis    *redisUse // nil when off
	now      func() time.Time
	lifecycle
}

// compile validates the configuration (pure), reads the files it names and
// provisions its engine (shared resources). A configuration that is
// invalid is logged once, naming the fields, and every request of the
// instance is then answered 500 (fail closed). Files that cannot be read
// yet (a secrets sidecar writes the key after Kong starts) fail requests
// with 500 too, but are tried again (fileRetry): the first request after
// they load is served.
func (c *Config) compile() (*engine, error) {
	if rt := c.compiled.Load(); rt != nil {
		return rt, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if rt := c.compiled.Load(); rt != nil {
		return rt, nil
	}
	if c.invalid != nil {
		return nil, c.invalid
	}
	if c.valid == nil {
		s, err := c.settings()
		if err != nil {
			return nil, c.fail(err)
		}
		c.valid = &s
	}
	now := time.Now()
	if !c.files.due(c.valid, now) {
		return nil, c.files.err
	}
	s := *c.valid
	sig := fileSignature(&s) // before reading: a change during the read shows later
	if err := s.loadFiles(); err != nil {
		c.files.failed(err, sig, now)
		return nil, err
	}
	rt, err := provision(s, c.PluginID)
	if err != nil {
		return nil, c.fail(err)
	}
	c.files.recovered()
	c.compiled.Store(rt)
	succeed(c.PluginID, rt)
	// go-pdk drops instances without telling the plugin: when this one is
	// collected, its engine lets go of what it holds.
	id := c.PluginID
	runtime.AddCleanup(c, func(e *engine) { drop(id, e) }, rt)
	return rt, nil
}

// fail records a permanent failure and logs it once.
func (c *Config) fail(err error) error {
	c.invalid = err
	logger.Error("plugin instance has an invalid configuration; its requests are answered 500", "error", err.Error())
	return err
}

// fileRetry paces the retries of key and certificate files that did not
// load: again when the files change on disk (size, time or inode: checked
// with a stat per request while failing) or after a backoff that doubles
// from fileRetryMin to fileRetryMax; a log line per distinct error.
type fileRetry struct {
	err     error
	sig     string
	retryAt time.Time
	backoff time.Duration
	logged  string
}

const (
	fileRetryMin = time.Second
	fileRetryMax = 30 * time.Second
)

// due reports whether the files are to be read now.
func (f *fileRetry) due(s *settings, now time.Time) bool {
	return f.err == nil || !now.Before(f.retryAt) || fileSignature(s) != f.sig
}

func (f *fileRetry) failed(err error, sig string, now time.Time) {
	f.err, f.sig = err, sig
	f.backoff = min(max(2*f.backoff, fileRetryMin), fileRetryMax)
	f.retryAt = now.Add(f.backoff)
	if msg := err.Error(); msg != f.logged {
		f.logged = msg
		logger.Error("plugin instance has an invalid configuration: its key or certificate files do not load; its requests are answered 500 until they do",
			"error", msg, "retry_within", f.backoff.String())
	}
}

func (f *fileRetry) recovered() {
	if f.err != nil {
		logger.Info("key or certificate files loaded; plugin instance serving")
	}
	*f = fileRetry{}
}

// fileSignature is what a change of the named files shows without reading
// them.
func fileSignature(s *settings) string {
	var b strings.Builder
	for _, path := range s.filePaths() {
		fi, err := os.Stat(path)
		if err != nil {
			fmt.Fprintf(&b, "%s:-|", path)
			continue
		}
		fmt.Fprintf(&b, "%s:%d:%d:%v|", path, fi.Size(), fi.ModTime().UnixNano(), inode(fi))
	}
	return b.String()
}

// provision builds the engine of validated settings: it is the one step
// that creates or joins process-wide resources (caches, breakers, Redis).
func provision(s settings, pluginID string) (*engine, error) {
	e := &engine{
		settings: s,
		scope:    newScope(s),
		headers:  newHeaderPlan(s),
		now:      partitions.now,
	}
	// Each shared resource is held before it is opened or joined (see
	// lifecycle.go).
	if fp := s.tls.fingerprint; s.tls.files != nil {
		e.own(resource{"tls|" + fp, func() { closeTLS(fp) }})
	}
	if s.jwt != nil {
		path := s.jwt.keyFile
		e.own(resource{"jwt|" + path, func() { signingKeys.Delete(path) }})
	}
	e.auth = newAuthClient(s)
	if s.breakerThreshold > 0 {
		key := fmt.Sprintf("%x|%d|%s", e.scope.id, s.breakerThreshold, s.breakerCooldown)
		e.breakerKey = key
		e.own(resource{"breaker|" + key, func() { breakers.Delete(key) }})
	}
	if s.redis != nil {
		key := redisKey(*s.redis)
		e.own(resource{"redis|" + key, func() { closeRedis(key) }})
		u, err := useRedis(*s.redis)
		if err != nil {
			e.release()
			return nil, fmt.Errorf("%w: redis_addrs: %v", errInvalidConfig, err)
		}
		e.redis = u
	}
	e.flightID = fmt.Sprintf("%s|%d|%q|%q|%s", s.timeout, s.retries, e.breakerKey, e.redisKey(), s.cacheTTL)
	partKey := partitionKey(pluginID, e.scope, s.cacheMaxEntries)
	e.partKey = partKey
	e.own(resource{"part|" + partKey, func() { partitions.drop(partKey) }})
	p := partitions.acquire(partKey, e.scope)
	p.keepAtLeast(max(s.cacheTTL+s.staleIfError, s.negativeTTL))
	e.part.Store(p)
	startPruning()
	return e, nil
}

func (e *engine) redisKey() string {
	if e.redis == nil {
		return ""
	}
	return e.redis.key
}

// partition returns the engine's live partition, following a prune.
func (e *engine) partition(now time.Time) *partition {
	p := e.part.Load()
	if p.dead.Load() {
		p = partitions.acquire(e.partKey, e.scope)
		p.keepAtLeast(max(e.cacheTTL+e.staleIfError, e.negativeTTL))
		e.part.Store(p)
	}
	p.touch(now)
	if e.redis != nil {
		e.redis.touch(now)
	}
	return p
}

// decision is what access applies: the set_headers argument, and the
// groups for Kong's ACL plugin (nil: no kong.ctx.shared call).
type decision struct {
	set    map[string][]string
	groups []any
}

// authenticate turns the client's request headers into the decision for
// the upstream request, or an error that response maps to the client's
// answer. It is plain Go: no PDK, testable without Kong. Every call counts
// exactly one outcome in legacy_auth_requests_total.
func (e *engine) authenticate(ctx context.Context, headers map[string][]string) (decision, error) {
	in, err := e.headers.inspect(headers)
	if err != nil {
		if errors.Is(err, errMissingCredential) && e.allowAnonymous {
			outAnonymous.Inc()
			return decision{set: e.headers.anonymous(in.spoofed)}, nil
		}
		requestsTotal.WithLabelValues(outcomeOf(err)).Inc()
		return decision{}, err
	}
	now := e.now()
	id, outcome, err := e.identify(ctx, in.cred, now)
	if err != nil {
		requestsTotal.WithLabelValues(outcomeOf(err)).Inc()
		return decision{}, err
	}
	set, err := e.headers.plan(id, in.spoofed, now)
	if err != nil {
		logger.Error("building identity headers", "error", err.Error())
		err = fmt.Errorf("%w: %v", errInternal, err)
		requestsTotal.WithLabelValues(outcomeOf(err)).Inc()
		return decision{}, err
	}
	outcome.Inc()
	d := decision{set: set}
	if e.aclGroups {
		d.groups = id.groups
	}
	return d, nil
}

// identify answers, in order: from this route's cache; from another route
// of the same scope; from a recent rejection; from a shared call (Redis,
// then the auth service, one call for all concurrent misses of a
// credential); and, when the auth service fails, from a stale entry still
// inside this route's stale_if_error. Every judgement of age uses this
// route's own policy.
func (e *engine) identify(ctx context.Context, cred credential, now time.Time) (*Identity, prometheus.Counter, error) {
	key := credentialKey(e.scope, cred)
	p := e.partition(now)

	var stale *cacheEntry
	if e.cacheTTL > 0 {
		if ent := lookupIdentity(p, key); ent != nil {
			if e.fresh(ent, now) {
				return ent.id, outHit, nil
			}
			stale = ent
		}
	}
	if e.negativeTTL > 0 {
		if r := lookupRejection(p, key); r != nil && e.rejectionFresh(r, now) {
			return nil, outRejectedHit, &rejectedError{status: r.status}
		}
	}
	// Another route of this scope may know the answer.
	if e.cacheTTL > 0 || e.negativeTTL > 0 {
		ent, rej := e.newestInScope(key, p)
		if ent != nil && e.cacheTTL > 0 {
			if e.fresh(ent, now) {
				storeLocal(p, key, ent, e.entryTTL(ent, now), e.cacheMaxEntries)
				return ent.id, outHit, nil
			}
			stale = newer(stale, ent)
		}
		if rej != nil && e.negativeTTL > 0 && e.rejectionFresh(rej, now) {
			p.rejects.add(key, rej, e.negativeTTL-now.Sub(rej.fetched), e.cacheMaxEntries)
			return nil, outRejectedHit, &rejectedError{status: rej.status}
		}
	}

	a := e.share(key, cred)
	var rejected *rejectedError
	switch {
	case a.entry != nil:
		if e.cacheTTL > 0 && a.cacheable {
			storeLocal(p, key, a.entry, e.entryTTL(a.entry, e.now()), e.cacheMaxEntries)
		}
		return a.entry.id, outMiss, nil
	case errors.As(a.err, &rejected):
		p.ids.remove(key)
		if e.negativeTTL > 0 {
			p.rejects.add(key, &rejection{status: rejected.status, fetched: e.now(), parts: credentialParts(cred)}, e.negativeTTL, e.cacheMaxEntries)
		}
		return nil, nil, a.err
	case authServiceFailed(a.err):
		if s := newer(stale, a.stale); s != nil && e.cacheTTL > 0 && e.withinStale(s, e.now()) {
			return s.id, outStale, nil
		}
	}
	return nil, nil, a.err
}

// fresh reports whether ent is younger than this route's cache_ttl. An
// entry fetched "in the future" (a clock step, or a planted Redis value) is
// never fresh.
func (e *engine) fresh(ent *cacheEntry, now time.Time) bool {
	age := now.Sub(ent.fetched)
	return age >= 0 && age < e.cacheTTL
}

func (e *engine) withinStale(ent *cacheEntry, now time.Time) bool {
	age := now.Sub(ent.fetched)
	return age >= 0 && age < e.cacheTTL+e.staleIfError
}

func (e *engine) rejectionFresh(r *rejection, now time.Time) bool {
	age := now.Sub(r.fetched)
	return age >= 0 && age < e.negativeTTL
}

// entryTTL is how long this route keeps ent: to the end of its stale window.
func (e *engine) entryTTL(ent *cacheEntry, now time.Time) time.Duration {
	if d := e.cacheTTL + e.staleIfError - now.Sub(ent.fetched); d > time.Millisecond {
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
func (e *engine) newestInScope(key string, own *partition) (*cacheEntry, *rejection) {
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

// callResult is the outcome of one shared call, before any route's policy.
type callResult struct {
	entry     *cacheEntry // a fresh answer, from the auth service or Redis
	cacheable bool        // false when a revocation raced the call
	stale     *cacheEntry // the newest Redis entry that was not fresh
	err       error
}

// flights coalesces concurrent calls per cache key and flightID.
var flights singleflight.Group

// flightGrace is how long a waiter waits past timeout for a shared call,
// whose own deadline (timeout, from when it started, before the waiter
// joined) always ends it first: the grace only absorbs scheduling delays.
const flightGrace = 250 * time.Millisecond

// share runs call once for all concurrent requests of key (when coalesce is
// on); each request then applies its own policy to the answer.
func (e *engine) share(key string, cred credential) callResult {
	if !e.coalesce {
		return e.call(key, cred)
	}
	ch := flights.DoChan(key+e.flightID, func() (any, error) { return e.call(key, cred), nil })
	timer := time.NewTimer(e.timeout + flightGrace)
	defer timer.Stop()
	select {
	case r := <-ch:
		return r.Val.(callResult)
	case <-timer.C:
		return callResult{err: fmt.Errorf("%w: timeout waiting for a shared call", errUnavailable)}
	}
}

// call is one shared lookup: a sibling that stored the answer meanwhile,
// then Redis, then the auth service, all inside one deadline of timeout.
func (e *engine) call(key string, cred credential) callResult {
	ctx, cancel := context.WithTimeout(context.Background(), e.timeout)
	defer cancel()
	parts := credentialParts(cred)

	// A request that missed just before another one's call stored its
	// answer would otherwise start a second call: look again first.
	if e.cacheTTL > 0 {
		for _, q := range partitions.siblings(e.scope) {
			if ent := lookupIdentity(q, key); ent != nil && e.fresh(ent, e.now()) {
				return callResult{entry: ent, cacheable: true}
			}
		}
	}
	var stale *cacheEntry
	if e.cacheTTL > 0 && e.redis != nil {
		if ent, ok := e.sharedLookup(ctx, key, parts); ok {
			if e.fresh(ent, e.now()) {
				redisGetHit.Inc()
				return callResult{entry: ent, cacheable: true}
			}
			stale = ent
		}
	}

	start := e.now()
	id, err := e.verify(ctx, cred)
	observeCall(start, err)
	var rejected *rejectedError
	switch {
	case err == nil:
		ent := &cacheEntry{id: id, fetched: e.now(), started: start, parts: parts}
		if revokedSince(parts, id.UserID, start) {
			return callResult{entry: ent}
		}
		if e.cacheTTL > 0 {
			// Stored before the call ends, so that a request that missed
			// just now finds it (call's first step) instead of calling again.
			now := e.now()
			if !storeLocal(e.partition(now), key, ent, e.entryTTL(ent, now), e.cacheMaxEntries) {
				return callResult{entry: ent}
			}
			e.sharedStore(key, ent)
		}
		return callResult{entry: ent, cacheable: true}
	case errors.As(err, &rejected):
		// A rejected credential must never be served stale later, by any
		// route of the scope or any node.
		for _, q := range partitions.siblings(e.scope) {
			q.ids.remove(key)
		}
		e.sharedForget(key)
	default:
		var open *openError
		if !errors.As(err, &open) { // an open breaker logs its state changes instead
			e.logFailure(err)
		}
	}
	return callResult{err: err, stale: stale}
}

// verify asks the auth service, through the scope's breaker.
func (e *engine) verify(ctx context.Context, cred credential) (*Identity, error) {
	if e.breakerKey == "" {
		return e.auth.verify(ctx, cred)
	}
	b := breakerFor(e.breakerKey, e.scope, e.breakerThreshold, e.breakerCooldown, e.now())
	return b.call(func() (*Identity, error) { return e.auth.verify(ctx, cred) })
}

// authServiceFailed reports whether err is the auth service failing rather
// than answering: no answer (connection error, timeout), an open breaker,
// or a 5xx. Only these count toward the breaker and let a stale identity
// through; a 401/403, any other status and an invalid 200 are answers about
// one credential.
func authServiceFailed(err error) bool {
	var bad *badStatusError
	return errors.Is(err, errUnavailable) || (errors.As(err, &bad) && bad.status >= 500)
}

// logFailure writes one line per failed verify call: the auth service's
// fault, with its cause, never the credential or the URL's secrets.
func (e *engine) logFailure(err error) {
	f := classify(err)
	logger.LogAttrs(context.Background(), slog.LevelWarn, "auth service call failed",
		slog.String("auth_url", e.scope.name),
		slog.Int("answered", f.status),
		slog.String("cause", err.Error()))
}
