package plugin

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// TestBoundedCacheHardBound: concurrent inserts released together at
// max-1 entries never overshoot the bound.
func TestBoundedCacheHardBound(t *testing.T) {
	t.Parallel()
	for round := 0; round < 20; round++ {
		b := newBoundedCache()
		const max = 100
		for i := 0; i < max-1; i++ {
			b.add(fmt.Sprint("k", i), i, time.Hour, max)
		}
		b.lastSweep.Store(time.Now().UnixNano()) // no eviction during the race: test the check itself
		start := make(chan struct{})
		var wg sync.WaitGroup
		for g := 0; g < 32; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				<-start
				b.add(fmt.Sprint("new", g), g, time.Hour, max)
			}(g)
		}
		close(start)
		wg.Wait()
		if n := b.Len(); n != max {
			t.Fatalf("round %d: %d items after concurrent inserts, bound %d", round, n, max)
		}
	}
}

// TestBoundedCacheEvicts: a full cache makes room once a sweep period has
// passed, so users beyond the bound are cached again instead of never.
func TestBoundedCacheEvicts(t *testing.T) {
	t.Parallel()
	b := newBoundedCache()
	const max = 50
	for i := 0; i < max; i++ {
		b.add(fmt.Sprint("k", i), i, time.Hour, max)
	}
	b.lastSweep.Store(time.Now().UnixNano())
	if b.add("refused", 1, time.Hour, max) {
		t.Fatal("a full cache accepted a new key before the sweep period")
	}
	b.lastSweep.Store(time.Now().Add(-2 * sweepEvery).UnixNano())
	if !b.add("admitted", 1, time.Hour, max) {
		t.Fatal("a full cache refused a new key after the sweep period: no eviction")
	}
	if n := b.Len(); n > max {
		t.Errorf("%d items, bound %d", n, max)
	}
	// A key already present is always refreshed, full or not.
	if !b.add("k1", 2, time.Hour, max) && !b.add("admitted", 2, time.Hour, max) {
		t.Error("refreshing an existing key was refused")
	}
}
