// Package rails runs the real legacy-auth binary (as the plugin server of
// two Kong nodes, through internal/kongsim) against the real Rails demo app of
// examples/rails (started by run-demo, booted once for the package) and a
// real redis-server: bearer tokens, a session cookie from a real login, a
// disabled account, an unknown credential, and a logout at Rails that every
// node honours within a second instead of at cache_ttl.
//
// Without Ruby, Rails and sqlite3 the package is skipped, except when CI is
// "true": there it fails (.ci/run installs ruby-rails ruby-sqlite3
// ruby-redis).
package rails

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/legacy-auth/legacy-auth/internal/gateway"
	"github.com/legacy-auth/legacy-auth/internal/kongsim"
	"github.com/legacy-auth/legacy-auth/test/redistest"
	"github.com/legacy-auth/legacy-auth/test/testutil"
)

var (
	root   string // the module root
	bin    string // the legacy-auth binary
	schema map[string]any
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "rails")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if err := setup(dir); err != nil {
		fmt.Fprintln(os.Stderr, "setup:", err)
		return 1
	}
	return m.Run()
}

// setup builds the plugin binary and reads its schema, as Kong would.
func setup(dir string) error {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return fmt.Errorf("go env GOMOD: %w", err)
	}
	root = filepath.Dir(strings.TrimSpace(string(out)))
	bin = filepath.Join(dir, "legacy-auth") // go-pdk names the plugin after the executable
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/legacy-auth")
	build.Dir = root
	if b, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %v\n%s", err, b)
	}
	d, err := kongsim.QueryDump(ctx, bin)
	if err != nil {
		return err
	}
	p, err := d.Plugin("legacy-auth")
	if err != nil {
		return err
	}
	schema = p.Schema
	return nil
}

// TestRailsEndToEnd boots Redis, the Rails demo and two Kong nodes once and
// runs every case against them.
func TestRailsEndToEnd(t *testing.T) {
	requireRails(t)
	rds := redistest.Start(t)
	app := startDemo(t, "redis://"+rds.Addr()+"/0")
	a, b := startNode(t), startNode(t)
	nodes := map[string]*node{"A": a, "B": b}

	conf := func(method string) map[string]any {
		return map[string]any{
			"auth_url":      app.url + "/internal/auth/verify",
			"auth_method":   method,
			"cache_ttl":     300, // a revocation must not wait for it
			"cookie_names":  []any{"_legacy_session"},
			"extra_headers": map[string]any{"email": "X-User-Email"},
			"redis_addrs":   []any{rds.Addr()},
		}
	}

	t.Run("bearer tokens and the contract rows", func(t *testing.T) {
		for _, method := range []string{"POST", "GET"} {
			for _, tc := range []struct {
				auth, user, roles, email string
				status                   int
			}{
				{"Bearer tok-alice", "42", "admin,editor", "alice@example.com", 200},
				{"Bearer tok-bob", "7", "", "bob@example.com", 200},
				{"Bearer tok-big", "9007199254740993", "viewer", "big@example.com", 200}, // every digit, past 2^53
				{"Bearer tok-mallory", "", "", "", 403},
				{"Bearer tok-unknown", "", "", "", 401},
				{"", "", "", "", 401},
			} {
				got := a.call(t, conf(method), tc.auth, "")
				want := answer{status: tc.status, user: tc.user, roles: tc.roles, email: tc.email}
				if got != want {
					t.Errorf("%s %q: got %+v, want %+v", method, tc.auth, got, want)
				}
			}
		}
	})

	t.Run("session cookie from a real login", func(t *testing.T) {
		cookie := app.login(t, "alice", "alice-pw")
		// The client's other cookies stay behind: only _legacy_session reaches Rails.
		got := a.call(t, conf("POST"), "", "theme=dark; "+cookie+"; tracking=1")
		if want := (answer{status: 200, user: "42", roles: "admin,editor", email: "alice@example.com"}); got != want {
			t.Errorf("got %+v, want %+v", got, want)
		}
	})

	t.Run("token logout reaches every node within a second", func(t *testing.T) {
		token := app.issueToken(t, "bob", "bob-pw")
		auth := "Bearer " + token
		warm(t, nodes, conf("POST"), auth, "", app)

		start := time.Now()
		app.logout(t, auth, "")
		for name, n := range nodes {
			testutil.WaitFor(t, time.Second-time.Since(start), "node "+name+" to answer 401 for the revoked token", func() bool {
				return n.call(t, conf("POST"), auth, "").status == 401
			})
		}
		t.Logf("token revoked at every node %v after the logout answered", time.Since(start).Round(time.Millisecond))
		// The seeded token of the same user still passes: it is verified again.
		if got := a.call(t, conf("POST"), "Bearer tok-bob", ""); got.status != 200 || got.user != "7" {
			t.Errorf("tok-bob after revoking another token of bob: %+v", got)
		}
	})

	t.Run("session logout reaches every node within a second, replayed cookie 401", func(t *testing.T) {
		cookie := app.login(t, "alice", "alice-pw")
		warm(t, nodes, conf("POST"), "", cookie, app)

		start := time.Now()
		app.logout(t, "", cookie)
		for name, n := range nodes {
			testutil.WaitFor(t, time.Second-time.Since(start), "node "+name+" to answer 401 for the ended session", func() bool {
				return n.call(t, conf("POST"), "", cookie).status == 401
			})
		}
		t.Logf("session ended at every node %v after the logout answered", time.Since(start).Round(time.Millisecond))
		if st := app.verifyStatus(t, "", cookie); st != http.StatusUnauthorized {
			t.Errorf("the replayed cookie at Rails itself: %d, want 401", st)
		}
	})

	t.Run("no credential in any log", func(t *testing.T) {
		logs := app.out.String() + a.out.String() + b.out.String()
		for _, secret := range []string{"tok-alice", "tok-bob", "tok-big", "tok-mallory", "alice-pw", "_legacy_session="} {
			if strings.Contains(logs, secret) {
				t.Errorf("%q appears in the Rails or plugin output", secret)
			}
		}
	})
}

// warm makes both nodes cache the identity, and checks the second request
// on a node is a cache hit (no verify call at Rails): the 401 after the
// logout must then come from the revocation, not from an expiry.
func warm(t *testing.T, nodes map[string]*node, conf map[string]any, auth, cookie string, app *demo) {
	t.Helper()
	for name, n := range nodes {
		if got := n.call(t, conf, auth, cookie); got.status != 200 {
			t.Fatalf("node %s before the logout: %+v", name, got)
		}
	}
	before := app.verifyCalls(t)
	for name, n := range nodes {
		if got := n.call(t, conf, auth, cookie); got.status != 200 {
			t.Fatalf("node %s before the logout: %+v", name, got)
		}
	}
	if after := app.verifyCalls(t); after != before {
		t.Fatalf("cached identities still called Rails (%d verify calls)", after-before)
	}
}

// requireRails skips (fails in CI) when run-demo cannot run here.
func requireRails(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := exec.CommandContext(ctx, filepath.Join(root, "examples", "rails", "run-demo"), "--check").Run()
	if err == nil {
		return
	}
	msg := "Ruby with Rails 6.1 and sqlite3 is not installed (apt-get install ruby-rails ruby-sqlite3 ruby-redis): " + err.Error()
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip("skipping: " + msg)
}

// ---------------------------------------------------------------------------
// The Rails demo app

type demo struct {
	url    string
	out    *testutil.SyncBuffer
	client *http.Client
}

// startDemo runs examples/rails/run-demo on a free loopback port the way
// `make run` does (gateway.StartDemo with Rails set), which waits until it
// answers /health. Its Close stops it with SIGTERM (what Ctrl-C does) and
// logs a warning when it had to kill it instead.
func startDemo(t *testing.T, redisURL string) *demo {
	t.Helper()
	out := &testutil.SyncBuffer{}   // Rails' own output, scanned for credentials
	gwLog := &testutil.SyncBuffer{} // the gateway's lines (they list the demo's tokens on purpose)
	log := slog.New(slog.NewTextHandler(gwLog, nil))
	g, err := gateway.StartDemo(gateway.DemoOptions{
		AuthAddr:    "127.0.0.1:0",
		Rails:       filepath.Join(root, "examples", "rails", "run-demo"),
		RailsEnv:    []string{"REDIS_URL=" + redisURL, "RAILS_ENV=production", "DEMO_LOG_LEVEL=info"},
		RailsOutput: out,
	}, log)
	if err != nil {
		t.Fatalf("%v\n%s%s", err, gwLog.String(), out.String())
	}
	t.Cleanup(func() {
		g.Close()
		if strings.Contains(gwLog.String(), "was killed") {
			t.Errorf("run-demo did not stop on SIGTERM")
		}
		if t.Failed() {
			t.Logf("Rails demo output:\n%s%s", gwLog.String(), out.String())
		}
	})
	return &demo{
		url: g.AuthURL(),
		out: out,
		client: &http.Client{Timeout: 10 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
	}
}

func (d *demo) post(t *testing.T, path string, form url.Values, header http.Header) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, d.url+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = header.Clone()
	if req.Header == nil {
		req.Header = http.Header{}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := d.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// login posts the login form and returns the session cookie as
// "_legacy_session=<value>".
func (d *demo) login(t *testing.T, user, password string) string {
	t.Helper()
	resp := d.post(t, "/login", url.Values{"username": {user}, "password": {password}}, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("login %s: %s", user, resp.Status)
	}
	for _, c := range resp.Cookies() {
		if c.Name == "_legacy_session" {
			return c.Name + "=" + c.Value
		}
	}
	t.Fatalf("login %s set no _legacy_session cookie", user)
	return ""
}

// issueToken asks the demo for a new API token of user.
func (d *demo) issueToken(t *testing.T, user, password string) string {
	t.Helper()
	resp := d.post(t, "/tokens", url.Values{"username": {user}, "password": {password}}, nil)
	var body struct{ Token string }
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != http.StatusCreated || body.Token == "" {
		t.Fatalf("POST /tokens: %s %v", resp.Status, err)
	}
	return body.Token
}

// logout posts /logout with the bearer token or the session cookie.
func (d *demo) logout(t *testing.T, auth, cookie string) {
	t.Helper()
	h := http.Header{}
	if auth != "" {
		h.Set("Authorization", auth)
	}
	if cookie != "" {
		h.Set("Cookie", cookie)
	}
	if resp := d.post(t, "/logout", nil, h); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("logout: %s", resp.Status)
	}
}

// verifyStatus calls the verify endpoint directly, as the plugin would.
func (d *demo) verifyStatus(t *testing.T, auth, cookie string) int {
	t.Helper()
	h := http.Header{}
	if auth != "" {
		h.Set("Authorization", auth)
	}
	if cookie != "" {
		h.Set("Cookie", cookie)
	}
	return d.post(t, "/internal/auth/verify", nil, h).StatusCode
}

// verifyCalls is how many verify calls the demo has served.
func (d *demo) verifyCalls(t *testing.T) int {
	t.Helper()
	resp, err := d.client.Get(d.url + "/__calls")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct{ Calls int }
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	return body.Calls
}

// ---------------------------------------------------------------------------
// Kong nodes

// node is one Kong node: its own legacy-auth plugin server.
type node struct {
	sim *kongsim.Server
	out *testutil.SyncBuffer
}

func startNode(t *testing.T) *node {
	t.Helper()
	prefix, err := os.MkdirTemp("", "node") // short: unix socket paths are limited
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(prefix) })
	out := &testutil.SyncBuffer{}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sim, err := kongsim.StartServer(ctx, bin, kongsim.ServerOptions{Prefix: prefix, Output: out})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sim.Close()
		if t.Failed() {
			t.Logf("plugin output:\n%s", out.String())
		}
	})
	return &node{sim: sim, out: out}
}

// answer is what a client request came to: the status (200 when
// proxied) and the identity headers the upstream received.
type answer struct {
	status             int
	user, roles, email string
}

// call runs one client request through the node's access phase.
func (n *node) call(t *testing.T, conf map[string]any, auth, cookie string) answer {
	t.Helper()
	processed, err := kongsim.ProcessConfig(schema, conf)
	if err != nil {
		t.Fatal(err)
	}
	req := &kongsim.Request{Method: "GET", Path: "/orders"}
	if auth != "" {
		req.Headers = append(req.Headers, kongsim.Header{Name: "Authorization", Value: auth})
	}
	if cookie != "" {
		req.Headers = append(req.Headers, kongsim.Header{Name: "Cookie", Value: cookie})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := n.sim.Access(ctx, kongsim.PluginRef{ID: "rails-e2e", Name: "legacy-auth"}, processed, req)
	if err != nil {
		t.Fatal(err)
	}
	if res.Exit != nil {
		return answer{status: res.Exit.Status}
	}
	a := answer{status: 200}
	for _, h := range res.Upstream {
		switch strings.ToLower(h.Name) {
		case "x-user-id":
			a.user = h.Value
		case "x-user-roles":
			a.roles = h.Value
		case "x-user-email":
			a.email = h.Value
		}
	}
	return a
}
