package plugin

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sony/gobreaker/v2"
)

// breaker guards one auth service. It is sony/gobreaker (a maintained
// implementation of the classic closed/open/half-open machine) plus the time
// it last opened, which gobreaker does not expose and Retry-After needs.
type breaker struct {
	cb       *gobreaker.CircuitBreaker[*Identity]
	cooldown time.Duration
	openedAt atomic.Int64 // unix nanoseconds
}

// breakers holds one breaker per auth service and breaker settings, for the
// life of the process: like the cache, it must survive instance restarts,
// and every instance calling the same auth_url must see the same state.
var breakers sync.Map // string → *breaker

// breakerFor returns the shared breaker of s's auth service, or nil when
// the breaker is disabled.
func breakerFor(s settings) *breaker {
	if s.breakerThreshold == 0 {
		return nil
	}
	key := fmt.Sprintf("%s %s|%d|%s", s.authMethod, s.authURL.String(), s.breakerThreshold, s.breakerCooldown)
	if b, ok := breakers.Load(key); ok {
		return b.(*breaker)
	}
	b := &breaker{cooldown: s.breakerCooldown}
	threshold := uint32(s.breakerThreshold)
	b.cb = gobreaker.NewCircuitBreaker[*Identity](gobreaker.Settings{
		Name:        s.authURL.Redacted(),
		MaxRequests: 1, // one probe in half-open
		Timeout:     s.breakerCooldown,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= threshold },
		IsSuccessful: func(err error) bool {
			// A 401/403 is Rails working as intended.
			var rejected *rejectedError
			return err == nil || errors.As(err, &rejected)
		},
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

// openError is returned while the breaker refuses calls.
type openError struct{ retryAfter time.Duration }

func (e *openError) Error() string { return "circuit breaker open" }
func (e *openError) Unwrap() error { return errUnavailable }

// call runs verify through the breaker.
func (b *breaker) call(verify func() (*Identity, error)) (*Identity, error) {
	id, err := b.cb.Execute(verify)
	if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
		left := b.cooldown - time.Since(time.Unix(0, b.openedAt.Load()))
		if left < time.Second {
			left = time.Second
		}
		return nil, &openError{retryAfter: left}
	}
	return id, err
}
