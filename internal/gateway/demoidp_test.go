package gateway

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/legacy-auth/legacy-auth/internal/echo"
	"github.com/legacy-auth/legacy-auth/internal/fakeidp"
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

			tok := demoToken(t, d.Issuer())
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

// demoToken is Alice's client_credentials token from the demo provider.
func demoToken(t *testing.T, issuer string) string {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "resource": {fakeidp.Audience}, "scope": {"api"}}
	req, _ := http.NewRequest(http.MethodPost, issuer+"/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("42", "alice-secret")
	c := http.Client{Timeout: 10 * time.Second}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil || body.AccessToken == "" {
		t.Fatalf("token: %d %v", res.StatusCode, err)
	}
	return body.AccessToken
}
