package konglua

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/legacy-auth/legacy-auth/internal/fakerails"
)

// TestCanonicalCredentialInKong (issue 18, item 2): through Kong's own
// PDK, every spelling Rails reads as one token is one Rails call with the
// canonical form, and what Rails would not read never reaches it.
func TestCanonicalCredentialInKong(t *testing.T) {
	need(t)
	t.Parallel()
	rails := fakerails.New()
	t.Cleanup(rails.Close)
	rails.Set("Bearer kl-respell", fakerails.OK("u-respell"))
	in := start(t, "cn", []Route{
		{Paths: []string{"/api"}, Upstream: "echo", Config: map[string]any{"auth_url": rails.VerifyURL()}},
	})
	for _, sp := range []string{"Bearer kl-respell", "bearer kl-respell", "Bearer   kl-respell", "Bearer\tkl-respell",
		"Bearer kl-respell, x=1", "Token kl-respell", `Token token="kl-respell"`} {
		a := send(t, in, "/api/x", "Authorization", sp)
		if a.Status != 200 || a.identity("X-User-ID")["x-user-id"][0] != "u-respell" {
			t.Errorf("%q: %d %s", sp, a.Status, a.Body)
		}
	}
	if n := rails.Calls(); n != 1 {
		t.Errorf("7 spellings of one token made %d Rails calls, want 1", n)
	}
	for _, r := range rails.Requests() {
		if r.Authorization != "Bearer kl-respell" {
			t.Errorf("Rails received %q, want the canonical form", r.Authorization)
		}
	}
	for _, v := range []string{"Basic a2w6cHc=", "Bearer token=token=x", "kl-respell"} {
		if a := send(t, in, "/api/x", "Authorization", v); a.Status != 401 || a.message() != "Invalid credentials" {
			t.Errorf("%q: %d %s, want 401 Invalid credentials", v, a.Status, a.Body)
		}
	}
	if n := rails.Calls(); n != 1 {
		t.Errorf("unreadable credentials reached Rails (%d calls)", n-1)
	}
}

// TestReservedHeadersInKong (issue 18, item 5): Kong's own schema
// processing refuses, in any spelling, the headers Kong's nginx template
// overwrites after the access phase as identity, extra or token headers;
// such a route answers 500 and never reaches Rails.
func TestReservedHeadersInKong(t *testing.T) {
	need(t)
	t.Parallel()
	rails := fakerails.New()
	t.Cleanup(rails.Close)
	rails.SetDefault(fakerails.OK("u-any"))
	url := rails.VerifyURL()
	routes := []Route{
		{Paths: []string{"/xfh"}, Upstream: "echo", Config: map[string]any{"auth_url": url, "user_id_header": "X-Forwarded-Host"}},
		{Paths: []string{"/xff"}, Upstream: "echo", Config: map[string]any{"auth_url": url, "user_roles_header": "x_forwarded_for"}},
		{Paths: []string{"/realip"}, Upstream: "echo", Config: map[string]any{"auth_url": url, "extra_headers": map[string]any{"email": "X-REAL-IP"}}},
		{Paths: []string{"/via"}, Upstream: "echo", Config: map[string]any{"auth_url": url, "user_id_header": "Via"}},
		{Paths: []string{"/reqid"}, Upstream: "echo", Config: map[string]any{"auth_url": url, "jwt_header": "X-Kong-Request_Id"}},
		{Paths: []string{"/prefix"}, Upstream: "echo", Config: map[string]any{"auth_url": url, "user_id_header": "X-Forwarded-Prefix"}},
	}
	in := start(t, "rh", routes, Options{Lenient: true})
	for _, r := range routes {
		a := send(t, in, r.Paths[0]+"/x", "Authorization", "Bearer kl-reserved")
		if a.Status != 500 {
			t.Errorf("%s: %d %s, want 500 (config rejected)", r.Paths[0], a.Status, a.Body)
		}
	}
	if n := rails.Calls(); n != 0 {
		t.Errorf("routes with a rejected config called Rails %d times", n)
	}
	// Kong's message names the reason.
	errs := configErrors(t, in)
	if len(errs) != len(routes) {
		t.Fatalf("status lists %d routes, want %d", len(errs), len(routes))
	}
	for path, e := range errs {
		if !strings.Contains(e, "is reserved") {
			t.Errorf("%s: config_error %s, want Kong's schema to name the reserved header", path, e)
		}
	}
}

// configErrors are kong-lua's status endpoint's config_error of every
// route, by its first path, as JSON ("null": Kong's schema took it).
func configErrors(t *testing.T, in *Instance) map[string]string {
	t.Helper()
	c := http.Client{Timeout: 10 * time.Second}
	res, err := c.Get(in.URL + "/__kong-lua")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var status struct {
		Routes []struct {
			Paths       []string `json:"paths"`
			ConfigError any      `json:"config_error"`
		} `json:"routes"`
	}
	if err := json.NewDecoder(res.Body).Decode(&status); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, r := range status.Routes {
		b, _ := json.Marshal(r.ConfigError)
		out[r.Paths[0]] = string(b)
	}
	return out
}
