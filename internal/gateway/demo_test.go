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
	"testing"
	"time"

	"github.com/legacy-auth/legacy-auth/test/fakeauth"
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
      - {name: public, paths: [/public]}
`, echoes[0], d.VerifyURL(), echoes[1])
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
		if status, body, _ := call(t, srv.URL, "GET", "/public/", nil); status != 200 {
			t.Errorf("status %d: %s", status, body)
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
		if status, _, _ := call(t, d.AuthURL(), "POST", fakeauth.VerifyPath,
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
