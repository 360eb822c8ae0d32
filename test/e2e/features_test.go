package e2e

import (
	"crypto/ed25519"
	"crypto/rand"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/legacy-auth/legacy-auth/internal/fakerails"
)

// TestSessionCookies: with cookie_names, a session cookie is a credential;
// only that cookie is forwarded to the auth service, the cache key covers
// it, and a request with neither credential is refused without a call.
func TestSessionCookies(t *testing.T) {
	a := newSessionAuth(t)
	sess1, sess2 := newSecret("sess"), newSecret("sess")
	a.Set("Cookie _app_session="+sess1, fakerails.OK("u-web-1", "web"))
	a.Set("Cookie _app_session="+sess2, fakerails.OK("u-web-2", "web"))
	cfg := config(t, map[string]any{"auth_url": a.url, "cookie_names": []string{"_app_session"}})
	p := newPlugin()

	res := access(t, shared, p, cfg, request("Cookie", "a=1; _app_session="+sess1+"; b=2"))
	wantProxied(t, res, "X-User-ID", "u-web-1", "X-User-Roles", "web")
	recs := a.Requests()
	if len(recs) != 1 {
		t.Fatalf("auth calls = %d, want 1", len(recs))
	}
	if want := "_app_session=" + sess1; recs[0].Cookie != want {
		t.Errorf("auth service received Cookie %q, want only %q", recs[0].Cookie, want)
	}
	if strings.Contains(recs[0].Cookie, "a=1") || strings.Contains(recs[0].Cookie, "b=2") {
		t.Errorf("the client's other cookies reached the auth service: %q", recs[0].Cookie)
	}
	if n := a.withAuthorization.Load(); n != 0 {
		t.Errorf("%d auth calls carried an Authorization header, want none", n)
	}
	t.Logf("session cookie: auth service received Cookie %q (others dropped: %t)",
		strings.Replace(recs[0].Cookie, sess1, "<session>", 1), !strings.Contains(recs[0].Cookie, "a=1"))

	res = access(t, shared, p, cfg, request("Cookie", "_app_session="+sess1+"; a=2"))
	wantProxied(t, res, "X-User-ID", "u-web-1", "X-User-Roles", "web")
	afterHit := a.Calls()
	res = access(t, shared, p, cfg, request("Cookie", "a=1; _app_session="+sess2))
	wantProxied(t, res, "X-User-ID", "u-web-2", "X-User-Roles", "web")
	t.Logf("same session again: %d calls in total (hit); other session: %d calls", afterHit, a.Calls())
	if afterHit != 1 || a.Calls() != 2 {
		t.Errorf("auth calls after the same session = %d (want 1), after another session = %d (want 2)", afterHit, a.Calls())
	}

	for _, cookie := range []string{"a=1; b=2", "_other_session=zzz", "_app_session="} {
		res = access(t, shared, p, cfg, request("Cookie", cookie))
		wantExit(t, res, 401, "Authorization header is missing")
	}
	res = access(t, shared, p, cfg, request())
	wantExit(t, res, 401, "Authorization header is missing")
	if a.Calls() != 2 {
		t.Errorf("requests without a credential reached the auth service: %d calls, want 2", a.Calls())
	}
}

