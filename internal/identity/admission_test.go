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
