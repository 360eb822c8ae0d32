package plugin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"golang.org/x/sync/singleflight"
)

// runtime is a compiled configuration: built once per plugin instance, used
// by every request of that instance concurrently, never mutated.
type runtime struct {
	settings
	headers   *headerPlan
	auth      *authClient
	breaker   *breaker // nil when disabled
	namespace []byte
}

// compile validates the configuration and builds its runtime once. A bad
// configuration is logged once, naming the fields, and every request of the
// instance is then answered 500 (fail closed).
func (c *Config) compile() (*runtime, error) {
	c.once.Do(func() {
		s, err := c.settings()
		if err != nil {
			c.err = err
			logger.Error("plugin instance has an invalid configuration; its requests are answered 500", "error", err.Error())
			return
		}
		namespaces.Store(string(s.cacheNamespace()), struct{}{})
		c.rt = &runtime{
			settings:  s,
			headers:   newHeaderPlan(s),
			auth:      newAuthClient(s),
			breaker:   breakerFor(s),
			namespace: s.cacheNamespace(),
		}
	})
	return c.rt, c.err
}

// decision is what access applies: the set_headers argument, and the
// groups for Kong's ACL plugin (nil: no kong.ctx.shared call).
type decision struct {
	set    map[string][]string
	groups []any
}

// authenticate turns the client's request headers into the decision for
// the upstream request, or an error that response maps to the client's
// answer. It is plain Go: no PDK, testable without Kong.
func (rt *runtime) authenticate(ctx context.Context, headers map[string][]string) (decision, error) {
	in, err := rt.headers.inspect(headers)
	if err != nil {
		if errors.Is(err, errMissingCredential) && rt.allowAnonymous {
			outAnonymous.Inc()
			return decision{set: rt.headers.anonymous(in.spoofed)}, nil
		}
		requestsTotal.WithLabelValues(outcomeOf(err)).Inc()
		return decision{}, err
	}
	now := time.Now()
	id, err := rt.identify(ctx, in.cred, now)
	if err != nil {
		return decision{}, err
	}
	set, err := rt.headers.plan(id, in.spoofed, now)
	if err != nil {
		logger.Error("building identity headers", "error", err.Error())
		return decision{}, fmt.Errorf("%w: %v", errInternal, err)
	}
	d := decision{set: set}
	if rt.aclGroups {
		d.groups = id.groups
	}
	return d, nil
}

// identify answers, in order: from a fresh cache entry; from a recent
// rejection; from the auth service (one call for all concurrent misses of a
// credential); and, when the auth service fails, from a stale cache entry
// still inside stale_if_error.
func (rt *runtime) identify(ctx context.Context, cred credential, now time.Time) (*Identity, error) {
	key := cacheKey(rt.namespace, cred.material())

	var stale *Identity
	if rt.cacheTTL > 0 {
		if v, ok := identities.get(key); ok {
			e := v.(*cacheEntry)
			age := now.Sub(e.fetched)
			if age < rt.cacheTTL {
				outHit.Inc()
				return e.id, nil
			}
			if age < rt.cacheTTL+rt.staleIfError {
				stale = e.id
			}
		}
	}
	if rt.negativeTTL > 0 {
		if v, ok := rejections.get(key); ok {
			if r := v.(*rejection); now.Sub(r.fetched) < rt.negativeTTL {
				outRejectedHit.Inc()
				return nil, &rejectedError{status: r.status}
			}
		}
	}

	id, err := rt.fetch(key, cred)
	var sharedStale *staleError
	switch {
	case err == nil:
		outMiss.Inc()
		return id, nil
	case stale != nil && serveStale(err):
		outStale.Inc()
		return stale, nil
	case errors.As(err, &sharedStale):
		outStale.Inc()
		return sharedStale.id, nil
	}
	requestsTotal.WithLabelValues(outcomeOf(err)).Inc()
	return nil, err
}

// serveStale reports whether err is the auth service failing (not
// answering): connection errors, timeouts, an open breaker, 5xx. A 401/403
// is an answer and never lets a stale identity through.
func serveStale(err error) bool {
	var bad *badStatusError
	return errors.Is(err, errUnavailable) || (errors.As(err, &bad) && bad.status >= 500)
}

