package identity

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sony/gobreaker/v2"
)

// breaker guards one auth service scope. It is sony/gobreaker (a maintained
// implementation of the classic closed/open/half-open machine) plus the time
// it last opened, which gobreaker does not expose and Retry-After needs.
type breaker struct {
	cb       *gobreaker.CircuitBreaker[*Identity]
	cooldown time.Duration
	openedAt atomic.Int64 // unix nanoseconds
	lastUsed atomic.Int64 // unix nanoseconds, for pruning
}

// breakers holds one breaker per scope and breaker settings. It outlives
// plugin instances (every instance of a scope must see the same state);
// breakers unused for breakerIdle are pruned.
var breakers sync.Map // string → *breaker

// breakerIdle is how long an unused breaker is kept.
const breakerIdle = 10 * time.Minute

// breakerFor returns the shared breaker named key, creating it.
func breakerFor(key string, sc scope, threshold int, cooldown time.Duration, now time.Time) *breaker {
	if v, ok := breakers.Load(key); ok {
		b := v.(*breaker)
		if n := now.UnixNano(); n-b.lastUsed.Load() > int64(time.Second) {
			b.lastUsed.Store(n)
		}
		return b
	}
	b := &breaker{cooldown: cooldown}
	b.lastUsed.Store(now.UnixNano())
	trip := uint32(threshold)
	b.cb = gobreaker.NewCircuitBreaker[*Identity](gobreaker.Settings{
		Name:        sc.name, // no userinfo, no query: it is logged and a metric label
		MaxRequests: 1,       // one probe in half-open
		Timeout:     cooldown,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= trip },
		// Only the auth service failing counts: an answer about one
		// credential (401, 403, 404, an invalid 200...) never opens the
		// breaker for everyone else.
		IsSuccessful: func(err error) bool { return err == nil || !authServiceFailed(err) },
		OnStateChange: func(name string, from, to gobreaker.State) {
			if to == gobreaker.StateOpen {
				b.openedAt.Store(time.Now().UnixNano())
			}
			logger.Warn("auth service circuit breaker changed state", "auth_url", name, "from", from.String(), "to", to.String())
			observeBreaker(name, to)
		},
	})
	actual, _ := breakers.LoadOrStore(key, b)
	return actual.(*breaker)
}

// pruneBreakers drops breakers unused since before now-breakerIdle.
func pruneBreakers(now time.Time) int {
	n := 0
	breakers.Range(func(k, v any) bool {
		if now.UnixNano()-v.(*breaker).lastUsed.Load() > int64(breakerIdle) {
			breakers.Delete(k)
			n++
		}
		return true
	})
	return n
}

// call runs verify through the breaker.
func (b *breaker) call(verify func() (*Identity, error)) (*Identity, error) {
	id, err := b.cb.Execute(verify)
	if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
		left := b.cooldown - time.Since(time.Unix(0, b.openedAt.Load()))
		if left < time.Second {
			left = time.Second
		}
		return nil, &OpenError{RetryAfter: left}
	}
	return id, err
}

// breakerVerifier puts a verifier behind the scope's breaker: the breaker
// counts the verifier failing and refuses calls while open.
type breakerVerifier struct {
	next      Verifier
	key       string // names the shared breaker
	scope     scope
	threshold int
	cooldown  time.Duration
	now       func() time.Time
}

var _ Verifier = (*breakerVerifier)(nil)

// Verify asks next through the breaker.
func (b *breakerVerifier) Verify(ctx context.Context, cred credential) (*Identity, error) {
	br := breakerFor(b.key, b.scope, b.threshold, b.cooldown, b.now())
	return br.call(func() (*Identity, error) { return b.next.Verify(ctx, cred) })
}