// TestExtraHeaders: extra_headers copies answer fields to upstream
// headers; client-sent copies never pass, and a field the answer lacks
// clears the header.
func TestExtraHeaders(t *testing.T) {
	a := newAuth(t)
	full, partial := newToken("extra"), newToken("extra")
	a.Set(full, fakerails.Response{Status: 200, Body: `{"user_id":"u-x","roles":["a"],"email":"ann@example.test","account_id":77}`})
	a.Set(partial, fakerails.Response{Status: 200, Body: `{"user_id":"u-y","roles":[],"account_id":"acct-9"}`})
	cfg := config(t, map[string]any{"auth_url": a.url,
		"extra_headers": map[string]any{"email": "X-User-Email", "account_id": "X-Account-ID"}})
	p := newPlugin()
	spoofs := []string{"X-User-Email", "evil@example.test", "x_user_email", "evil2@example.test", "X-Account-ID", "666", "x_account_id", "667"}

	cases := []struct {
		token, id, email, account string
	}{
		{full, "u-x", "ann@example.test", "77"},
		{partial, "u-y", "", "acct-9"},
	}
	for _, c := range cases {
		for _, phase := range []string{"miss", "hit"} {
			res := access(t, shared, p, cfg, request(append([]string{"Authorization", c.token}, spoofs...)...))
			roles := "a"
			if c.id == "u-y" {
				roles = ""
			}
			wantProxied(t, res, "X-User-ID", c.id, "X-User-Roles", roles)
			emails, accounts := spellings(res.Upstream, "X-User-Email"), spellings(res.Upstream, "X-Account-ID")
			t.Logf("%s %s: upstream X-User-Email %v, X-Account-ID %v", c.id, phase, emails, accounts)
			if c.email == "" && len(emails) != 0 || c.email != "" && (len(emails) != 1 || emails[0].Value != c.email) {
				t.Errorf("X-User-Email = %v, want %q", emails, c.email)
			}
			if len(accounts) != 1 || accounts[0].Value != c.account {
				t.Errorf("X-Account-ID = %v, want %q", accounts, c.account)
			}
		}
	}
	if a.Calls() != 2 {
		t.Errorf("auth calls = %d, want 2", a.Calls())
	}
}

// TestACLGroups: acl_groups hands the roles to Kong's ACL plugin as
// kong.ctx.shared.authenticated_groups (a list), at the cost of one more
// PDK call; off, the request costs the usual two.
func TestACLGroups(t *testing.T) {
	a := newAuth(t)
	token := newToken("acl")
	a.Set(token, fakerails.OK("u-acl", "admin", "editor"))
	on := config(t, map[string]any{"auth_url": a.url, "acl_groups": true})
	off := config(t, map[string]any{"auth_url": a.url})
	pOn, pOff := newPlugin(), newPlugin()
	wantCalls := []string{"kong.request.get_header", "kong.ctx.shared.set", "kong.service.request.set_headers"}

	for _, phase := range []string{"miss", "hit"} {
		res := access(t, shared, pOn, on, request("Authorization", token))
		if res.Exit != nil {
			t.Fatalf("acl_groups on: %s", describe(res))
		}
		t.Logf("acl_groups on, %s: PDK calls %v, kong.ctx.shared %v", phase, res.Calls, res.Shared)
		if !slices.Equal(res.Calls, wantCalls) {
			t.Errorf("PDK calls = %v, want %v", res.Calls, wantCalls)
		}
		if got, want := res.Shared["authenticated_groups"], []any{"admin", "editor"}; !reflect.DeepEqual(got, want) {
			t.Errorf("kong.ctx.shared.authenticated_groups = %#v, want %#v (a list, as acl/groups.lua reads it)", got, want)
		}
		if v, _ := upstreamValue(res, "X-User-ID"); v != "u-acl" {
			t.Errorf("X-User-ID = %q, want u-acl", v)
		}

		res = access(t, shared, pOff, off, request("Authorization", token))
		wantProxied(t, res, "X-User-ID", "u-acl", "X-User-Roles", "admin,editor")
		t.Logf("acl_groups off, %s: PDK calls %v, kong.ctx.shared %v", phase, res.Calls, res.Shared)
		if _, ok := res.Shared["authenticated_groups"]; ok {
			t.Errorf("acl_groups off but kong.ctx.shared.authenticated_groups = %v", res.Shared["authenticated_groups"])
		}
	}

	// A user without roles belongs to no group: an empty table (which
	// ACL's allow list then refuses), never a leftover or a string.
	none := newToken("aclnone")
	a.Set(none, fakerails.OK("u-none"))
	res := access(t, shared, pOn, on, request("Authorization", none, "X-User-Roles", "admin"))
	if res.Exit != nil {
		t.Fatalf("user without roles: %s", describe(res))
	}
	g, present := res.Shared["authenticated_groups"]
	t.Logf("acl_groups on, user without roles: PDK calls %d, authenticated_groups %#v (set: %t), upstream roles %v",
		len(res.Calls), g, present, spellings(res.Upstream, "X-User-Roles"))
	switch v := g.(type) {
	case []any:
		if len(v) != 0 {
			t.Errorf("authenticated_groups = %v, want empty", v)
		}
	case map[string]any: // an empty Lua table reads back as a map
		if len(v) != 0 {
			t.Errorf("authenticated_groups = %v, want empty", v)
		}
	case nil:
		// Not set at all: also no groups for the ACL plugin.
	default:
		t.Errorf("authenticated_groups = %#v, want an empty list", g)
	}
	if h := spellings(res.Upstream, "X-User-Roles"); len(h) != 0 {
		t.Errorf("user without roles: upstream roles %v, want none", h)
	}
}

