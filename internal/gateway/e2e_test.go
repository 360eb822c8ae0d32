package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/legacy-auth/legacy-auth/internal/echo"
	"github.com/legacy-auth/legacy-auth/internal/fakerails"
	"github.com/legacy-auth/legacy-auth/test/testutil"
)

// syncBuffer is the shared goroutine-safe output sink.
type syncBuffer = testutil.SyncBuffer

// backends are the fake Rails auth and the echo upstream of one test.
type backends struct {
	auth *fakerails.Server
	up   *echo.Server
}

func newBackends(t *testing.T) *backends {
	t.Helper()
	b := &backends{auth: fakerails.New(), up: echo.New()}
	t.Cleanup(b.auth.Close)
	t.Cleanup(b.up.Close)
	b.auth.Set("Bearer alice", fakerails.OK(json.Number("42"), "admin", "editor"))
	b.auth.Set("Bearer bob", fakerails.OK("u-1001"))
	b.auth.Set("Bearer banned", fakerails.Deny(http.StatusForbidden))
	return b
}

// deck renders the standard test config: /api behind legacy-auth, /public
// open, on the echo upstream.
func (b *backends) deck(pluginConfig string) string {
	return fmt.Sprintf(`_format_version: "3.0"
services:
  - name: backend
    url: %s
    routes:
      - name: api
        paths: [/api]
        plugins:
          - name: legacy-auth
            config: %s
      - name: public
        paths: [/public]
plugins:
  - name: rate-limiting
    config: {minute: 10}
`, b.up.URL(), pluginConfig)
}

// newGateway writes deckYAML to a file and starts a Gateway on it.
func newGateway(t *testing.T, deckYAML string, logs io.Writer) (*Gateway, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kong.yml")
	if err := os.WriteFile(path, []byte(deckYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	if logs == nil {
		// Keep the gateway and plugin logs, and show them if the test fails.
		buf := &syncBuffer{}
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("gateway and plugin logs:\n%s", buf.String())
			}
		})
		logs = buf
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	g, err := New(ctx, Options{
		ConfigPath:   path,
		PluginPath:   buildBinary(t, "legacy-auth"),
		Logger:       slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		PluginOutput: logs,
	})
	if g != nil {
		t.Cleanup(func() { _ = g.Close() })
	}
	return g, err
}

// call sends one request through the gateway and decodes the echo reply
// when the upstream answered.
func call(t *testing.T, base, method, target string, headers map[string]string) (int, []byte, *echo.Reply) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, base+target, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var r echo.Reply
	if json.Unmarshal(body, &r) != nil || r.Method == "" {
		return resp.StatusCode, body, nil
	}
	return resp.StatusCode, body, &r
}

