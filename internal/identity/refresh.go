package identity

import (
	"errors"
	"math/rand/v2"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The refresh-ahead stage: an identity used in the last part of its
// cache_ttl is verified again in the background, once, so that an active
// user's next request after expiry finds a fresh entry and never waits on
// Rails. The refresh is a shared call like a miss's, with the lowest
// admission priority: it takes a permit only if one is free at once, and is
// shed first otherwise. A 401/403 on refresh drops the entry everywhere (as
// any rejection does); a failure leaves it to expire (stale_if_error is
// unchanged); a revocation stays a hard delete.
//
// Expiry carries jitter: each entry stops being fresh up to expirySpread
// of cache_ttl early, and its refresh window opens between refreshFrom
// and refreshFrom+refreshSpread of cache_ttl, so identities cached at the
// same moment (a surge, a restart) neither expire nor refresh together.
// The window is at least 1-expirySpread-refreshFrom-refreshSpread (5 %) of
// cache_ttl long for every entry.
// Short caches (under refreshMinTTL) have neither.
const (
	refreshMinTTL = 2 * time.Second
	refreshFrom   = 0.70
	refreshSpread = 0.15
	expirySpread  = 0.10
)

// newJitter is an entry's place in the spreads, in [0, 1).
func newJitter() float64 { return rand.Float64() }

// freshFor is how long ent is fresh under this route's cache_ttl.
func (e *Engine) freshFor(ent *cacheEntry) time.Duration {
	if e.CacheTTL < refreshMinTTL {
		return e.CacheTTL
	}
	return e.CacheTTL - time.Duration(float64(e.CacheTTL)*expirySpread*ent.jitter)
}

// refreshAhead starts ent's background refresh when ent, served fresh at
// now, is in its refresh window and none was started.
func (e *Engine) refreshAhead(key string, cred credential, ent *cacheEntry, now time.Time) {
	if e.CacheTTL < refreshMinTTL || ent.id.source == SourceProvider || now.Sub(ent.fetched) < time.Duration(float64(e.CacheTTL)*(refreshFrom+refreshSpread*ent.jitter)) {
		return
	}
	if !ent.refreshing.CompareAndSwap(false, true) {
		return // once per entry (a shed refresh is not a try): a new entry replaces it when it succeeds
	}
	go func() {
		res := e.share(key+"|refresh", func() callResult { return e.resolve(key, cred, ent.fetched) })
		var rejected *RejectedError
		var shed *ShedError
		switch {
		case res.entry != nil:
			refreshOK.Inc()
		case errors.As(res.err, &rejected):
			refreshDropped.Inc() // resolve's afterFailure dropped it everywhere
		case errors.As(res.err, &shed):
			ent.refreshing.Store(false) // not tried: a later hit in the window may try again
			refreshShed.Inc()
		default:
			refreshFailed.Inc()
		}
	}()
}

var (
	refreshes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "legacy_auth_refreshes_total",
		Help: "Background refreshes of identities in the last part of cache_ttl, by result: ok, dropped (401/403), shed (admission), failed.",
	}, []string{"result"})
	refreshOK      = refreshes.WithLabelValues("ok")
	refreshDropped = refreshes.WithLabelValues("dropped")
	refreshShed    = refreshes.WithLabelValues("shed")
	refreshFailed  = refreshes.WithLabelValues("failed")
)
