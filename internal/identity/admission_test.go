package identity

import (
	"context"
	"errors"
	"testing"
	"time"
)

// A call that cannot be answered inside its deadline is shed at once,
// without waiting; one that can waits for a permit; done teaches the
// estimate only from answered calls.
func TestAdmit(t *testing.T) {
	t.Parallel()
	a := admissionFor("test|admit", 1)
	t.Cleanup(func() { dropAdmission("test|admit") })

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	done, err := a.admit(ctx, false)
	if err != nil {
		t.Fatalf("first call shed: %v", err)
	}
	// The one permit is taken: a call whose deadline cannot cover its
	// expected duration plus the margin is shed without waiting.
	short, cancelShort := context.WithTimeout(context.Background(), admissionMargin/2)
	defer cancelShort()
	_, err = a.admit(short, false)
	var shed *ShedError
	if !errors.As(err, &shed) || !errors.Is(err, ErrUnavailable) || shed.RetryAfter <= 0 {
		t.Fatalf("a call that cannot fit: %v, want a *ShedError (unavailable, with Retry-After)", err)
	}
	// One with time to spare waits for the permit and gets it when the
	// first call ends.
	got := make(chan error, 1)
	go func() {
		d, err := a.admit(ctx, false)
		if err == nil {
			d(nil)
		}
		got <- err
	}()
	for a.waiting.Load() == 0 {
		time.Sleep(time.Millisecond) // polling an event: the second call queued
	}
	done(&RejectedError{Status: 401}) // an answer: teaches the estimate
	if err := <-got; err != nil {
		t.Fatalf("a queued call with time to spare: %v", err)
	}
	if a.expected.Load() <= 0 {
		t.Error("an answered call did not teach the expected duration")
	}
	// A full queue sheds at once.
	a.waiting.Store(a.maxQueue)
	if _, err := a.admit(ctx, false); !errors.As(err, &shed) {
		t.Errorf("with the queue full: %v, want a shed", err)
	}
	a.waiting.Store(0)
}

// A call whose permit comes after the expected duration grew past what
// its deadline leaves is shed, and the permit goes back.
func TestAdmitRechecksAfterWaiting(t *testing.T) {
	t.Parallel()
	a := admissionFor("test|recheck", 1)
	t.Cleanup(func() { dropAdmission("test|recheck") })
	long, cancelLong := context.WithTimeout(context.Background(), time.Minute)
	defer cancelLong()
	first, err := a.admit(long, false)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got := make(chan error, 1)
	go func() {
		_, err := a.admit(ctx, false)
		got <- err
	}()
	for a.waiting.Load() == 0 {
		time.Sleep(time.Millisecond) // polling an event: the second call queued
	}
	a.expected.Store(int64(time.Hour)) // calls now take far longer than the 10 s left
	first(errors.New("failed"))        // the permit is free: the waiter gets it
	var shed *ShedError
	if err := <-got; !errors.As(err, &shed) {
		t.Fatalf("a call that no longer fits after waiting: %v, want a shed", err)
	}
	if p, ok := a.limiter.TryAcquirePermit(); !ok {
		t.Fatal("the shed call kept its permit")
	} else {
		p.Drop()
	}
}
