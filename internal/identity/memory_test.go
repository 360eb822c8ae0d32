package identity

import (
	"fmt"
	goruntime "runtime"
	"testing"
	"time"
)

// measureCacheMemory fills the identity cache with n entries written the way
// the plugin writes them and returns the retained heap per entry. The
// entries are written directly (not through n HTTP calls) so the figure is
// the cache's own cost: key, entry, identity, go-cache item and map slot.
func measureCacheMemory(tb testing.TB, rt *Engine, n int) float64 {
	tb.Helper()
	var before, after goruntime.MemStats
	goruntime.GC()
	goruntime.ReadMemStats(&before)
	p := newBoundedCache(time.Now)
	for i := 0; i < n; i++ {
		id, err := parseIdentity([]byte(fmt.Sprintf(`{"user_id":"%d","roles":["admin","editor"]}`, 1000000+i)), nil, time.Now())
		if err != nil {
			tb.Fatal(err)
		}
		cred := credential{authorization: fmt.Sprintf("Bearer token-%040d", i)}
		p.add(credentialKey(rt.scope, cred), &cacheEntry{id: id, fetched: time.Now(), parts: credentialParts(cred)}, time.Hour, 1<<30)
	}
	goruntime.GC()
	goruntime.ReadMemStats(&after)
	perEntry := float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(p.Len())
	goruntime.KeepAlive(p)
	return perEntry
}

func TestCacheMemoryPerEntry(t *testing.T) {
	if testing.Short() {
		t.Skip("memory measurement")
	}
	rt := mustCompile(t, &Config{AuthURL: "http://127.0.0.1:1/mem", BreakerThreshold: ptr(0)})
	per := measureCacheMemory(t, rt, 100000)
	t.Logf("%.0f bytes per cached identity at 100,000 entries", per)
	if per > 1024 {
		t.Errorf("%.0f bytes per cached identity, want under 1 KiB", per)
	}
}
