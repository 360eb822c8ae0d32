package plugin

import (
	"context"
	"log/slog"
)

// runtime is a compiled configuration: built once per plugin instance, used
// by every request of that instance concurrently, never mutated.
type runtime struct {
	settings
	headers   headerPlan
	auth      *authClient
	namespace []byte
}

// compile validates the configuration and builds its runtime once. A bad
// configuration is logged once, naming the fields, and every request of the
// instance is then answered 500 (fail closed).
func (c *Config) compile() (*runtime, error) {
	c.once.Do(func() {
		s, err := c.settings()
		if err != nil {
			c.err = err
			logger.Error("plugin instance has an invalid configuration; its requests are answered 500", "error", err.Error())
			return
		}
		c.rt = &runtime{
			settings:  s,
			headers:   headerPlan{userID: s.userIDHeader, roles: s.userRolesHeader},
			auth:      newAuthClient(s, defaultRetries),
			namespace: s.cacheNamespace(),
		}
	})
	return c.rt, c.err
}

// defaultRetries is how many times a verify call is retried on a connection
// error or a 502/503/504, within the same timeout.
const defaultRetries = 1

// authenticate turns the client's request headers into the set_headers
// argument for the upstream request, or an error that response maps to the
// client's answer. It is plain Go: no PDK, testable without Kong.
func (rt *runtime) authenticate(ctx context.Context, headers map[string][]string) (map[string][]string, error) {
	in, err := rt.headers.inspect(headers)
	if err != nil {
		return nil, err
	}
	id, err := rt.identify(ctx, in.credential)
	if err != nil {
		return nil, err
	}
	return rt.headers.plan(id, in.spoofed), nil
}

// identify answers from the cache, else asks the auth service and caches a
// valid answer for cache_ttl.
func (rt *runtime) identify(ctx context.Context, credential string) (*Identity, error) {
	caching := rt.cacheTTL > 0
	var key string
	if caching {
		key = cacheKey(rt.namespace, credential)
		if id, ok := cachedIdentity(key); ok {
			return id, nil
		}
	}
	id, err := rt.auth.verify(ctx, credential)
	if err != nil {
		rt.logFailure(err)
		return nil, err
	}
	if caching {
		cacheIdentity(key, id, rt.cacheTTL)
	}
	return id, nil
}

// logFailure writes one line per failed verify call that is the auth
// service's fault. Rejections (401/403) are answers, not failures, and are
// not logged: a flood of bad tokens must not flood Kong's error log.
func (rt *runtime) logFailure(err error) {
	status, _ := response(err)
	if status == 401 || status == 403 {
		return
	}
	logger.LogAttrs(context.Background(), slog.LevelWarn, "auth service call failed",
		slog.String("auth_url", rt.authURL.Redacted()),
		slog.Int("status", status),
		slog.String("cause", err.Error()))
}