// TestAllowAnonymous: a request without any credential is proxied without
// identity headers (the client's copies removed) and without an auth call;
// credentials are still checked.
func TestAllowAnonymous(t *testing.T) {
	a := newAuth(t)
	good := newToken("anon")
	a.Set(good, fakerails.OK("u-known", "r"))
	cfg := config(t, map[string]any{"auth_url": a.url, "allow_anonymous": true})
	p := newPlugin()

	res := access(t, shared, p, cfg, request("X-User-ID", "evil", "x_user_id", "evil2", "X-User-Roles", "admin", "X_USER_ROLES", "root"))
	if res.Exit != nil {
		t.Fatalf("anonymous request: %s", describe(res))
	}
	t.Logf("anonymous: upstream %v, PDK calls %v, auth calls %d", res.Upstream, res.Calls, a.Calls())
	for _, name := range []string{"X-User-ID", "X-User-Roles"} {
		if h := spellings(res.Upstream, name); len(h) != 0 {
			t.Errorf("anonymous request carries %v upstream, want no %s at all", h, name)
		}
	}
	if !slices.Equal(res.Calls, callsProxied) {
		t.Errorf("PDK calls = %v, want %v", res.Calls, callsProxied)
	}
	if a.Calls() != 0 {
		t.Errorf("anonymous request called the auth service %d times", a.Calls())
	}

	wantProxied(t, access(t, shared, p, cfg, request("Authorization", good, "X-User-ID", "evil")), "X-User-ID", "u-known", "X-User-Roles", "r")
	wantExit(t, access(t, shared, p, cfg, request("Authorization", newToken("anonbad"))), 401, "Invalid credentials")
}

// TestTLSAuthService: an https auth service whose CA is given in
// tls_ca_file works; without it the certificate is not trusted and the
// request gets 503 (fail closed); tls_verify false accepts it.
func TestTLSAuthService(t *testing.T) {
	a := newTLSAuth(t)
	trusted, untrusted, unverified := newToken("tls"), newToken("tls"), newToken("tls")
	for _, tok := range []string{trusted, untrusted, unverified} {
		a.Set(tok, fakerails.OK("u-tls", "secure"))
	}

	withCA := config(t, map[string]any{"auth_url": a.url(t, "ca"), "tls_ca_file": a.caFile})
	res := access(t, shared, newPlugin(), withCA, request("Authorization", trusted))
	wantProxied(t, res, "X-User-ID", "u-tls", "X-User-Roles", "secure")
	t.Logf("https with tls_ca_file: %s; auth calls %d", summary(res), a.Calls())

	calls := a.Calls()
	noCA := config(t, map[string]any{"auth_url": a.url(t, "noca")})
	res = access(t, shared, newPlugin(), noCA, request("Authorization", untrusted))
	wantExit(t, res, 503, "Authentication service unavailable")
	if a.Calls() != calls {
		t.Errorf("the auth service answered %d requests over an untrusted connection", a.Calls()-calls)
	}
	// Logs show the auth_url without its query string: find the line by address.
	line, _ := waitOutput(sharedOut, "auth service call failed", strings.TrimPrefix(a.srv.URL, "https://"))
	t.Logf("https without tls_ca_file: exit %d; plugin: %s", res.Exit.Status, line)
	if !strings.Contains(line, "certificate") {
		t.Errorf("failure line does not name the certificate problem: %q", line)
	}

	insecure := config(t, map[string]any{"auth_url": a.url(t, "noverify"), "tls_verify": false})
	res = access(t, shared, newPlugin(), insecure, request("Authorization", unverified))
	wantProxied(t, res, "X-User-ID", "u-tls", "X-User-Roles", "secure")
	t.Logf("https with tls_verify false: proxied")
}

