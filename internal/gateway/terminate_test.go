package gateway

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/legacy-auth/legacy-auth/internal/echo"
)

// A route blocked with request-termination answers as Kong's plugin does,
// and the longer path wins over the service's other route, as in Kong.
func TestRequestTermination(t *testing.T) {
	t.Parallel()
	up := echo.New()
	t.Cleanup(up.Close)
	deck := fmt.Sprintf(`_format_version: "3.0"
services:
  - name: rails
    url: %s
    routes:
      - {name: rails, paths: [/rails]}
      - name: blocked
        paths: [/rails/internal]
        plugins:
          - name: request-termination
            config: {status_code: 404}
      - name: custom
        paths: [/rails/custom]
        plugins:
          - name: request-termination
            config: {status_code: 403, body: "no\n", content_type: text/plain}
      - name: default
        paths: [/rails/down]
        plugins:
          - name: request-termination
`, up.URL())
	path := filepath.Join(t.TempDir(), "kong.yml")
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

	tests := []struct {
		path        string
		status      int
		body, ctype string
	}{
		{"/rails/internal/auth/verify", 404, `{"message":"Not found"}`, "application/json; charset=utf-8"},
		{"/rails/internal", 404, `{"message":"Not found"}`, "application/json; charset=utf-8"},
		{"/rails//internal/auth/verify", 404, `{"message":"Not found"}`, "application/json; charset=utf-8"},
		{"/rails/%69nternal/auth/verify", 404, `{"message":"Not found"}`, "application/json; charset=utf-8"},
		{"/rails/custom", 403, "no\n", "text/plain"},
		{"/rails/down", 503, `{"message":"Service unavailable"}`, "application/json; charset=utf-8"},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			status, body, r := call(t, srv.URL, "POST", tc.path, nil)
			if r != nil || status != tc.status || string(body) != tc.body {
				t.Errorf("%s: %d %q (proxied: %v), want %d %q", tc.path, status, body, r != nil, tc.status, tc.body)
			}
		})
	}
	if status, _, r := call(t, srv.URL, "GET", "/rails/users", nil); status != http.StatusOK || r == nil {
		t.Errorf("/rails/users: %d, want proxied", status)
	}
	resp, err := http.Get(srv.URL + "/rails/custom")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("Content-Type"); got != "text/plain" {
		t.Errorf("Content-Type = %q, want text/plain", got)
	}
}

func TestRequestTerminationConfigErrors(t *testing.T) {
	t.Parallel()
	const head = "_format_version: \"3.0\"\nplugins:\n  - name: request-termination\n    config: "
	tests := []struct{ config, want string }{
		{"{status_code: 99}", "between 100 and 599"},
		{"{status_code: 404.5}", "between 100 and 599"},
		{"{status_code: \"404\"}", "expected an integer"},
		{"{message: x, body: y}", "message cannot be used with content_type or body"},
		{"{content_type: text/plain}", "content_type requires a body"},
		{"{echo: true}", "echo is not supported"},
		{"{colour: red}", `unknown field "colour"`},
	}
	for _, tc := range tests {
		_, err := ParseDeck([]byte(head+tc.config+"\n"), "kong.yml")
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "kong.yml:3") {
			t.Errorf("%s: err = %v, want %q at kong.yml:3", tc.config, err, tc.want)
		}
	}
}
