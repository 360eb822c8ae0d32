package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/legacy-auth/legacy-auth/internal/echo"
	"github.com/legacy-auth/legacy-auth/internal/fakerails"
)

// Demo tokens: the users of the Rails demo app (examples/rails/run-demo),
// which the Go stand-in answers the same way. Anything else gets 401.
const (
	// DemoTokenAlice verifies as user_id 42 (a JSON number), roles admin, editor.
	DemoTokenAlice = "Bearer tok-alice"
	// DemoTokenBob verifies as user_id 7, no roles.
	DemoTokenBob = "Bearer tok-bob"
	// DemoTokenBig verifies as user_id 9007199254740993 (beyond 2^53),
	// role viewer.
	DemoTokenBig = "Bearer tok-big"
	// DemoTokenMallory is a disabled account: 403.
	DemoTokenMallory = "Bearer tok-mallory"
)

// DemoCallsPath, on the demo auth address, reports how many verify calls
// the auth service received: the way to watch the plugin's cache work.
const DemoCallsPath = "/__calls"

// DemoOptions are the loopback addresses of the demo backends.
type DemoOptions struct {
	AuthAddr  string   // the auth service, e.g. 127.0.0.1:3000 (port 0: any free port)
	EchoAddrs []string // echo upstreams, e.g. 127.0.0.1:8081
	// Rails, when set, is examples/rails/run-demo: the auth service is then
	// the real Rails demo app on AuthAddr instead of the Go stand-in.
	Rails string
	// RailsEnv are extra environment variables for Rails (REDIS_URL=...).
	RailsEnv []string
	// RailsOutput receives Rails' output. Default: os.Stderr.
	RailsOutput io.Writer
	// IdPAddr, when set, runs the demo identity provider there (the
	// issuer of examples/demo/kong.yml's jwt_issuers); IdPNode is the
	// folder of the oidc-provider app (test/oidc), used when Node and its
	// node_modules are there (else the Go stand-in).
	IdPAddr string
	IdPNode string
}

// Demo runs the backends of the demo config: the auth service (the Go
// stand-in in-process, or the Rails demo app as a child process) and echo
// upstreams.
type Demo struct {
	// Auth is the Go stand-in's logic (its call log and tokens); nil when
	// the Rails demo app serves.
	Auth     *fakerails.Handler
	authAddr string
	auth     *http.Server
	rails    *railsDemo
	idp      *idpDemo
	done     chan struct{}
	echoes   []*echo.Server
	once     sync.Once
	log      *slog.Logger
}

// StartDemo starts the demo backends. On error nothing is left running.
func StartDemo(opts DemoOptions, log *slog.Logger) (*Demo, error) {
	if log == nil {
		log = slog.Default()
	}
	d := &Demo{done: make(chan struct{}), log: log}
	// The echoes first: they start at once, Rails takes seconds.
	if err := d.startEchoes(opts.EchoAddrs); err != nil {
		return nil, err
	}
	if opts.IdPAddr != "" {
		idp, err := startIdP(opts.IdPAddr, opts.IdPNode, opts.RailsOutput)
		if err != nil {
			d.Close()
			return nil, err
		}
		d.idp = idp
		logIdP(log, idp)
	}
	if opts.Rails != "" {
		r, addr, err := startRails(opts.Rails, opts.AuthAddr, opts.RailsEnv, opts.RailsOutput, log)
		if err != nil {
			d.Close()
			return nil, err
		}
		d.rails, d.authAddr = r, addr
		log.Info("Rails demo app listening", "verify_url", d.VerifyURL(),
			"tokens", []string{DemoTokenAlice, DemoTokenBob, DemoTokenBig, DemoTokenMallory},
			"login", "POST http://"+addr+"/login username=alice password=alice-pw")
		return d, nil
	}

	h := fakerails.NewHandler()
	h.Set(DemoTokenAlice, fakerails.OK(json.Number("42"), "admin", "editor"))
	h.Set(DemoTokenBob, fakerails.OK(json.Number("7")))
	h.Set(DemoTokenBig, fakerails.OK(json.Number("9007199254740993"), "viewer"))
	h.Set(DemoTokenMallory, fakerails.Deny(http.StatusForbidden))
	d.Auth = h
	ln, err := net.Listen("tcp", opts.AuthAddr)
	if err != nil {
		d.Close()
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
	log.Info("demo auth service (Go stand-in) listening", "verify_url", "http://"+ln.Addr().String()+fakerails.VerifyPath,
		"tokens", []string{DemoTokenAlice, DemoTokenBob, DemoTokenBig, DemoTokenMallory})
	return d, nil
}

// startEchoes starts the echo upstreams; on error it closes those started.
func (d *Demo) startEchoes(addrs []string) error {
	for _, addr := range addrs {
		e, err := echo.Start(addr)
		if err != nil {
			d.Close()
			return fmt.Errorf("demo echo upstream: %w", err)
		}
		d.echoes = append(d.echoes, e)
		d.log.Info("demo echo upstream listening", "url", e.URL())
	}
	return nil
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

// RailsExited is closed when the Rails demo app exits (nil with the Go
// stand-in): the gateway stops rather than keep sending users' credentials
// to a port its child no longer serves.
func (d *Demo) RailsExited() <-chan struct{} {
	if d.rails == nil {
		return nil
	}
	return d.rails.exited
}

// Issuer is the demo identity provider's issuer ("" without one).
func (d *Demo) Issuer() string {
	if d.idp == nil {
		return ""
	}
	return d.idp.issuer
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
		if d.idp != nil {
			d.idp.stop()
		}
		if d.rails != nil && d.rails.stop() {
			d.log.Warn("the Rails demo app did not stop on SIGTERM and was killed")
		}
		if d.auth != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			if err := d.auth.Shutdown(ctx); err != nil {
				_ = d.auth.Close()
			}
			<-d.done
		}
		for _, e := range d.echoes {
			e.Close()
		}
	})
}
