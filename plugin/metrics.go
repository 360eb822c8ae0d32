package plugin

import (
	"errors"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/sony/gobreaker/v2"
)

// Metrics use prometheus/client_golang, the reference Prometheus client: its
// counters are lock-free atomics, so the hot path pays a few nanoseconds and
// no allocation (label children are resolved once, below).
//
// They live in a private registry served only when the operator opts in
// (see cmd/legacy-auth -metrics-addr): the plugin process is not reachable
// by default and must not open a port unasked.
var (
	registry = prometheus.NewRegistry()

	requestsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "legacy_auth_requests_total",
		Help: "Access-phase requests, each counted once, by outcome (see the README's Metrics section).",
	}, []string{"outcome"})

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
)

func init() {
	registry.MustRegister(requestsTotal, authCallSeconds, breakerState, evictionsTotal,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "legacy_auth_cache_entries",
			Help: "Identities held in the process-wide cache (expired ones not yet swept included).",
		}, func() float64 { n, _ := partitions.counts(); return float64(n) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "legacy_auth_rejection_cache_entries",
			Help: "Rejected credentials held in the negative cache.",
		}, func() float64 { _, n := partitions.counts(); return float64(n) }),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
}

// Outcome counters, resolved once so counting allocates nothing.
var (
	outHit         = requestsTotal.WithLabelValues("hit")
	outMiss        = requestsTotal.WithLabelValues("miss")
	outStale       = requestsTotal.WithLabelValues("stale")
	outRejectedHit = requestsTotal.WithLabelValues("rejected_cached")
	outAnonymous   = requestsTotal.WithLabelValues("anonymous")

	callOK       = authCallSeconds.WithLabelValues("ok")
	callRejected = authCallSeconds.WithLabelValues("rejected")
	callError    = authCallSeconds.WithLabelValues("error")
)

// outcomeOf names the outcome label of a failed request.
func outcomeOf(err error) string { return classify(err).outcome }

func observeCall(start time.Time, err error) {
	d := time.Since(start).Seconds()
	var rejected *rejectedError
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

// MetricsHandler serves the plugin's metrics in the Prometheus text format.
func MetricsHandler() http.Handler {
	return promhttp.HandlerFor(registry, promhttp.HandlerOpts{})
}
