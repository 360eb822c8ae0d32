package identity

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"golang.org/x/sync/singleflight"
)

// The call stage: one shared call for all concurrent misses of a
// credential (coalescing), within one deadline, and the judgement of its
// failures. What the call does, in order, is resolve (pipeline.go).

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
func (e *Engine) share(key string, call func() callResult) callResult {
	if !e.Coalesce {
		return call()
	}
	ch := flights.DoChan(key+e.flightID, func() (any, error) { return call(), nil })
	timer := time.NewTimer(e.Timeout + flightGrace)
	defer timer.Stop()
	select {
	case r := <-ch:
		return r.Val.(callResult)
	case <-timer.C:
		return callResult{err: fmt.Errorf("%w: timeout waiting for a shared call", ErrUnavailable)}
	}
}

// afterFailure handles a verifier's error: a rejected credential must
// never be served stale later, by any route of the scope or any node; a
// failure of the verifier is logged (an open breaker logs its state
// changes instead).
func (e *Engine) afterFailure(key string, err error) {
	var rejected *RejectedError
	if errors.As(err, &rejected) {
		for _, q := range partitions.siblings(e.scope) {
			q.ids.remove(key)
		}
		e.sharedForget(key)
		return
	}
	var open *OpenError
	if !errors.As(err, &open) {
		e.logFailure(err)
	}
}

// authServiceFailed reports whether err is the auth service failing rather
// than answering: no answer (connection error, timeout), an open breaker,
// or a 5xx. Only these count toward the breaker and let a stale identity
// through; a 401/403, any other status and an invalid 200 are answers about
// one credential.
func authServiceFailed(err error) bool {
	var bad *BadStatusError
	return errors.Is(err, ErrUnavailable) || (errors.As(err, &bad) && bad.Status >= 500)
}

// logFailure writes one line per failed verify call: the auth service's
// fault, with its cause, never the credential or the URL's secrets.
func (e *Engine) logFailure(err error) {
	logger.LogAttrs(context.Background(), slog.LevelWarn, "auth service call failed",
		slog.String("auth_url", e.scope.name),
		slog.Int("answered", StatusOf(err)),
		slog.String("cause", err.Error()))
}

// StatusOf names, in log lines, the status a failure is answered with. The
// Kong adapter, which chooses statuses, sets it (plugin/errors.go).
var StatusOf = func(error) int { return 0 }
