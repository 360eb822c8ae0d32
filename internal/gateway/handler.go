package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/legacy-auth/legacy-auth/internal/kongsim"
)

// ServeHTTP is Kong's request path in miniature: route, run legacy-auth's
// access phase, then either answer with the plugin's exit or proxy.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == HealthPath && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}`))
		return
	}
	start := time.Now()
	sw := &statusWriter{ResponseWriter: w}
	outcome := g.serve(sw, r)
	g.log.Info("request", "method", r.Method, "path", r.URL.Path, "status", sw.status,
		"outcome", outcome, "duration", time.Since(start).Round(time.Microsecond))
}

// serve handles one request and says how, for the access log.
func (g *Gateway) serve(w http.ResponseWriter, r *http.Request) string {
	path := normalizePath(r.URL.Path)
	m := g.deck.Match(r.Method, path)
	if m == nil {
		kongError(w, http.StatusNotFound, msgNoRoute)
		return "no route"
	}
	route := m.Route
	outcome := "route " + routeLabel(route)

	var upstream []kongsim.Header
	if ap := g.auth[route]; ap != nil {
		res, err := g.sim.Access(r.Context(), ap.ref, ap.config, kongRequest(r))
		if err != nil {
			if r.Context().Err() != nil {
				return outcome + ", client gone during legacy-auth"
			}
			g.log.Error("legacy-auth access event failed", "route", routeLabel(route), "plugin", ap.entry.Where, "err", err)
			kongError(w, http.StatusInternalServerError, msgUnexpected)
			return outcome + ", legacy-auth error"
		}
		g.logPlugin(res)
		if res.KongError != "" {
			g.log.Error("legacy-auth: Kong would answer 500", "route", routeLabel(route), "err", res.KongError)
		}
		if res.Exit != nil {
			writeExit(w, res.Exit)
			return outcome + ", legacy-auth exit"
		}
		upstream = res.Upstream
		if upstream == nil {
			upstream = []kongsim.Header{} // the plugin cleared everything: send nothing
		}
		outcome += ", legacy-auth passed"
	}
	if t := g.term[route]; t != nil {
		t.write(w)
		return outcome + ", request-termination"
	}
	if route.Service == nil {
		kongError(w, http.StatusServiceUnavailable, msgNoService)
		return outcome + ", no service"
	}
	f := &forward{
		service: route.Service,
		path:    upstreamPath(route.Service.Path, route.StripPath, path, m.Prefix),
		headers: upstream,
	}
	if route.StripPath {
		f.prefix = m.Prefix
	}
	g.proxy.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), forwardKey{}, f)))
	return outcome + ", proxied to " + f.service.hostPort() + f.path
}

// logPlugin relays the plugin's kong.log.* calls into the gateway log.
func (g *Gateway) logPlugin(res *kongsim.Result) {
	for _, e := range res.Logs {
		msg := e.Message
		if msg == "" {
			var b strings.Builder
			for _, a := range e.Args {
				fmt.Fprint(&b, a) // kong.log concatenates its arguments
			}
			msg = b.String()
		}
		g.log.Log(context.Background(), kongLevel(e.Level), "legacy-auth: "+msg)
	}
}

// kongLevel maps nginx log levels to slog levels.
func kongLevel(l string) slog.Level {
	switch l {
	case "debug":
		return slog.LevelDebug
	case "info", "notice":
		return slog.LevelInfo
	case "warn":
		return slog.LevelWarn
	default: // err, crit, alert, emerg
		return slog.LevelError
	}
}

func routeLabel(r *Route) string {
	if r.Name != "" {
		return r.Name
	}
	return r.Where
}

// statusWriter records the status for the access log. Unwrap lets
// http.ResponseController (used by ReverseProxy) reach Flush and Hijack.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 && code >= 200 { // 1xx are informational, not the status
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }
