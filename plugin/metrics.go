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

// countOutcome counts one request: the core's outcome when it decided one
// (a hit, a miss, a stale or anonymous answer, a cached rejection), else
// the failure's.
func countOutcome(o identity.Outcome, err error) {
	if o == "" {
		requestsTotal.WithLabelValues(classify(err).outcome).Inc()
		return
	}
	requestsTotal.WithLabelValues(string(o)).Inc()
}

// MetricsHandler serves the plugin's metrics in the Prometheus text format.
func MetricsHandler() http.Handler {
	return promhttp.HandlerFor(registry, promhttp.HandlerOpts{})
}
