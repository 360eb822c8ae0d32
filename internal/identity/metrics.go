package identity

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sony/gobreaker/v2"
)

// The core's metrics. They use prometheus/client_golang, the reference
// Prometheus client: its counters are lock-free atomics, so the hot path
// pays a few nanoseconds and no allocation (label children are resolved
// once). The Kong adapter registers them (Collectors) in its private
// registry, beside its count of outcomes.
var (
	authCallSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "legacy_auth_auth_call_duration_seconds",
		Help:    "Duration of calls to the auth service (retries included), by result: ok, rejected, error.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
	}, []string{"result"})

	evictionsTotal = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "legacy_auth_cache_evictions_total",
		Help: "Entries evicted because a cache reached cache_max_entries.",
	})

	breakerState = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "legacy_auth_breaker_state",
		Help: "Circuit breaker state per auth service: 0 closed, 1 half-open, 2 open.",
	}, []string{"auth_url"})

	identities = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "legacy_auth_identities_total",
		Help: "Requests given an identity, by its source: legacy (Rails' verify endpoint) or provider (a JWT of a configured issuer). The migration's progress.",
	}, []string{"source"})
	identitiesBySource = [...]prometheus.Counter{
		SourceLegacy:   identities.WithLabelValues("legacy"),
		SourceProvider: identities.WithLabelValues("provider"),
	}

	providerTokens = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "legacy_auth_provider_tokens_total",
		Help: "Verifications of provider tokens (cache misses), by result: verified, refused (401), revoked (401), unavailable (no keys: 503).",
	}, []string{"result"})
	providerVerified    = providerTokens.WithLabelValues("verified")
	providerRefused     = providerTokens.WithLabelValues("refused")
	providerRevoked     = providerTokens.WithLabelValues("revoked")
	providerUnavailable = providerTokens.WithLabelValues("unavailable")

	jwksFetches = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "legacy_auth_jwks_fetches_total",
		Help: "HTTP fetches of the issuers' key sets (start, background refresh, unknown kid).",
	})

	callOK       = authCallSeconds.WithLabelValues("ok")
	callRejected = authCallSeconds.WithLabelValues("rejected")
	callError    = authCallSeconds.WithLabelValues("error")
)

// Collectors are the core's metrics, for the adapter's registry.
func Collectors() []prometheus.Collector {
	return append(admissionCollectors(), refreshes, identities, providerTokens, jwksFetches, authCallSeconds, breakerState, evictionsTotal, redisOps, revocationsTotal,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "legacy_auth_cache_entries",
			Help: "Identities held in the process-wide cache (expired ones not yet swept included).",
		}, func() float64 { n, _ := partitions.counts(); return float64(n) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "legacy_auth_rejection_cache_entries",
			Help: "Rejected credentials held in the negative cache.",
		}, func() float64 { _, n := partitions.counts(); return float64(n) }),
	)
}

func observeCall(start time.Time, err error) {
	d := time.Since(start).Seconds()
	var rejected *RejectedError
	switch {
	case err == nil:
		callOK.Observe(d)
	case errors.As(err, &rejected):
		callRejected.Observe(d)
	default:
		callError.Observe(d)
	}
}

func observeBreaker(authURL string, s gobreaker.State) {
	v := map[gobreaker.State]float64{gobreaker.StateClosed: 0, gobreaker.StateHalfOpen: 1, gobreaker.StateOpen: 2}[s]
	breakerState.WithLabelValues(authURL).Set(v)
}