// flights coalesces concurrent verify calls per cache key (process-wide:
// the key already names the auth service).
var flights singleflight.Group

// fetch asks the auth service, through the coalescing group and the
// breaker, and stores the answer. A caller waits for a shared call at most
// its own timeout.
func (rt *runtime) fetch(key string, cred credential) (*Identity, error) {
	if !rt.coalesce {
		return rt.verifyAndStore(key, cred)
	}
	ch := flights.DoChan(key, func() (any, error) { return rt.verifyAndStore(key, cred) })
	timer := time.NewTimer(rt.timeout)
	defer timer.Stop()
	select {
	case r := <-ch:
		id, _ := r.Val.(*Identity)
		return id, r.Err
	case <-timer.C:
		return nil, errUnavailable
	}
}

// verifyAndStore makes one verify call and caches its answer: an identity
// for cache_ttl (kept stale_if_error longer for outages), a 401/403 for
// negative_ttl.
func (rt *runtime) verifyAndStore(key string, cred credential) (*Identity, error) {
	// A request that missed the cache just before another one's call stored
	// its answer would otherwise start a second call: look again first.
	if rt.cacheTTL > 0 {
		if v, ok := identities.get(key); ok {
			if e := v.(*cacheEntry); time.Since(e.fetched) < rt.cacheTTL {
				return e.id, nil
			}
		}
	}
	// Then the shared cache, when configured: another node may know it.
	var sharedStale *Identity
	if rt.cacheTTL > 0 {
		if e, ok := rt.sharedLookup(key); ok {
			age := time.Since(e.fetched)
			if age < rt.cacheTTL {
				identities.add(key, e, rt.cacheTTL+rt.staleIfError-age, rt.cacheMaxEntries)
				outShared.Inc()
				return e.id, nil
			}
			if age < rt.cacheTTL+rt.staleIfError {
				sharedStale = e.id
			}
		}
	}
	start := time.Now()
	var id *Identity
	var err error
	if rt.breaker != nil {
		id, err = rt.breaker.call(func() (*Identity, error) { return rt.auth.verify(context.Background(), cred) })
	} else {
		id, err = rt.auth.verify(context.Background(), cred)
	}
	observeCall(start, err)

	var rejected *rejectedError
	switch {
	case err == nil:
		if rt.cacheTTL > 0 && !revokedSince(key, id.UserID, start) {
			e := &cacheEntry{id: id, fetched: time.Now()}
			identities.add(key, e, rt.cacheTTL+rt.staleIfError, rt.cacheMaxEntries)
			rt.sharedStore(key, e)
		}
	case errors.As(err, &rejected):
		// A rejected credential must not be served stale later.
		identities.c.Delete(key)
		rt.sharedForget(key)
		if rt.negativeTTL > 0 {
			rejections.add(key, &rejection{status: rejected.status, fetched: time.Now()}, rt.negativeTTL, rt.cacheMaxEntries)
		}
	default:
		var open *openError
		if !errors.As(err, &open) { // an open breaker logs its state changes instead
			rt.logFailure(err)
		}
		if sharedStale != nil && serveStale(err) {
			// A restarted node still has the fleet's stale identity.
			return nil, &staleError{cause: err, id: sharedStale}
		}
	}
	return id, err
}

// staleError carries a stale identity from the shared cache out of a failed
// refresh; identify serves it like an in-process stale entry.
type staleError struct {
	cause error
	id    *Identity
}

func (e *staleError) Error() string { return e.cause.Error() }
func (e *staleError) Unwrap() error { return e.cause }

// logFailure writes one line per failed verify call: the auth service's
// fault, with its cause, never the credential.
func (rt *runtime) logFailure(err error) {
	status, _, _ := response(err)
	logger.LogAttrs(context.Background(), slog.LevelWarn, "auth service call failed",
		slog.String("auth_url", rt.authURL.Redacted()),
		slog.Int("answered", status),
		slog.String("cause", err.Error()))
}
