package identity

import (
	"fmt"
	"sync/atomic"
	"time"
)

// Engine is a compiled configuration: built once per plugin instance, used
// by every request of that instance concurrently, never mutated (but for
// the atomics that follow pruned shared resources).
type Engine struct {
	Settings
	scope   scope
	headers *headerPlan
	// verifier answers for credentials no cache knows: Rails, behind the
	// scope's breaker when breaker_threshold is set.
	verifier Verifier
	// providers verify the JWTs of configured issuers (provider.go); nil
	// without jwt_issuers.
	providers providerSet
	// admission limits the verify calls of the scope (nil: off).
	admission *admission
	// breakerKey names the shared breaker (empty: breaker off).
	breakerKey string
	// flightID names what changes how a shared call runs besides the
	// scope: only requests with equal flightIDs share an in-flight call.
	flightID string
	partKey  string
	part     atomic.Pointer[partition]
	shared   *redisUse // nil when off
	now      func() time.Time
	lifecycle
}

// Provision builds the engine of validated settings: it is the one step
// that creates or joins process-wide resources (caches, breakers, Redis).
func Provision(s Settings, pluginID string) (*Engine, error) {
	e := &Engine{
		Settings: s,
		scope:    newScope(s),
		headers:  newHeaderPlan(s),
		now:      partitions.now,
	}
	// Each shared resource is held before it is opened or joined (see
	// lifecycle.go).
	if fp := s.TLS.Fingerprint; s.TLS.files != nil {
		e.own(resource{"tls|" + fp, func() { closeTLS(fp) }})
	}
	if s.JWT != nil {
		path := s.JWT.KeyFile
		e.own(resource{"jwt|" + path, func() { signingKeys.Delete(path) }})
	}
	for _, is := range s.Issuers {
		uri := is.JWKSURI
		e.own(resource{"jwks|" + uri, func() { closeJWKS(uri) }})
	}
	if len(s.Issuers) > 0 {
		e.providers = newProviders(s, headerSlots(s), func() time.Time { return e.now() }) // tests swap e.now
		providerTokensSeen.Store(true)                                                     // revocations are kept as long as such a token can live
	}
	e.verifier = newAuthClient(s) // Rails
	if s.BreakerThreshold > 0 {
		key := fmt.Sprintf("%x|%d|%s", e.scope.id, s.BreakerThreshold, s.BreakerCooldown)
		e.breakerKey = key
		e.own(resource{"breaker|" + key, func() { breakers.Delete(key) }})
		e.verifier = &breakerVerifier{next: e.verifier, key: key, scope: e.scope,
			threshold: s.BreakerThreshold, cooldown: s.BreakerCooldown, now: e.now}
	}
	if s.Redis != nil {
		key := redisKey(*s.Redis)
		e.own(resource{"redis|" + key, func() { closeRedis(key) }})
		u, err := useRedis(*s.Redis)
		if err != nil {
			e.release()
			return nil, fmt.Errorf("%w: redis_addrs: %v", ErrInvalidConfig, err)
		}
		e.shared = u
	}
	if s.MaxConcurrentCalls > 0 {
		key := fmt.Sprintf("%x|%d", e.scope.id, s.MaxConcurrentCalls)
		e.own(resource{"admit|" + key, func() { dropAdmission(key) }})
		e.admission = admissionFor(key, s.MaxConcurrentCalls)
	}
	e.flightID = fmt.Sprintf("%s|%d|%q|%q|%s|%d", s.Timeout, s.Retries, e.breakerKey, e.redisKey(), s.CacheTTL, s.MaxConcurrentCalls)
	partKey := partitionKey(pluginID, e.scope, s.CacheMaxEntries)
	e.partKey = partKey
	e.own(resource{"part|" + partKey, func() { partitions.drop(partKey) }})
	p := partitions.acquire(partKey, e.scope)
	p.keepAtLeast(max(s.CacheTTL+s.StaleIfError, s.NegativeTTL))
	e.part.Store(p)
	startPruning()
	return e, nil
}

func (e *Engine) redisKey() string {
	if e.shared == nil {
		return ""
	}
	return e.shared.key
}

// partition returns the engine's live partition, following a prune.
func (e *Engine) partition(now time.Time) *partition {
	p := e.part.Load()
	if p.dead.Load() {
		p = partitions.acquire(e.partKey, e.scope)
		p.keepAtLeast(max(e.CacheTTL+e.StaleIfError, e.NegativeTTL))
		e.part.Store(p)
	}
	p.touch(now)
	if e.shared != nil {
		e.shared.touch(now)
	}
	return p
}

// ReadsAll reports whether the engine needs the whole header list
// (kong.request.get_headers) rather than the Authorization value alone:
// session cookies, or a managed header name with many separators.
func (e *Engine) ReadsAll() bool { return e.headers.readAll }

// Enter and Leave bracket each request the engine serves: a retired
// engine releases what it holds once its last request leaves.
func (e *Engine) Enter() { e.enter() }

// Leave ends a request Enter began.
func (e *Engine) Leave() { e.leave() }
