package identity

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
)

// LogLevelEnv names the environment variable that sets the log level:
// debug, info (default), warn or error.
const LogLevelEnv = "LEGACY_AUTH_LOG_LEVEL"

// logger writes to stderr, which Kong's process.lua merges with stdout into
// its own error log, prefixed with the plugin name and pid. Logging there
// costs no PDK round trip, unlike kong.log.*.
// SetLogger swaps its handler atomically: calls still in flight (a verify
// that outlives its request) never race the swap.
var (
	logHandler = newSwapHandler(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: levelFromEnv()}))
	logger     = slog.New(logHandler)
)

// swapHandler is a slog.Handler whose target can be replaced at run time.
type swapHandler struct{ h atomic.Pointer[slog.Handler] }

func newSwapHandler(h slog.Handler) *swapHandler {
	s := &swapHandler{}
	s.h.Store(&h)
	return s
}

func (s *swapHandler) target() slog.Handler { return *s.h.Load() }
func (s *swapHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return s.target().Enabled(ctx, l)
}
func (s *swapHandler) Handle(ctx context.Context, r slog.Record) error {
	return s.target().Handle(ctx, r)
}
func (s *swapHandler) WithAttrs(a []slog.Attr) slog.Handler { return s.target().WithAttrs(a) }
func (s *swapHandler) WithGroup(n string) slog.Handler      { return s.target().WithGroup(n) }

func levelFromEnv() slog.Level {
	switch strings.ToLower(os.Getenv(LogLevelEnv)) {
	case "debug":
		return slog.LevelDebug
	case "warn", "warning":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	default:
		return slog.LevelInfo
	}
}

// Logger returns the plugin's logger (the core's and the adapter's).
func Logger() *slog.Logger { return logger }

// SetLogger replaces the plugin's logger (tests capture log lines with it).
func SetLogger(l *slog.Logger) {
	h := l.Handler()
	if sh, ok := h.(*swapHandler); ok {
		h = sh.target() // Logger()'s own handler: restore what it points to, not a loop
	}
	logHandler.h.Store(&h)
}
