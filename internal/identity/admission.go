package identity

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/failsafe-go/failsafe-go/adaptivelimiter"
	"github.com/prometheus/client_golang/prometheus"
)

// The admission stage: a verify call needs a permit of its auth scope's
// concurrency limiter, so that under a surge Rails works only on calls
// whose answer will be used, at about its best throughput.
//
// The limit is learned from the latency of the verify calls (failsafe-go's
// adaptivelimiter: it raises the limit while latency stays at its
// baseline and lowers it when latency climbs, the sign of a queue forming
// at Rails), under a hard cap (max_concurrent_calls), with a bounded local
// queue. A call waits for a permit only as long as it could still be
// answered inside its deadline (admit); a call that cannot is refused at
// once (ShedError: 503 with
// Retry-After), without reaching Rails, instead of joining Rails' accept
// queue, timing out there and leaving Rails to work for a caller that has
// gone. Sheds happen before the breaker: they never count as failures of
// Rails. Like any failure to get an answer, a shed lets a known user
// through with its stale identity (stale_if_error).
//
// failsafe-go is maintained, has queueing and priorities, and is the
// adaptive limiter on the Go module proxy here (platinummonkey's
// go-concurrency-limits is not served).

// ShedError is a call refused by admission control: Rails is saturated.
type ShedError struct{ RetryAfter time.Duration }

func (e *ShedError) Error() string { return "auth service saturated: call shed by admission control" }
func (e *ShedError) Unwrap() error { return ErrUnavailable }

// shedRetryAfter is what a shed call tells the client: the queue drains
// in about a call's time, and a second is the header's resolution.
const shedRetryAfter = time.Second

// admission is one scope's limiter and its estimate of a call's duration.
type admission struct {
	limiter adaptivelimiter.AdaptiveLimiter[any]
	// expected is an exponentially weighted mean of the durations of the
	// calls that got an answer (ns): how long a call admitted now will take.
	expected atomic.Int64
	// waiting counts the calls waiting for a permit: the local queue.
	waiting  atomic.Int64
	maxQueue int64
}

// admissionMargin is what an admitted call keeps besides twice its
// expected duration: scheduling and network jitter.
const admissionMargin = 100 * time.Millisecond

// queuePerPermit bounds the local queue: at most this many waiting calls
// per call the cap allows in flight.
const queuePerPermit = 10

// admissions are the limiters, one per scope and cap, shared by every
// engine of the scope on this node (counted: lifecycle.go).
var admissions = struct {
	sync.Mutex
	m map[string]*admission
}{m: map[string]*admission{}}

// admissionFor returns the limiter of key, creating it with cap.
func admissionFor(key string, maxConcurrent int) *admission {
	admissions.Lock()
	defer admissions.Unlock()
	if a := admissions.m[key]; a != nil {
		return a
	}
	a := &admission{
		limiter:  adaptivelimiter.NewBuilder[any]().WithLimits(1, uint(maxConcurrent), uint(min(8, maxConcurrent))).Build(),
		maxQueue: int64(maxConcurrent) * queuePerPermit,
	}
	admissions.m[key] = a
	return a
}

func dropAdmission(key string) {
	admissions.Lock()
	delete(admissions.m, key)
	admissions.Unlock()
}

// admit returns a permit's done function, or a *ShedError at once when
// the call could not be answered inside ctx's deadline: its place in the
// queue (calls ahead, served limit at a time, each taking the expected
// duration) plus its own call would not fit, or the queue is full. A call
// admitted keeps at least twice the expected duration plus a margin, so
// Rails does not work for a caller that gives up before the answer.
// done records the outcome: the duration of an answered call (200 or
// 401/403) teaches the limit and the estimate; a failed call teaches
// nothing.
func (a *admission) admit(ctx context.Context, background bool) (done func(error), err error) {
	exp := time.Duration(a.expected.Load())
	need := 2*exp + admissionMargin
	remaining := time.Second
	if deadline, ok := ctx.Deadline(); ok {
		remaining = time.Until(deadline)
	}
	ahead := a.waiting.Load()
	limit := int64(max(1, a.limiter.Limit()))
	if ahead >= a.maxQueue || time.Duration(ahead/limit)*exp+need > remaining {
		admissionShed.Inc()
		return nil, &ShedError{RetryAfter: shedRetryAfter}
	}
	permit, ok := a.limiter.TryAcquirePermit()
	if !ok && background {
		// A background refresh has the lowest priority: it never queues
		// ahead of a request that waits for its answer.
		admissionShed.Inc()
		return nil, &ShedError{RetryAfter: shedRetryAfter}
	}
	if !ok {
		admissionQueued.Inc()
		a.waiting.Add(1)
		p, err := a.limiter.AcquirePermitWithMaxWait(ctx, remaining-need)
		a.waiting.Add(-1)
		if err != nil {
			admissionShed.Inc()
			return nil, &ShedError{RetryAfter: shedRetryAfter}
		}
		// The estimate may have grown while this call waited (at a cold
		// start it was still unknown): it must still fit.
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < 2*time.Duration(a.expected.Load())+admissionMargin {
			p.Drop()
			admissionShed.Inc()
			return nil, &ShedError{RetryAfter: shedRetryAfter}
		}
		permit = p
	}
	start := time.Now()
	return func(err error) {
		var rejected *RejectedError
		if err != nil && !errors.As(err, &rejected) {
			permit.Drop()
			return
		}
		permit.Record()
		d := int64(time.Since(start))
		for {
			old := a.expected.Load()
			next := d
			if old > 0 {
				next = old + (d-old)/8
			}
			if a.expected.CompareAndSwap(old, next) {
				return
			}
		}
	}, nil
}

// admit is step 4c of resolve: a permit for the verify call, or a shed.
// Without admission control (max_concurrent_calls 0) every call passes.
func (e *Engine) admit(ctx context.Context, background bool) (func(error), error) {
	if e.admission == nil {
		return func(error) {}, nil
	}
	return e.admission.admit(ctx, background)
}

var (
	admissionShed = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "legacy_auth_admission_shed_total",
		Help: "Verify calls refused by admission control (503 with Retry-After, Rails not called).",
	})
	admissionQueued = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "legacy_auth_admission_queued_total",
		Help: "Verify calls that waited for a permit of admission control.",
	})
)

// admissionCollectors are the admission metrics, with the current limit
// and in-flight calls summed over the scopes.
func admissionCollectors() []prometheus.Collector {
	sum := func(f func(adaptivelimiter.Metrics) int) func() float64 {
		return func() float64 {
			admissions.Lock()
			defer admissions.Unlock()
			n := 0
			for _, a := range admissions.m {
				n += f(a.limiter)
			}
			return float64(n)
		}
	}
	return []prometheus.Collector{admissionShed, admissionQueued,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "legacy_auth_admission_limit",
			Help: "Current adaptive concurrency limit of verify calls, summed over the auth scopes.",
		}, sum(func(m adaptivelimiter.Metrics) int { return m.Limit() })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "legacy_auth_admission_inflight",
			Help: "Verify calls in flight under admission control, summed over the auth scopes.",
		}, sum(func(m adaptivelimiter.Metrics) int { return m.Inflight() })),
	}
}