func TestEndToEnd(t *testing.T) {
	t.Parallel()
	b := newBackends(t)
	logs := &syncBuffer{}
	g, err := newGateway(t, b.deck(fmt.Sprintf(`{auth_url: %q, cache_ttl: 60}`, b.auth.VerifyURL())), logs)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)

	tests := []struct {
		name    string
		method  string
		target  string
		headers map[string]string
		status  []int // any of
		check   func(t *testing.T, body []byte, r *echo.Reply)
	}{
		{name: "no Authorization", method: "GET", target: "/api/things", status: []int{401}},
		{name: "unknown token", method: "GET", target: "/api/things", headers: map[string]string{"Authorization": "Bearer nobody"}, status: []int{401}},
		{name: "banned token", method: "GET", target: "/api/things", headers: map[string]string{"Authorization": "Bearer banned"}, status: []int{401, 403}},
		{
			name: "numeric user id", method: "GET", target: "/api/things?page=2",
			headers: map[string]string{"Authorization": "Bearer alice"}, status: []int{200},
			check: func(t *testing.T, _ []byte, r *echo.Reply) {
				// Exact spelling: the plugin's X-User-ID reaches the upstream unchanged.
				if got := r.Headers["X-User-ID"]; !slices.Equal(got, []string{"42"}) {
					t.Errorf("X-User-ID = %v (headers %v)", got, r.Headers)
				}
				roles := strings.Join(r.Get("X-User-Roles"), ",")
				if !strings.Contains(roles, "admin") || !strings.Contains(roles, "editor") {
					t.Errorf("X-User-Roles = %q", roles)
				}
				if r.Path != "/things" || r.Query != "page=2" {
					t.Errorf("upstream got %s?%s, want /things?page=2 (strip_path)", r.Path, r.Query)
				}
				if got := r.Get("X-Forwarded-Prefix"); !slices.Equal(got, []string{"/api"}) {
					t.Errorf("X-Forwarded-Prefix = %v", got)
				}
				if got := r.Get("X-Forwarded-Path"); !slices.Equal(got, []string{"/api/things"}) {
					t.Errorf("X-Forwarded-Path = %v", got)
				}
			},
		},
		{
			name: "string user id", method: "POST", target: "/api",
			headers: map[string]string{"Authorization": "Bearer bob"}, status: []int{200},
			check: func(t *testing.T, _ []byte, r *echo.Reply) {
				if got := r.Get("X-User-ID"); !slices.Equal(got, []string{"u-1001"}) {
					t.Errorf("X-User-ID = %v", got)
				}
				if r.Method != "POST" || r.Path != "/" {
					t.Errorf("upstream got %s %s", r.Method, r.Path)
				}
			},
		},
		{
			name: "spoofed identity header is replaced", method: "GET", target: "/api/x",
			headers: map[string]string{"Authorization": "Bearer alice", "X-User-ID": "1"}, status: []int{200},
			check: func(t *testing.T, _ []byte, r *echo.Reply) {
				if got := r.Get("X-User-ID"); !slices.Equal(got, []string{"42"}) {
					t.Errorf("X-User-ID = %v, want only 42", got)
				}
			},
		},
		{
			name: "public route needs no auth", method: "GET", target: "/public/page", status: []int{200},
			check: func(t *testing.T, _ []byte, r *echo.Reply) {
				if got := r.Get("X-User-ID"); got != nil {
					t.Errorf("X-User-ID = %v on a public route", got)
				}
				if r.Path != "/page" {
					t.Errorf("path %q", r.Path)
				}
				if host := r.Get("Host"); !slices.Equal(host, []string{strings.TrimPrefix(b.up.URL(), "http://")}) {
					t.Errorf("Host = %v, want the service's", host)
				}
			},
		},
		{
			name: "no route", method: "GET", target: "/nowhere", status: []int{404},
			check: func(t *testing.T, body []byte, _ *echo.Reply) {
				if !strings.Contains(string(body), msgNoRoute) {
					t.Errorf("body %s", body)
				}
			},
		},
		{name: "health", method: "GET", target: HealthPath, status: []int{200}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			status, body, reply := call(t, srv.URL, tc.method, tc.target, tc.headers)
			if !slices.Contains(tc.status, status) {
				t.Fatalf("status %d, want %v; body %s", status, tc.status, body)
			}
			if tc.check != nil {
				if status == 200 && reply == nil && tc.target != HealthPath && !strings.HasPrefix(tc.name, "no route") {
					t.Fatalf("not an echo reply: %s", body)
				}
				tc.check(t, body, reply)
			}
		})
	}
	if !strings.Contains(logs.String(), "rate-limiting") {
		t.Error("the ignored rate-limiting plugin was not logged")
	}
}

func TestEndToEndCache(t *testing.T) {
	t.Parallel()
	b := newBackends(t)
	g, err := newGateway(t, b.deck(fmt.Sprintf(`{auth_url: %q, cache_ttl: 60}`, b.auth.VerifyURL())), nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)

	alice := map[string]string{"Authorization": "Bearer alice"}
	if status, body, _ := call(t, srv.URL, "GET", "/api/a", alice); status != 200 {
		t.Fatalf("first call: %d %s", status, body)
	}
	first := b.auth.Calls()
	if first != 1 {
		t.Errorf("verify calls after the first request = %d, want 1", first)
	}
	// A bounded parallel burst with the same token: all served, none verified again.
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			if status, body, _ := call(t, srv.URL, "GET", "/api/b", alice); status != 200 {
				t.Errorf("cached call: %d %s", status, body)
			}
		})
	}
	wg.Wait()
	if got := b.auth.Calls(); got != first {
		t.Errorf("verify calls = %d after cached requests, want %d", got, first)
	}
	if r := b.auth.Requests()[0]; r.Authorization != "Bearer alice" || !strings.HasPrefix(r.ContentType, "application/json") {
		t.Errorf("verify call = %+v", r)
	}
}

