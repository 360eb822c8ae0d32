package identity

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/legacy-auth/legacy-auth/test/testutil"
)

// TestBoundedCacheHardBound: concurrent inserts released together at
// max-1 entries never overshoot the bound.
func TestBoundedCacheHardBound(t *testing.T) {
	t.Parallel()
	clock := testutil.NewClock()
	for round := 0; round < 20; round++ {
		b := newBoundedCache(clock.Now)
		const max = 100
		for i := 0; i < max-1; i++ {
			b.add(fmt.Sprint("k", i), i, time.Hour, max)
		}
		b.lastSweep.Store(clock.Now().UnixNano()) // no eviction during the race: test the check itself
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

// TestBoundedCacheEvicts: a full cache refuses new keys until a sweep
// period has passed, then evicts exactly a tenth (plus one) at random and
// admits the new key.
func TestBoundedCacheEvicts(t *testing.T) {
	t.Parallel()
	clock := testutil.NewClock()
	b := newBoundedCache(clock.Now)
	const max = 50
	for i := 0; i < max; i++ {
		if !b.add(fmt.Sprint("k", i), i, time.Hour, max) {
			t.Fatalf("key %d refused below the bound", i)
		}
	}
	b.lastSweep.Store(clock.Now().UnixNano())
	if b.add("refused", 1, time.Hour, max) {
		t.Fatal("a full cache accepted a new key before the sweep period")
	}
	if n := b.Len(); n != max {
		t.Fatalf("%d items after a refused add, want %d", n, max)
	}
	clock.Advance(sweepEvery)
	if !b.add("admitted", 1, time.Hour, max) {
		t.Fatal("a full cache refused a new key after the sweep period: no eviction")
	}
	if _, ok := b.get("admitted"); !ok {
		t.Fatal("the admitted key is not in the cache")
	}
	if want := max - (max/10 + 1) + 1; b.Len() != want {
		t.Errorf("%d items after eviction and one add, want %d (a tenth plus one evicted)", b.Len(), want)
	}
	// A key already present is always refreshed, full or not.
	for b.Len() < max {
		b.add(fmt.Sprint("fill", b.Len()), 0, time.Hour, max)
	}
	if !b.add("admitted", 2, time.Hour, max) {
		t.Error("refreshing an existing key in a full cache was refused")
	}
}

// TestPartitionsPrune: a partition unused for longer than its retention is
// dropped, and an engine holding it acquires a live one.
func TestPartitionsPrune(t *testing.T) {
	t.Parallel()
	clock := testutil.NewClock()
	ps := newPartitionSet(clock.Now)
	sc := scope{id: "0123456789abcdef", name: "http://x/verify"}
	p := ps.acquire("a", sc)
	p.keepAtLeast(time.Hour)
	q := ps.acquire("b", sc)
	q.keepAtLeast(time.Minute)
	if got := ps.siblings(sc); len(got) != 2 {
		t.Fatalf("%d siblings, want 2", len(got))
	}
	clock.Advance(30 * time.Minute)
	p.touch(clock.Now())
	if n := ps.prune(); n != 1 {
		t.Fatalf("prune dropped %d, want 1 (b: idle past its retention)", n)
	}
	if !q.dead.Load() || p.dead.Load() {
		t.Errorf("dead: a=%v b=%v, want a live, b dead", p.dead.Load(), q.dead.Load())
	}
	if got := ps.siblings(sc); len(got) != 1 || got[0] != p {
		t.Errorf("siblings after prune = %v, want [a]", got)
	}
	if r := ps.acquire("b", sc); r == q {
		t.Error("acquire returned the pruned partition")
	}
}
