package plugin

import (
	"net/http"

	"github.com/legacy-auth/legacy-auth/internal/identity"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// The metrics live in a private registry served only when the operator
// opts in (see cmd/legacy-auth -metrics-addr): the plugin process is not
// reachable by default and must not open a port unasked. The core's own
// (auth calls, caches, breakers, Redis, revocations) are registered here
// beside the count of outcomes, which is the adapter's: it knows how each
// request was answered.
var (
	registry = prometheus.NewRegistry()

	requestsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "legacy_auth_requests_total",
		Help: "Access-phase requests, each counted once, by outcome (see the README's Metrics section).",
	}, []string{"outcome"})
)

func init() {
	registry.MustRegister(requestsTotal, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	registry.MustRegister(identity.Collectors()...)
}

// outcomes are the counters of the core's outcomes, resolved once: a cache
// hit counts with one atomic add, not a label lookup.
var outcomes = func() map[identity.Outcome]prometheus.Counter {
	m := map[identity.Outcome]prometheus.Counter{}
	for _, o := range []identity.Outcome{identity.OutcomeHit, identity.OutcomeMiss, identity.OutcomeStale,
		identity.OutcomeRejectedHit, identity.OutcomeAnonymous} {
		m[o] = requestsTotal.WithLabelValues(string(o))
	}
	return m
}()

// countOutcome counts one request: the core's outcome when it decided one
// (a hit, a miss, a stale or anonymous answer, a cached rejection), else
// the failure's.
func countOutcome(o identity.Outcome, err error) {
	if c, ok := outcomes[o]; ok {
		c.Inc()
		return
	}
	requestsTotal.WithLabelValues(classify(err).outcome).Inc()
}

// MetricsHandler serves the plugin's metrics in the Prometheus text format.
func MetricsHandler() http.Handler {
	return promhttp.HandlerFor(registry, promhttp.HandlerOpts{})
}
