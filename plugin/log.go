package plugin

import (
	"log/slog"

	"github.com/legacy-auth/legacy-auth/internal/identity"
)

// LogLevelEnv names the environment variable that sets the log level
// (debug, info, warn, error).
const LogLevelEnv = identity.LogLevelEnv

// logger is the process's one logger, shared with the core: its handler is
// swapped by SetLogger.
var logger = identity.Logger()

// Logger returns the plugin's logger.
func Logger() *slog.Logger { return identity.Logger() }

// SetLogger replaces the plugin's logger (tests capture log lines with it).
func SetLogger(l *slog.Logger) { identity.SetLogger(l) }
