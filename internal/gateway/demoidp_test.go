package gateway

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/legacy-auth/legacy-auth/internal/echo"
	"github.com/legacy-auth/legacy-auth/internal/fakeidp"
	"github.com/legacy-auth/legacy-auth/test/oidctest"
)

// TestDemoIdentityProvider: the demo's provider (the oidc-provider app
// when Node is there, the Go stand-in otherwise; both are tried here when
// possible) issues tokens a route with jwt_issuers accepts without calling
// Rails, beside Rails' own tokens; closing the demo stops it.
func TestDemoIdentityProvider(t *testing.T) {
	t.Parallel()
	app, _ := filepath.Abs("../../test/oidc")
	modes := map[string]string{"go stand-in": ""}
	if _, ok := nodeProvider(app); ok {
		modes["oidc-provider"] = app
	} else if os.Getenv("CI") == "true" {
		t.Fatal("CI: node and test/oidc/node_modules are required")
	}
	for name, dir := range modes {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			d, err := StartDemo(DemoOptions{AuthAddr: "127.0.0.1:0", EchoAddrs: []string{"127.0.0.1:0"}, IdPAddr: "127.0.0.1:0", IdPNode: dir},
				slog.New(slog.NewTextHandler(io.Discard, nil)))
			if err != nil {
				t.Fatal(err)
			}
			closed := false
			t.Cleanup(func() {
				if !closed {
					d.Close()
				}
			})
			deck := fmt.Sprintf(`_format_version: "3.0"
services:
  - name: api
    url: %s
    routes:
      - name: api
        paths: [/api]
        plugins:
          - name: legacy-auth
            config:
              auth_url: %q
              jwt_issuers:
                - {issuer: %q, jwks_uri: %q, audiences: [%q], claim_headers: {email: X-User-Email}}
`, d.EchoURLs()[0], d.VerifyURL(), d.Issuer(), d.Issuer()+"/jwks", fakeidp.Audience)
			g, err := newGateway(t, deck, nil)
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(g)
			t.Cleanup(srv.Close)

			tok := oidctest.ClientToken(t, d.Issuer(), fakeidp.Audience, oidctest.Alice)
			var status int
			var body []byte
			var r *echo.Reply
			for range 100 { // the keys' first fetch runs in the background
				if status, body, r = call(t, srv.URL, "GET", "/api/me", map[string]string{"Authorization": "Bearer " + tok}); status != 503 {
					break
				}
			}
			if status != 200 || r == nil || !slices.Equal(r.Get("X-User-ID"), []string{"42"}) || !slices.Equal(r.Get("X-User-Email"), []string{"alice@example.com"}) {
				t.Fatalf("provider token: %d %s", status, body)
			}
			if n := d.Auth.Calls(); n != 0 {
				t.Errorf("Rails called %d times for a provider token", n)
			}
			if status, _, r := call(t, srv.URL, "GET", "/api/me", map[string]string{"Authorization": DemoTokenAlice}); status != 200 || !slices.Equal(r.Get("X-User-ID"), []string{"42"}) {
				t.Errorf("Rails token: %d", status)
			}
			issuer := d.Issuer()
			d.Close()
			closed = true
			c := http.Client{Timeout: 2 * time.Second}
			if res, err := c.Get(issuer + "/jwks"); err == nil {
				res.Body.Close()
				t.Errorf("the provider still answers after Close")
			}
		})
	}
}
