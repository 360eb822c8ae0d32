package plugin

import (
	"crypto/sha256"
	"time"

	gocache "github.com/patrickmn/go-cache"
)

// identities is the process-wide identity cache. It lives at package level,
// not in a plugin instance: Kong starts a new instance on every
// plugin-iterator rebuild and go-pdk drops instances idle for 60 s, so an
// instance-level cache would be emptied at the worst moments.
//
// github.com/patrickmn/go-cache is a plain RWMutex-guarded map with per-item
// expiry and a janitor goroutine that sweeps expired items: exactly what the
// Lua original's kong.cache gave it, without a dependency we'd have to run.
var identities = gocache.New(gocache.NoExpiration, time.Minute)

// cacheKey is SHA-256(namespace ‖ credential): the raw token is never a key,
// never stored, and the namespace keeps answers of different auth services
// apart. The 32 raw bytes are the key (no hex: half the size, no encoding).
func cacheKey(namespace []byte, credential string) string {
	var buf [512]byte
	b := append(append(buf[:0], namespace...), credential...)
	sum := sha256.Sum256(b)
	return string(sum[:])
}

// cachedIdentity returns the identity cached under key, if any.
func cachedIdentity(key string) (*Identity, bool) {
	v, ok := identities.Get(key)
	if !ok {
		return nil, false
	}
	id, ok := v.(*Identity)
	return id, ok
}

// cacheIdentity stores id under key for ttl.
func cacheIdentity(key string, id *Identity, ttl time.Duration) {
	identities.Set(key, id, ttl)
}
