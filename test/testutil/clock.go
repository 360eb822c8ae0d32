package testutil

import (
	"sync/atomic"
	"time"
)

// Clock is an injected clock: tests move time, nothing sleeps. Its Now
// starts at 2026-01-01 UTC.
type Clock struct{ ns atomic.Int64 }

// NewClock returns a Clock at 2026-01-01 UTC.
func NewClock() *Clock {
	c := &Clock{}
	c.ns.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}

// Now is the clock's time; pass c.Now where a func() time.Time is injected.
func (c *Clock) Now() time.Time { return time.Unix(0, c.ns.Load()) }

// Advance moves the clock by d.
func (c *Clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }
