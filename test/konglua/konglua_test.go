package konglua

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/legacy-auth/legacy-auth/internal/fakerails"
	"github.com/legacy-auth/legacy-auth/test/testutil"
)

// The tier: the real legacy-auth binary behind Kong's own Lua (plugin-server
// RPC, PDK, schema, Kong.access) in a real nginx, through kong-lua. Every
// request goes over TCP to nginx; the built-in echo upstream reports the
// header lines exactly as nginx proxied them, which is what a Rack or PHP
// service would read.

var (
	tool string // the kong-lua folder
	bin  string // the built legacy-auth
	tmp  string // short folder for run dirs (unix socket paths ≤ 107 bytes)
)

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	var err error
	tool, err = Find()
	if err != nil {
		// A clone without ../shared: the tests skip (fail in CI) with err.
		tool = ""
		absentErr = err
		return m.Run()
	}
	if tmp, err = os.MkdirTemp("", "kl"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	bin = filepath.Join(tmp, "legacy-auth") // go-pdk names the plugin after the executable
	root, _ := moduleRoot()
	build := exec.Command("go", "build", "-o", bin, "./cmd/legacy-auth")
	build.Dir, build.Env = root, append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building legacy-auth: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

var absentErr error

// need skips the test when kong-lua is absent (a user's clone), and fails
// it when CI=true: CI must run this tier.
func need(t *testing.T) {
	t.Helper()
	if tool != "" {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true but the Kong-Lua tier cannot run: %v", absentErr)
	}
	t.Skipf("Kong-Lua tier skipped: %v", absentErr)
}

// start runs kong-lua with routes in a new short run folder and stops it
// when the test ends.
func start(t *testing.T, name string, routes []Route, opt ...Options) *Instance {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var o Options
	if len(opt) > 0 {
		o = opt[0]
	}
	// A folder of its own per call: parallel tests never share one, even
	// with the same name (-count=N, or two tests picking one letter).
	run, err := os.MkdirTemp(tmp, name)
	if err != nil {
		t.Fatal(err)
	}
	in, err := Start(ctx, tool, bin, run, routes, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := in.Stop(); err != nil {
			t.Error(err)
		}
		if t.Failed() {
			t.Logf("plugin log:\n%s\nnginx error log:\n%s", tail(in.PluginLog()), tail(in.ErrorLog()))
		}
	})
	return in
}

func tail(s string) string {
	if len(s) > 4000 {
		return "..." + s[len(s)-4000:]
	}
	return s
}

// answer is what the client got; for a proxied request, Lines are the
// header lines the echo upstream received, in order, as sent.
type answer struct {
	Status int
	Header http.Header
	Body   string
	Lines  [][2]string
}

// send writes one HTTP/1.1 request with exactly these header lines (order,
// case, duplicates and underscores kept: Go's client would canonicalise
// and sort them) and reads the answer.
func send(t *testing.T, in *Instance, path string, lines ...string) answer {
	t.Helper()
	if len(lines)%2 != 0 {
		t.Fatal("send: header lines come in name, value pairs")
	}
	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(in.URL, "http://"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	w := bufio.NewWriter(conn)
	fmt.Fprintf(w, "GET %s HTTP/1.1\r\nHost: kong.test\r\nConnection: close\r\n", path)
	for i := 0; i < len(lines); i += 2 {
		fmt.Fprintf(w, "%s: %s\r\n", lines[i], lines[i+1])
	}
	w.WriteString("\r\n")
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	a := answer{Status: res.StatusCode, Header: res.Header, Body: string(body)}
	if res.StatusCode == 200 && res.Header.Get("Content-Type") == "application/json" {
		var echo struct {
			Headers [][2]string `json:"headers"`
		}
		if err := json.Unmarshal(body, &echo); err == nil {
			a.Lines = echo.Headers
		}
	}
	return a
}

// message is the "message" of a JSON answer ("" if none).
func (a answer) message() string {
	var m struct{ Message string }
	json.Unmarshal([]byte(a.Body), &m)
	return m.Message
}

// fold is a header name as nginx's $http_* and Rack see it.
func fold(name string) string { return strings.ReplaceAll(strings.ToLower(name), "_", "-") }

// identity returns the values of every upstream line whose name folds to
// one of names, keyed by the folded name.
func (a answer) identity(names ...string) map[string][]string {
	out := map[string][]string{}
	for _, l := range a.Lines {
		for _, n := range names {
			if fold(l[0]) == fold(n) {
				out[fold(n)] = append(out[fold(n)], l[1])
			}
		}
	}
	return out
}

// TestBehaviour drives the README's behaviour table through Kong's Lua.
func TestBehaviour(t *testing.T) {
	need(t)
	t.Parallel()
	rails := fakerails.New()
	t.Cleanup(rails.Close)
	dead := "http://" + testutil.FreeAddr(t) + fakerails.VerifyPath // nothing listens: connection refused
	// The breaker is off: this table fails the same auth service on purpose
	// (TestBreaker has it on).
	in := start(t, "b", []Route{
		{Paths: []string{"/api"}, Upstream: "echo", Config: map[string]any{"auth_url": rails.VerifyURL(), "breaker_threshold": 0}},
		{Paths: []string{"/get"}, Upstream: "echo", Config: map[string]any{"auth_url": rails.VerifyURL(), "auth_method": "GET", "breaker_threshold": 0}},
		{Paths: []string{"/down"}, Upstream: "echo", Config: map[string]any{"auth_url": dead, "retries": 0, "breaker_threshold": 0}},
		{Paths: []string{"/cookie"}, Upstream: "echo", Config: map[string]any{"auth_url": rails.VerifyURL(), "cookie_names": []any{"_s"}, "breaker_threshold": 0}},
	})
	tok := func(name string) string { return "Bearer kl-" + name }
	rails.Set(tok("alice"), fakerails.OK(json.Number("9007199254740993"), "admin", "editor"))
	rails.Set(tok("cached"), fakerails.OK("u-c", "viewer"))
	rails.Set(tok("getter"), fakerails.OK("u-g"))
	rails.Set(tok("forbidden"), fakerails.Deny(403))
	rails.Set(tok("redirect"), fakerails.Response{Status: 302, Body: "{}"})
	rails.Set(tok("crash"), fakerails.Deny(500))
	rails.Set(tok("garbled"), fakerails.Response{Status: 200, Malformed: true})
	rails.Set(tok("noid"), fakerails.Response{Status: 200, Body: `{"roles":["x"]}`})
	rails.Set(tok("crlf"), fakerails.Response{Status: 200, Body: `{"user_id":"1\r\nX-Admin: 1"}`})
	rails.Set("Bearer kl-cookie", fakerails.OK("u-k"))

	// Prime the cache for the "cached" row.
	if a := send(t, in, "/api/x", "Authorization", tok("cached")); a.Status != 200 {
		t.Fatalf("priming: %d %s", a.Status, a.Body)
	}
	big := strings.Repeat("v", 5000)

	rows := []struct {
		name      string
		path      string
		lines     []string
		status    int
		message   string
		id, roles string // for 200: the identity lines the upstream must get ("" roles: none)
		calls     int    // Rails calls the request may make
		check     func(t *testing.T, a answer, reqs []fakerails.Recorded)
	}{
		{name: "no Authorization", path: "/api/x", status: 401, message: "Authorization header is missing"},
		{name: "empty Authorization", path: "/api/x", lines: []string{"Authorization", " "}, status: 401, message: "Authorization header is missing"},
		{name: "not cached: Rails asked, identity set", path: "/api/x", lines: []string{"Authorization", tok("alice")},
			status: 200, id: "9007199254740993", roles: "admin,editor", calls: 1,
			check: func(t *testing.T, a answer, reqs []fakerails.Recorded) {
				r := reqs[0]
				if r.Method != "POST" || r.Authorization != tok("alice") || r.ContentType != "application/json" || r.Cookie != "" {
					t.Errorf("Rails got %s Authorization %q Content-Type %q Cookie %q", r.Method, r.Authorization, r.ContentType, r.Cookie)
				}
				if got := a.identity("Authorization")["authorization"]; len(got) != 1 || got[0] != tok("alice") {
					t.Errorf("upstream Authorization = %v, want the client's, unchanged", got)
				}
			}},
		{name: "cached and fresh: Rails not asked", path: "/api/x", lines: []string{"Authorization", tok("cached")},
			status: 200, id: "u-c", roles: "viewer"},
		{name: "auth_method GET", path: "/get/x", lines: []string{"Authorization", tok("getter")}, status: 200, id: "u-g", calls: 1,
			check: func(t *testing.T, _ answer, reqs []fakerails.Recorded) {
				if reqs[0].Method != "GET" {
					t.Errorf("Rails got %s, want GET", reqs[0].Method)
				}
			}},
		{name: "Rails 401", path: "/api/x", lines: []string{"Authorization", tok("nobody")}, status: 401, message: "Invalid credentials", calls: 1},
		{name: "Rails 401 remembered", path: "/api/x", lines: []string{"Authorization", tok("nobody")}, status: 401, message: "Invalid credentials"},
		{name: "Rails 403", path: "/api/x", lines: []string{"Authorization", tok("forbidden")}, status: 403, message: "Invalid credentials", calls: 1},
		{name: "Rails 302 not followed", path: "/api/x", lines: []string{"Authorization", tok("redirect")}, status: 502, message: "Bad response from authentication service", calls: 1},
		{name: "Rails 500", path: "/api/x", lines: []string{"Authorization", tok("crash")}, status: 502, message: "Bad response from authentication service", calls: 1}, // a 500 is not retried
		{name: "Rails 200 not JSON", path: "/api/x", lines: []string{"Authorization", tok("garbled")}, status: 500, message: "Invalid response from authentication service", calls: 1},
		{name: "Rails 200 without user_id", path: "/api/x", lines: []string{"Authorization", tok("noid")}, status: 500, message: "Invalid response from authentication service", calls: 1},
		{name: "Rails 200 with CR LF in the id", path: "/api/x", lines: []string{"Authorization", tok("crlf")}, status: 500, message: "Invalid response from authentication service", calls: 1},
		{name: "Rails does not answer", path: "/down/x", lines: []string{"Authorization", tok("alice")}, status: 503, message: "Authentication service unavailable"},
		{name: "two Authorization lines: nginx refuses before Kong", path: "/api/x", lines: []string{"Authorization", tok("alice"), "Authorization", tok("alice")},
			status: 400, check: func(t *testing.T, a answer, _ []fakerails.Recorded) {
				if a.message() != "" || strings.Contains(a.Header.Get("Content-Type"), "json") {
					t.Errorf("400 came from Kong or the plugin (%s %s), want nginx's own page", a.Header.Get("Content-Type"), a.Body)
				}
			}},
		{name: "Authorization line over 8 KiB: nginx refuses before Kong", path: "/api/x", lines: []string{"Authorization", "Bearer " + strings.Repeat("a", 9<<10)},
			status: 400, check: func(t *testing.T, a answer, _ []fakerails.Recorded) {
				if a.message() != "" {
					t.Errorf("400 came from the plugin (%s), want nginx's own page", a.Body)
				}
			}},
		{name: "credential over 8 KiB (two session-cookie lines)", path: "/cookie/x", lines: []string{"Cookie", "_s=" + big, "Cookie", "_s=" + big},
			status: 401, message: "Authorization header is too large"},
		{name: "session cookie", path: "/cookie/x", lines: []string{"Authorization", "Bearer kl-cookie", "Cookie", "other=1; _s=abc"},
			status: 200, id: "u-k", calls: 1,
			check: func(t *testing.T, _ answer, reqs []fakerails.Recorded) {
				if reqs[0].Cookie != "_s=abc" {
					t.Errorf("Rails got Cookie %q, want only the session cookie", reqs[0].Cookie)
				}
			}},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			rails.Reset()
			a := send(t, in, r.path, r.lines...)
			reqs := rails.Requests()
			if a.Status != r.status {
				t.Fatalf("status %d %s, want %d", a.Status, a.Body, r.status)
			}
			if r.message != "" {
				if a.message() != r.message || !strings.HasPrefix(a.Header.Get("Content-Type"), "application/json") {
					t.Errorf("answer %s (%s), want {\"message\":%q} as JSON", a.Body, a.Header.Get("Content-Type"), r.message)
				}
			}
			if len(reqs) != r.calls {
				t.Errorf("Rails calls = %d, want %d", len(reqs), r.calls)
			}
			if r.status == 200 {
				got := a.identity("X-User-ID", "X-User-Roles")
				if v := got["x-user-id"]; len(v) != 1 || v[0] != r.id {
					t.Errorf("upstream X-User-ID lines %v, want exactly [%s]", v, r.id)
				}
				want := []string(nil)
				if r.roles != "" {
					want = []string{r.roles}
				}
				if v := got["x-user-roles"]; fmt.Sprint(v) != fmt.Sprint(want) {
					t.Errorf("upstream X-User-Roles lines %v, want %v", v, want)
				}
			}
			if r.check != nil && (r.calls == 0 || len(reqs) > 0) {
				r.check(t, a, reqs)
			}
		})
	}
}

// spoofLines are a client's identity headers in every spelling nginx tells
// apart ('-' or '_', any case), repeated, around the real credential.
func spoofLines(names ...string) []string {
	var lines []string
	for _, n := range names {
		under := strings.ReplaceAll(n, "-", "_")
		first := strings.Replace(n, "-", "_", 1)
		lines = append(lines, n, "spoof-1", strings.ToLower(n), "spoof-2", strings.ToUpper(under), "spoof-3",
			under, "spoof-4", first, "spoof-5", strings.ToLower(first), "spoof-6", n, "spoof-7")
	}
	return lines
}

// TestSpoofing: whatever spelling, repetition or position a client uses,
// the upstream gets identity headers from the plugin only, judged on the
// raw header lines the echo upstream received.
func TestSpoofing(t *testing.T) {
	need(t)
	t.Parallel()
	rails := fakerails.New()
	t.Cleanup(rails.Close)
	rails.Set("Bearer kl-roles", fakerails.OK("u-1", "viewer"))
	rails.Set("Bearer kl-noroles", fakerails.OK("u-2"))
	rails.Set("Bearer kl-mail", fakerails.Response{Status: 200, Body: `{"user_id":"u-3","roles":["a"],"email":"a@example.test"}`})
	in := start(t, "s", []Route{
		{Paths: []string{"/api"}, Upstream: "echo", Config: map[string]any{"auth_url": rails.VerifyURL()}},
		{Paths: []string{"/extra"}, Upstream: "echo", Config: map[string]any{"auth_url": rails.VerifyURL(),
			"user_id_header": "X-Account-User-ID", "user_roles_header": "x_account_groups",
			"extra_headers": map[string]any{"email": "X-User-Email"}}},
		{Paths: []string{"/anon"}, Upstream: "echo", Config: map[string]any{"auth_url": rails.VerifyURL(), "allow_anonymous": true}},
		{Paths: []string{"/cookie"}, Upstream: "echo", Config: map[string]any{"auth_url": rails.VerifyURL(), "cookie_names": []any{"_s"}}},
		// 5 separators: too many spellings to clear blindly, so a list read
		{Paths: []string{"/long"}, Upstream: "echo", Config: map[string]any{"auth_url": rails.VerifyURL(), "user_id_header": "X-Gw-User-Id-Of-Caller"}},
	})
	fillers := func(n int) []string {
		var l []string
		for i := range n {
			l = append(l, fmt.Sprintf("X-Filler-%d", i), "x")
		}
		return l
	}
	def := []string{"X-User-ID", "X-User-Roles"}
	cases := []struct {
		name   string
		path   string
		lines  []string
		want   map[string]string // folded name → the one value the upstream must get ("": no line)
		status int
	}{
		{name: "hit path with roles", path: "/api/x", lines: append([]string{"Authorization", "Bearer kl-roles"}, spoofLines(def...)...),
			want: map[string]string{"x-user-id": "u-1", "x-user-roles": "viewer"}},
		{name: "user without roles: the client's roles removed", path: "/api/x", lines: append(spoofLines(def...), "Authorization", "Bearer kl-noroles"),
			want: map[string]string{"x-user-id": "u-2", "x-user-roles": ""}},
		{name: "custom names and an extra header", path: "/extra/x",
			lines: append([]string{"Authorization", "Bearer kl-mail"}, spoofLines("X-Account-User-ID", "X-Account-Groups", "X-User-Email", "X-User-ID")...),
			want:  map[string]string{"x-account-user-id": "u-3", "x-account-groups": "a", "x-user-email": "a@example.test", "x-user-id": "spoof-1"}},
		{name: "anonymous: every spelling removed", path: "/anon/x", lines: spoofLines(def...),
			want: map[string]string{"x-user-id": "", "x-user-roles": ""}},
		{name: "behind 1000 other header lines", path: "/api/x",
			lines: append(append(append([]string{}, fillers(1200)...), spoofLines(def...)...), "Authorization", "Bearer kl-roles"),
			want:  map[string]string{"x-user-id": "u-1", "x-user-roles": "viewer"}},
		{name: "behind 1000 other header lines, list read (session cookies): 431", path: "/cookie/x",
			lines: append(append([]string{"Authorization", "Bearer kl-roles"}, fillers(1000)...), spoofLines(def...)...), status: 431},
		{name: "a name with 5 separators (list read)", path: "/long/x",
			lines: append([]string{"Authorization", "Bearer kl-roles"}, spoofLines("X-Gw-User-Id-Of-Caller", "X-User-Roles")...),
			want:  map[string]string{"x-gw-user-id-of-caller": "u-1", "x-user-roles": "viewer"}},
		{name: "list read (session cookies) under 1000 lines", path: "/cookie/x",
			lines: append(append([]string{"Authorization", "Bearer kl-roles"}, fillers(100)...), spoofLines(def...)...),
			want:  map[string]string{"x-user-id": "u-1", "x-user-roles": "viewer"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, pass := range []string{"first", "again (cache hit)"} {
				a := send(t, in, c.path, c.lines...)
				if c.status != 0 {
					if a.Status != c.status {
						t.Fatalf("%s: status %d %s, want %d", pass, a.Status, a.Body, c.status)
					}
					continue
				}
				if a.Status != 200 {
					t.Fatalf("%s: status %d %s, want proxied", pass, a.Status, a.Body)
				}
				var keys []string
				for k := range c.want {
					keys = append(keys, k)
				}
				got := a.identity(keys...)
				for k, v := range c.want {
					want := []string{}
					if v != "" {
						want = []string{v}
					}
					if k == "x-user-id" && v == "spoof-1" {
						// not managed on this route: the client's lines pass untouched
						if len(got[k]) != 7 {
							t.Errorf("%s: unmanaged %s lines %v, want all 7 of the client's", pass, k, got[k])
						}
						continue
					}
					if fmt.Sprint(got[k]) != fmt.Sprint(want) {
						t.Errorf("%s: upstream %s lines %v, want %v", pass, k, got[k], want)
					}
				}
			}
		})
	}
}

// TestACLGroups: with acl_groups the plugin calls kong.ctx.shared.set
// through Kong's real ctx PDK and proxies. kong-lua does not expose
// kong.ctx.shared to a later plugin or to the upstream (it runs one plugin
// per route and no ACL plugin), so what Kong's ACL plugin would read is
// proven in process (plugin tests) and by the harness; here: the call goes
// through Kong's Lua without error, in the documented order, and the
// request is proxied with its identity.
func TestACLGroups(t *testing.T) {
	need(t)
	t.Parallel()
	rails := fakerails.New()
	t.Cleanup(rails.Close)
	rails.Set("Bearer kl-acl", fakerails.OK("u-9", "admin", "billing"))
	in := start(t, "a", []Route{
		{Paths: []string{"/acl"}, Upstream: "echo", Config: map[string]any{"auth_url": rails.VerifyURL(), "acl_groups": true}},
	})
	for _, pass := range []string{"miss", "hit"} {
		a := send(t, in, "/acl/x", "Authorization", "Bearer kl-acl")
		if a.Status != 200 {
			t.Fatalf("%s: status %d %s", pass, a.Status, a.Body)
		}
		if got := a.identity("X-User-Roles")["x-user-roles"]; fmt.Sprint(got) != "[admin,billing]" {
			t.Errorf("%s: roles %v", pass, got)
		}
	}
	for _, bad := range []string{"kong.ctx.shared.set failed", "[error]"} {
		if strings.Contains(in.PluginLog(), bad) || strings.Contains(in.ErrorLog(), bad) {
			t.Errorf("logs contain %q:\nplugin: %s\nnginx: %s", bad, tail(in.PluginLog()), tail(in.ErrorLog()))
		}
	}
}

// TestBreaker: once the breaker is open, uncached requests get 503 with
// Retry-After at once, through Kong's kong.response.exit.
func TestBreaker(t *testing.T) {
	need(t)
	t.Parallel()
	rails := fakerails.New()
	t.Cleanup(rails.Close)
	rails.Down()
	in := start(t, "k", []Route{
		{Paths: []string{"/api"}, Upstream: "echo", Config: map[string]any{"auth_url": rails.VerifyURL(),
			"breaker_threshold": 2, "breaker_cooldown": 60, "retries": 0, "timeout": 1000}},
	})
	for i := range 2 {
		a := send(t, in, "/api/x", "Authorization", fmt.Sprintf("Bearer kl-b%d", i))
		if a.Status != 503 {
			t.Fatalf("failure %d: status %d %s, want 503", i, a.Status, a.Body)
		}
	}
	a := send(t, in, "/api/x", "Authorization", "Bearer kl-b-next")
	if a.Status != 503 || a.message() != "Authentication service unavailable" {
		t.Fatalf("breaker open: %d %s, want 503", a.Status, a.Body)
	}
	secs, err := strconv.Atoi(a.Header.Get("Retry-After"))
	if err != nil || secs < 1 || secs > 60 {
		t.Errorf("Retry-After = %q, want 1..60 seconds", a.Header.Get("Retry-After"))
	}
}

// TestPluginServerRestart: the plugin server killed mid-life. Kong (here:
// kong-lua, which cannot respawn it) answers 500 while it is gone; started
// again on the same socket, the next request works: Kong's Lua re-creates
// the plugin instance on the new process ("no plugin instance" → reset).
func TestPluginServerRestart(t *testing.T) {
	need(t)
	t.Parallel()
	rails := fakerails.New()
	t.Cleanup(rails.Close)
	rails.Set("Bearer kl-r", fakerails.OK("u-r", "x"))
	in := start(t, "r", []Route{
		{Paths: []string{"/api"}, Upstream: "echo", Config: map[string]any{"auth_url": rails.VerifyURL()}},
	})
	if a := send(t, in, "/api/x", "Authorization", "Bearer kl-r"); a.Status != 200 {
		t.Fatalf("before: %d %s", a.Status, a.Body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := in.KillPlugin(ctx); err != nil {
		t.Fatal(err)
	}
	a := send(t, in, "/api/x", "Authorization", "Bearer kl-r")
	if a.Status != 500 {
		t.Errorf("plugin server dead: %d %s, want 500 (fail closed)", a.Status, a.Body)
	}
	if got := a.identity("X-User-ID"); len(got) != 0 {
		t.Errorf("plugin server dead but the request was proxied with %v", got)
	}
	if err := in.RestartPlugin(ctx); err != nil {
		t.Fatal(err)
	}
	rails.Reset()
	a = send(t, in, "/api/x", "Authorization", "Bearer kl-r")
	if a.Status != 200 || fmt.Sprint(a.identity("X-User-ID")["x-user-id"]) != "[u-r]" {
		t.Fatalf("after restart: %d %s", a.Status, a.Body)
	}
	if rails.Calls() != 1 {
		t.Errorf("Rails calls after restart = %d, want 1 (a new process starts cold)", rails.Calls())
	}
}

// TestSettingsByFlags: the plugin server's settings given as flags on its
// command line, as in pluginserver_legacy_auth_start_cmd (Kong starts the
// server from an nginx worker, whose environment nginx clears, so flags
// are the way settings reach it): the metrics endpoint serves this
// traffic and the log level lets debug lines through.
func TestSettingsByFlags(t *testing.T) {
	need(t)
	t.Parallel()
	rails := fakerails.New()
	t.Cleanup(rails.Close)
	rails.Set("Bearer kl-f", fakerails.OK("u-f"))
	metrics := testutil.FreeAddr(t)
	in := start(t, "f", []Route{
		{Paths: []string{"/api"}, Upstream: "echo", Config: map[string]any{"auth_url": rails.VerifyURL()}},
	}, Options{PluginArgs: []string{"-metrics-addr", metrics, "-log-level", "debug"}})
	for range 2 { // a miss, then a hit
		if a := send(t, in, "/api/x", "Authorization", "Bearer kl-f"); a.Status != 200 {
			t.Fatalf("status %d %s", a.Status, a.Body)
		}
	}
	res, err := http.Get("http://" + metrics + "/metrics")
	if err != nil {
		t.Fatalf("metrics endpoint from -metrics-addr: %v", err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	for _, want := range []string{`legacy_auth_requests_total{outcome="miss"} 1`, `legacy_auth_requests_total{outcome="hit"} 1`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	// -log-level debug: go-pdk logs the connection it closes after
	// kong.response.exit, which the plugin routes to debug.
	if a := send(t, in, "/api/x"); a.Status != 401 {
		t.Fatalf("no credential: %d %s", a.Status, a.Body)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(in.PluginLog(), "level=DEBUG") {
		if time.Now().After(deadline) {
			t.Fatalf("no debug line in the plugin log with -log-level debug:\n%s", tail(in.PluginLog()))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestAbsentTool: Find names what is missing, so a skip or a CI failure
// says why.
func TestAbsentTool(t *testing.T) {
	t.Setenv(DirEnv, filepath.Join(t.TempDir(), "nowhere"))
	_, err := Find()
	if !errors.Is(err, ErrAbsent) || !strings.Contains(err.Error(), "nowhere") {
		t.Fatalf("Find() = %v, want ErrAbsent naming the folder", err)
	}
}
