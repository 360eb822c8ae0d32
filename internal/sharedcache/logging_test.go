package sharedcache

import (
	"log/slog"
	"strings"
	"testing"
)

func TestRouteRedisLogs(t *testing.T) {
	logs := &logBuffer{}
	RouteRedisLogs(slog.New(slog.NewTextHandler(logs, nil)))
	t.Cleanup(func() { RouteRedisLogs(slog.Default()) })
	c, _ := newCache(t, "127.0.0.1:1")
	if _, _, err := c.Get(bg(t), "k"); err == nil {
		t.Fatal("Get succeeded against nothing")
	}
	if out := logs.String(); !strings.Contains(out, "component=go-redis") || !strings.Contains(out, "failed to dial") {
		t.Fatalf("go-redis's dial failure not routed: %q", out)
	}
}
