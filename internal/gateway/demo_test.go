package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/legacy-auth/legacy-auth/internal/fakerails"
	"github.com/legacy-auth/legacy-auth/test/testutil"
)

// TestDemoConfigValidates loads the shipped demo config against the real
// plugin's schema, so the file cannot rot.
func TestDemoConfigValidates(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	g, err := New(ctx, Options{
		ConfigPath:   "../../examples/demo/kong.yml",
		PluginPath:   buildBinary(t, "legacy-auth"),
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
		PluginOutput: io.Discard,
	})
	if err != nil {
		t.Fatal(err)
	}
	_ = g.Close()
}

func TestDemoBackends(t *testing.T) {
	t.Parallel()
	d, err := StartDemo(DemoOptions{AuthAddr: "127.0.0.1:0", EchoAddrs: []string{"127.0.0.1:0", "127.0.0.1:0"}},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	echoes := d.EchoURLs()
	if len(echoes) != 2 {
		t.Fatalf("echo urls %v", echoes)
	}
	deck := fmt.Sprintf(`_format_version: "3.0"
services:
  - name: api
    url: %s
    routes:
      - name: api
        paths: [/api]
        plugins:
          - name: legacy-auth
            config: {auth_url: %q}
  - name: public
    url: %s
    routes:
      - name: public
        paths: [/public]
        plugins:
          - name: legacy-auth
            config: {auth_url: %q, allow_anonymous: true}
`, echoes[0], d.VerifyURL(), echoes[1], d.VerifyURL())
	g, err := newGateway(t, deck, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)

	tests := []struct {
		token  string
		status int
		userID string
	}{
		{DemoTokenAlice, 200, "42"},
		{DemoTokenBob, 200, "7"},
		{DemoTokenBig, 200, "9007199254740993"},
		{"", 401, ""},
		{"Bearer tok-unknown", 401, ""},
	}
	for _, tc := range tests {
		t.Run(tc.token, func(t *testing.T) {
			t.Parallel()
			h := map[string]string{}
			if tc.token != "" {
				h["Authorization"] = tc.token
			}
			status, body, r := call(t, srv.URL, "GET", "/api/me", h)
			if status != tc.status {
				t.Fatalf("status %d, want %d: %s", status, tc.status, body)
			}
			if tc.userID != "" && (r == nil || !slices.Equal(r.Get("X-User-ID"), []string{tc.userID})) {
				t.Errorf("reply %s", body)
			}
		})
	}
	t.Run("disabled", func(t *testing.T) {
		t.Parallel()
		if status, body, _ := call(t, srv.URL, "GET", "/api/me", map[string]string{"Authorization": DemoTokenMallory}); status != 403 {
			t.Errorf("status %d: %s", status, body)
		}
	})
	t.Run("public", func(t *testing.T) {
		t.Parallel()
		// No credential needed, and forged identity headers never arrive.
		status, body, r := call(t, srv.URL, "GET", "/public/", map[string]string{"X-User-ID": "1", "X_User_Roles": "admin"})
		if status != 200 || r == nil {
			t.Fatalf("status %d: %s", status, body)
		}
		if r.Get("X-User-ID") != nil || r.Get("X_User_Roles") != nil {
			t.Errorf("forged identity headers reached the public upstream: %s", body)
		}
	})
}

func TestDemoCallsEndpoint(t *testing.T) {
	t.Parallel()
	d, err := StartDemo(DemoOptions{AuthAddr: "127.0.0.1:0"}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	for range 2 {
		if status, _, _ := call(t, d.AuthURL(), "POST", fakerails.VerifyPath,
			map[string]string{"Authorization": DemoTokenAlice}); status != 200 {
			t.Fatalf("verify: %d", status)
		}
	}
	resp, err := http.Get(d.AuthURL() + DemoCallsPath)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got map[string]int
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || got["calls"] != 2 {
		t.Errorf("calls = %v (%v)", got, err)
	}
}

// The demo auth service logs each call without the credential.
func TestDemoAuthLogsNoCredentials(t *testing.T) {
	t.Parallel()
	var logs testutil.SyncBuffer
	d, err := StartDemo(DemoOptions{AuthAddr: "127.0.0.1:0"}, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	secret := "Bearer " + strings.Repeat("s3cr3t", 1000)
	for _, tok := range []string{DemoTokenAlice, secret} {
		call(t, d.AuthURL(), "POST", fakerails.VerifyPath, map[string]string{"Authorization": tok})
	}
	// The startup line lists the demo's public tokens on purpose; the
	// per-call lines must hold none of what clients sent.
	var calls []string
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, "demo auth: verify call") {
			calls = append(calls, line)
		}
	}
	out := strings.Join(calls, "\n")
	if len(calls) != 2 || !strings.Contains(out, "credential=Bearer") {
		t.Errorf("verify calls not logged:\n%s", logs.String())
	}
	if strings.Contains(out, strings.TrimPrefix(DemoTokenAlice, "Bearer ")) || strings.Contains(out, "s3cr3t") {
		t.Errorf("the log holds a credential:\n%s", out)
	}
}
