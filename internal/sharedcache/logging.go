package sharedcache

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/redis/go-redis/v9"
)

// RouteRedisLogs sends go-redis's own log lines, which it otherwise prints to
// stderr (a failed dial, at most about one per pool slot per outage; a
// sentinel's master change), to l at level Warn, with component=go-redis.
// go-redis has one logger per process, so this is process-wide: call it
// once at startup if wanted. The lines carry addresses, never keys.
func RouteRedisLogs(l *slog.Logger) {
	redis.SetLogger(redisLogger{l})
}

type redisLogger struct{ l *slog.Logger }

func (r redisLogger) Printf(ctx context.Context, format string, v ...any) {
	r.l.WarnContext(ctx, fmt.Sprintf(format, v...), "component", "go-redis")
}
