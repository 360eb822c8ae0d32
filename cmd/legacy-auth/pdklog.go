package main

import (
	"bytes"
	"context"
	"log"
	"log/slog"
	"strings"
)

// pdkLog routes go-pdk's standard-library log lines into slog. go-pdk logs
// one line whenever a connection ends: after every kong.response.exit
// (go-pdk closes the connection, then fails writing the event's end frame:
// "use of closed network connection") and whenever Kong drops a pooled
// connection ("EOF"). Those are the normal course of events, so they go to
// debug; a rejected-token flood must not become an error-log flood.
type pdkLog struct{ l *slog.Logger }

func (p pdkLog) Write(b []byte) (int, error) {
	msg := string(bytes.TrimSpace(b))
	level := slog.LevelInfo
	if isConnectionEnd(msg) {
		level = slog.LevelDebug
	}
	p.l.Log(context.Background(), level, msg, "source", "go-pdk")
	return len(b), nil
}

func isConnectionEnd(msg string) bool {
	return msg == "EOF" ||
		strings.HasSuffix(msg, "use of closed network connection") ||
		strings.HasSuffix(msg, "broken pipe") ||
		strings.HasSuffix(msg, "connection reset by peer")
}

// routePDKLog sends the standard logger (used by go-pdk) through l.
func routePDKLog(l *slog.Logger) {
	log.SetFlags(0)
	log.SetOutput(pdkLog{l: l})
}
