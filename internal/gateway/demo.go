package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/legacy-auth/legacy-auth/internal/echo"
	"github.com/legacy-auth/legacy-auth/internal/fakerails"
)

// Demo tokens served by the demo auth service. Anything else gets 401.
const (
	// DemoTokenAlice verifies as user_id 42 (a JSON number), roles admin, editor.
	DemoTokenAlice = "Bearer demo-alice"
	// DemoTokenBob verifies as user_id "u-1001" (a JSON string), no roles.
	DemoTokenBob = "Bearer demo-bob"
	// DemoTokenBanned is answered 403, the other "bad credential" status.
	DemoTokenBanned = "Bearer demo-banned"
)

// DemoCallsPath, on the demo auth address, reports how many verify calls
// the auth service received: the way to watch the plugin's cache work.
const DemoCallsPath = "/__calls"

// DemoOptions are the loopback addresses of the demo backends.
type DemoOptions struct {
	AuthAddr  string   // fake Rails auth, e.g. 127.0.0.1:3000
	EchoAddrs []string // echo upstreams, e.g. 127.0.0.1:8081
}

// Demo runs the backends of the demo config in-process: the fake Rails
// verify endpoint and echo upstreams.
type Demo struct {
	// Auth is the fake auth service's logic: its call log and tokens.
	Auth     *fakerails.Handler
	authAddr string
	auth     *http.Server
	done     chan struct{}
	echoes   []*echo.Server
	once     sync.Once
}

// StartDemo starts the demo backends. On error nothing is left running.
func StartDemo(opts DemoOptions, log *slog.Logger) (*Demo, error) {
	if log == nil {
		log = slog.Default()
	}
	h := fakerails.NewHandler()
	h.Set(DemoTokenAlice, fakerails.OK(json.Number("42"), "admin", "editor"))
	h.Set(DemoTokenBob, fakerails.OK("u-1001"))
	h.Set(DemoTokenBanned, fakerails.Deny(http.StatusForbidden))

	d := &Demo{Auth: h, done: make(chan struct{})}
	ln, err := net.Listen("tcp", opts.AuthAddr)
	if err != nil {
		return nil, fmt.Errorf("demo auth service on %s: %w", opts.AuthAddr, err)
	}
	d.authAddr = ln.Addr().String()
	d.auth = &http.Server{Handler: demoAuthHandler(h, log), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		defer close(d.done)
		if err := d.auth.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("demo auth service stopped", "err", err)
		}
	}()
	log.Info("demo auth service listening", "verify_url", "http://"+ln.Addr().String()+fakerails.VerifyPath,
		"tokens", []string{DemoTokenAlice, DemoTokenBob, DemoTokenBanned})

	for _, addr := range opts.EchoAddrs {
		e, err := echo.Start(addr)
		if err != nil {
			d.Close()
			return nil, fmt.Errorf("demo echo upstream: %w", err)
		}
		d.echoes = append(d.echoes, e)
		log.Info("demo echo upstream listening", "url", e.URL())
	}
	return d, nil
}

// demoAuthHandler logs every verify call (so a cache hit is visible as a
// missing line) and serves the call counter.
func demoAuthHandler(h *fakerails.Handler, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == DemoCallsPath {
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]int{"calls": h.Calls()})
			return
		}
		sw := &statusWriter{ResponseWriter: w}
		h.ServeHTTP(sw, r)
		// The credential's scheme only: a demo teaches habits, and logs
		// outlive demos.
		log.Info("demo auth: verify call", "n", h.Calls(), "method", r.Method,
			"credential", credentialKind(r), "status", sw.status)
	})
}

// credentialKind names what the request authenticated with, never its value.
func credentialKind(r *http.Request) string {
	a := r.Header.Get("Authorization")
	if a == "" {
		if r.Header.Get("Cookie") != "" {
			return "cookie"
		}
		return "none"
	}
	scheme, _, _ := strings.Cut(a, " ")
	if len(scheme) > 16 {
		return "other"
	}
	return scheme
}

// AuthURL is the demo auth service's base URL.
func (d *Demo) AuthURL() string { return "http://" + d.authAddr }

// VerifyURL is the demo auth service's verify endpoint (the auth_url).
func (d *Demo) VerifyURL() string { return d.AuthURL() + fakerails.VerifyPath }

// EchoURLs are the base URLs of the echo upstreams, in DemoOptions order.
func (d *Demo) EchoURLs() []string {
	out := make([]string, len(d.echoes))
	for i, e := range d.echoes {
		out[i] = e.URL()
	}
	return out
}

// Close stops the demo backends. It is safe to call more than once.
func (d *Demo) Close() {
	d.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := d.auth.Shutdown(ctx); err != nil {
			_ = d.auth.Close()
		}
		<-d.done
		for _, e := range d.echoes {
			e.Close()
		}
	})
}