// TestIdentityJWT: with jwt_header and an Ed25519 jwt_key_file, the
// upstream receives a token that verifies with the public key and carries
// the identity; a client-sent token never passes.
func TestIdentityJWT(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := writePKCS8(t, priv)
	a := newAuth(t)
	token := newToken("jwt")
	a.Set(token, fakerails.OK("u-jwt", "admin", "editor"))
	cfg := config(t, map[string]any{"auth_url": a.url, "jwt_header": "X-Identity-Token", "jwt_key_file": keyFile,
		"jwt_audience": "orders-api"})
	p := newPlugin()

	type claims struct {
		Roles []string `json:"roles"`
		jwt.RegisteredClaims
	}
	for _, phase := range []string{"miss", "hit"} {
		res := access(t, shared, p, cfg, request("Authorization", token, "X-Identity-Token", "forged.token.value", "x_identity_token", "forged2"))
		wantProxied(t, res, "X-User-ID", "u-jwt", "X-User-Roles", "admin,editor")
		hs := spellings(res.Upstream, "X-Identity-Token")
		if len(hs) != 1 || strings.HasPrefix(hs[0].Value, "forged") {
			t.Fatalf("upstream X-Identity-Token = %v, want exactly the plugin's token", hs)
		}
		var c claims
		tok, err := jwt.ParseWithClaims(hs[0].Value, &c, func(*jwt.Token) (any, error) { return pub, nil },
			jwt.WithValidMethods([]string{"EdDSA"}), jwt.WithIssuer("kong-legacy-auth"), jwt.WithAudience("orders-api"),
			jwt.WithExpirationRequired(), jwt.WithIssuedAt(), jwt.WithLeeway(5*time.Second))
		if err != nil {
			t.Fatalf("%s: upstream token does not verify: %v", phase, err)
		}
		t.Logf("%s: token alg=%v kid=%v sub=%s roles=%v iss=%s aud=%v ttl=%v", phase, tok.Header["alg"], tok.Header["kid"],
			c.Subject, c.Roles, c.Issuer, c.Audience, c.ExpiresAt.Sub(c.IssuedAt.Time))
		if c.Subject != "u-jwt" || !slices.Equal(c.Roles, []string{"admin", "editor"}) {
			t.Errorf("claims sub=%q roles=%v, want u-jwt [admin editor]", c.Subject, c.Roles)
		}
	}

	// A token signed with another key does not verify with this one.
	otherPub, _, _ := ed25519.GenerateKey(rand.Reader)
	res := access(t, shared, p, cfg, request("Authorization", token))
	v, _ := upstreamValue(res, "X-Identity-Token")
	if _, err := jwt.Parse(v, func(*jwt.Token) (any, error) { return otherPub, nil }, jwt.WithValidMethods([]string{"EdDSA"})); err == nil {
		t.Errorf("the token verified with an unrelated key")
	}
}
