package plugin

import (
	"log/slog"
	"os"
	"strings"
)

// LogLevelEnv names the environment variable that sets the log level:
// debug, info (default), warn or error.
const LogLevelEnv = "LEGACY_AUTH_LOG_LEVEL"

// logger writes to stderr, which Kong's process.lua merges with stdout into
// its own error log, prefixed with the plugin name and pid. Logging there
// costs no PDK round trip, unlike kong.log.*.
var logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: levelFromEnv()}))

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

// Logger returns the plugin's logger.
func Logger() *slog.Logger { return logger }

// SetLogger replaces the plugin's logger (tests capture log lines with it).
func SetLogger(l *slog.Logger) { logger = l }