func TestEndToEndBadConfig(t *testing.T) {
	t.Parallel()
	b := newBackends(t)
	url := b.auth.VerifyURL()
	tests := []struct {
		name string
		deck string
		want []string
	}{
		{
			name: "missing auth_url on a route",
			deck: b.deck(`{cache_ttl: 60}`),
			want: []string{"kong.yml:", "services[0].routes[0].plugins[0]", `plugin "legacy-auth"`, `route "api"`, `service "backend"`, "config.auth_url"},
		},
		{
			name: "wrong type",
			deck: b.deck(fmt.Sprintf(`{auth_url: %q, timeout: fast}`, url)),
			want: []string{`route "api"`, "config.timeout"},
		},
		{
			name: "unknown field",
			deck: b.deck(fmt.Sprintf(`{auth_url: %q, bogus: 1}`, url)),
			want: []string{`route "api"`, "config.bogus"},
		},
		{
			name: "bad config on a service",
			deck: fmt.Sprintf(`_format_version: "3.0"
services:
  - name: backend
    url: %s
    plugins:
      - name: legacy-auth
        config: {auth_method: DELETE, auth_url: %q}
`, b.up.URL(), url),
			want: []string{"services[0].plugins[0]", `service "backend"`, "config.auth_method"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g, err := newGateway(t, tc.deck, nil)
			if err == nil {
				_ = g.Close()
				t.Fatal("the gateway started with a bad legacy-auth config")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestMissingPluginBinary(t *testing.T) {
	t.Parallel()
	b := newBackends(t)
	path := filepath.Join(t.TempDir(), "kong.yml")
	deck := b.deck(fmt.Sprintf(`{auth_url: %q}`, b.auth.VerifyURL()))
	if err := os.WriteFile(path, []byte(deck), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	g, err := New(ctx, Options{ConfigPath: path, PluginPath: filepath.Join(t.TempDir(), "no-such-binary"), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err == nil {
		_ = g.Close()
		t.Fatal("started without a plugin binary")
	}
	if !strings.Contains(err.Error(), "no-such-binary") {
		t.Errorf("error %q does not name the binary", err)
	}
}

func TestNoPluginNeedsNoBinary(t *testing.T) {
	t.Parallel()
	up := echo.New()
	t.Cleanup(up.Close)
	path := filepath.Join(t.TempDir(), "kong.yml")
	deck := fmt.Sprintf("_format_version: \"3.0\"\nservices:\n  - name: s\n    url: %s/base/\n    routes:\n      - {paths: [/keep], strip_path: false}\n", up.URL())
	if err := os.WriteFile(path, []byte(deck), 0o600); err != nil {
		t.Fatal(err)
	}
	g, err := New(context.Background(), Options{ConfigPath: path, PluginPath: "/nonexistent", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.Close() })
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	status, body, r := call(t, srv.URL, "GET", "/keep/x?y=1", map[string]string{"X-Forwarded-For": "10.1.2.3"})
	if status != 200 || r == nil {
		t.Fatalf("%d %s", status, body)
	}
	if r.Path != "/base/keep/x" || r.Query != "y=1" {
		t.Errorf("upstream got %s?%s", r.Path, r.Query)
	}
	if got := r.Get("X-Forwarded-For"); !slices.Equal(got, []string{"10.1.2.3, 127.0.0.1"}) {
		t.Errorf("X-Forwarded-For = %v", got)
	}
	if got := r.Headers["X-Real-IP"]; !slices.Equal(got, []string{"127.0.0.1"}) {
		t.Errorf("X-Real-IP = %v", got)
	}
	if got := r.Get("X-Forwarded-Prefix"); got != nil {
		t.Errorf("X-Forwarded-Prefix = %v without strip_path", got)
	}

	// Upstream down: Kong's 502.
	up.Close()
	if status, body, _ := call(t, srv.URL, "GET", "/keep", nil); status != http.StatusBadGateway || !strings.Contains(string(body), msgBadUpstream) {
		t.Errorf("with the upstream down: %d %s", status, body)
	}
}
