package plugin

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/legacy-auth/legacy-auth/test/testutil"
)

// recordingService answers every call with body and records the credential headers.
func recordingService(t *testing.T, body string) (*httptest.Server, *atomic.Int64, *atomic.Pointer[http.Header]) {
	t.Helper()
	var calls atomic.Int64
	var last atomic.Pointer[http.Header]
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		h := r.Header.Clone()
		last.Store(&h)
		if r.Header.Get("Authorization") == "" && r.Header.Get("Cookie") == "" {
			w.WriteHeader(401)
			return
		}
		fmt.Fprint(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv, &calls, &last
}

func TestSessionCookies(t *testing.T) {
	t.Parallel()
	srv, calls, last := recordingService(t, `{"user_id":"s1","roles":["user"]}`)
	cfg := &Config{AuthURL: srv.URL, CookieNames: []string{"_app_session", "remember_me"}}

	e := run(t, cfg, http.Header{"Cookie": {"tracking=abc; _app_session=s3ss10n; theme=dark"}})
	if got := e.ServiceReq.Headers.Get("X-User-ID"); got != "s1" {
		t.Fatalf("cookie session: X-User-ID %q (status %d %s)", got, e.ClientRes.Status, e.ClientRes.Body)
	}
	h := *last.Load()
	if h.Get("Cookie") != "_app_session=s3ss10n" || h.Get("Authorization") != "" {
		t.Errorf("auth service got Cookie %q Authorization %q; want only the session cookie", h.Get("Cookie"), h.Get("Authorization"))
	}

	// Both credentials: both forwarded, the cookies in cookie_names order
	// (the canonical form); a different session is a different cache entry.
	run(t, cfg, http.Header{"Authorization": {"Bearer t"}, "Cookie": {"remember_me=r1", "_app_session=s2"}})
	h = *last.Load()
	if h.Get("Cookie") != "_app_session=s2; remember_me=r1" || h.Get("Authorization") != "Bearer t" {
		t.Errorf("auth service got Cookie %q Authorization %q", h.Get("Cookie"), h.Get("Authorization"))
	}
	run(t, cfg, http.Header{"Cookie": {"_app_session=s3ss10n"}}) // cached
	run(t, cfg, http.Header{"Cookie": {"_app_session=other"}})   // new session
	if calls.Load() != 3 {
		t.Errorf("%d auth calls, want 3 (the cache key covers every forwarded credential)", calls.Load())
	}

	// Neither credential: the original 401.
	e = run(t, cfg, http.Header{"Cookie": {"tracking=abc"}})
	if e.ClientRes.Status != 401 || exitMessage(t, e) != "Authorization header is missing" {
		t.Errorf("no credential: %d %s", e.ClientRes.Status, e.ClientRes.Body)
	}
	// Cookies are not credentials unless configured.
	e = run(t, &Config{AuthURL: srv.URL}, http.Header{"Cookie": {"_app_session=s3ss10n"}})
	if e.ClientRes.Status != 401 {
		t.Errorf("cookie accepted without cookie_names: %d", e.ClientRes.Status)
	}
}

func TestExtraHeaders(t *testing.T) {
	t.Parallel()
	srv, _, _ := recordingService(t, `{"user_id":"u1","email":"u1@example.com","account_id":9007199254740993,"admin":true}`)
	extras := map[string]string{"email": "X-User-Email", "account_id": "X-Account-ID", "plan": "X-Plan", "admin": "X-Admin"}

	// A configuration without extras caches the identity first: it must not
	// be served to the one that needs the extra fields.
	run(t, &Config{AuthURL: srv.URL}, http.Header{"Authorization": {"Bearer x"}})

	h := http.Header{"Authorization": {"Bearer x"}, "X_User_Email": {"spoof@evil"}, "X-Plan": {"gold"}}
	for _, pass := range []string{"miss", "hit"} {
		e := run(t, &Config{AuthURL: srv.URL, ExtraHeaders: extras}, h)
		got := e.ServiceReq.Headers
		if got.Get("X-User-Email") != "u1@example.com" || got.Get("X-Account-ID") != "9007199254740993" || got.Get("X-Admin") != "true" {
			t.Errorf("%s: extra headers %v", pass, got)
		}
		if v := got.Values("X_user_email"); len(v) != 0 {
			t.Errorf("%s: spoofed X_User_Email reached the upstream: %v", pass, v)
		}
		if v := got.Values("X-Plan"); len(v) != 0 {
			t.Errorf("%s: client's X-Plan kept although the answer has no plan: %v", pass, v)
		}
	}

	for body, name := range map[string]string{
		`{"user_id":"u1","email":"a\r\nX-Admin: 1"}`: "CRLF",
		`{"user_id":"u1","email":{"x":1}}`:           "object",
	} {
		bad, _, _ := recordingService(t, body)
		e := run(t, &Config{AuthURL: bad.URL, ExtraHeaders: extras}, http.Header{"Authorization": {"Bearer x"}})
		if e.ClientRes.Status != 500 {
			t.Errorf("%s in an extra field: status %d, want 500", name, e.ClientRes.Status)
		}
	}
}

func TestACLGroups(t *testing.T) {
	t.Parallel()
	srv, _, _ := recordingService(t, `{"user_id":"u1","roles":["admin","billing"]}`)
	e := run(t, &Config{AuthURL: srv.URL, ACLGroups: ptr(true)}, http.Header{"Authorization": {"Bearer x"}})
	want := "kong.request.get_header kong.ctx.shared.set kong.service.request.set_headers"
	if got := strings.Join(e.calls, " "); got != want {
		t.Errorf("PDK calls %q, want %q", got, want)
	}
	groups, _ := e.Ctx.Store["authenticated_groups"].([]any)
	if fmt.Sprint(groups) != "[admin billing]" {
		t.Errorf("authenticated_groups = %#v", e.Ctx.Store["authenticated_groups"])
	}
	// Off by default: no extra PDK call.
	e = run(t, &Config{AuthURL: srv.URL}, http.Header{"Authorization": {"Bearer x"}})
	if len(e.calls) != 2 {
		t.Errorf("acl_groups off: %d PDK calls, want 2", len(e.calls))
	}
}

func TestAllowAnonymous(t *testing.T) {
	t.Parallel()
	srv, calls, _ := recordingService(t, `{"user_id":"u1"}`)
	cfg := &Config{AuthURL: srv.URL, AllowAnonymous: ptr(true)}
	e := run(t, cfg, http.Header{"X-User-Id": {"admin"}, "X_user_roles": {"root"}})
	if e.ClientRes.Status >= 400 {
		t.Fatalf("anonymous request refused: %d", e.ClientRes.Status)
	}
	if v := e.ServiceReq.Headers.Values("X-User-ID"); len(v) != 0 {
		t.Errorf("anonymous request carries X-User-ID %v", v)
	}
	if v := e.ServiceReq.Headers.Values("X_user_roles"); len(v) != 0 {
		t.Errorf("anonymous request carries the client's X_User_Roles %v", v)
	}
	if calls.Load() != 0 {
		t.Errorf("anonymous request called the auth service")
	}
	// A bad credential is still refused.
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(401) }))
	defer bad.Close()
	e = run(t, &Config{AuthURL: bad.URL, AllowAnonymous: ptr(true)}, http.Header{"Authorization": {"Bearer wrong"}})
	if e.ClientRes.Status != 401 {
		t.Errorf("bad credential with allow_anonymous: %d, want 401", e.ClientRes.Status)
	}
}

// testPKI is a CA, a server certificate for 127.0.0.1 and a client certificate.
type testPKI struct {
	caFile, clientCert, clientKey string
	serverTLS                     *tls.Config
	caPool                        *x509.CertPool
}

func newTestPKI(t *testing.T) testPKI {
	t.Helper()
	dir := t.TempDir()
	ca := testutil.NewCA(t)
	cliDER, cliKeyDER := ca.Issue(t, "leaf", false)
	srv := ca.ServerTLS(t)
	srv.ClientCAs = nil
	return testPKI{
		caFile:     testutil.WritePEM(t, dir, "ca.pem", "CERTIFICATE", ca.DER),
		clientCert: testutil.WritePEM(t, dir, "client.pem", "CERTIFICATE", cliDER),
		clientKey:  testutil.WritePEM(t, dir, "client-key.pem", "PRIVATE KEY", cliKeyDER),
		serverTLS:  srv,
		caPool:     ca.Pool(),
	}
}

func TestTLSToAuthService(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t)
	handler := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, `{"user_id":"tls"}`) })

	plain := httptest.NewUnstartedServer(handler)
	plain.TLS = pki.serverTLS.Clone()
	plain.StartTLS()
	defer plain.Close()

	mutual := httptest.NewUnstartedServer(handler)
	mutual.TLS = pki.serverTLS.Clone()
	mutual.TLS.ClientAuth = tls.RequireAndVerifyClientCert
	mutual.TLS.ClientCAs = pki.caPool
	mutual.StartTLS()
	defer mutual.Close()

	tests := []struct {
		name   string
		cfg    *Config
		wantID string // "" → 503
	}{
		{"unknown CA refused by default", &Config{AuthURL: plain.URL + "/a"}, ""},
		{"CA bundle", &Config{AuthURL: plain.URL + "/b", TLSCAFile: pki.caFile}, "tls"},
		{"verification off", &Config{AuthURL: plain.URL + "/c", TLSVerify: ptr(false)}, "tls"},
		{"mTLS without client certificate", &Config{AuthURL: mutual.URL + "/d", TLSCAFile: pki.caFile}, ""},
		{"mTLS", &Config{AuthURL: mutual.URL + "/e", TLSCAFile: pki.caFile, TLSCertFile: pki.clientCert, TLSKeyFile: pki.clientKey}, "tls"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.BreakerThreshold = ptr(0)
			e := run(t, cfg, http.Header{"Authorization": {"Bearer tls-" + tc.name}})
			if tc.wantID == "" {
				if e.ClientRes.Status != 503 {
					t.Errorf("status %d, want 503", e.ClientRes.Status)
				}
				return
			}
			if got := e.ServiceReq.Headers.Get("X-User-ID"); got != tc.wantID {
				t.Errorf("X-User-ID %q (status %d %s)", got, e.ClientRes.Status, e.ClientRes.Body)
			}
		})
	}

	// Bad TLS material is a configuration error naming the field.
	for field, cfg := range map[string]*Config{
		"tls_ca_file":   {AuthURL: plain.URL, TLSCAFile: "/nonexistent/ca.pem"},
		"tls_cert_file": {AuthURL: plain.URL, TLSCertFile: pki.clientCert},
	} {
		if _, err := cfg.resolve(); err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("%s: settings error %v, want one naming the field", field, err)
		}
	}
}

func TestSignedIdentity(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(priv)
	keyFile := testutil.WritePEM(t, dir, "ed25519.pem", "PRIVATE KEY", der)

	srv, _, _ := recordingService(t, `{"user_id":"42","roles":["admin"],"email":"a@b.c"}`)
	cfg := &Config{AuthURL: srv.URL, JWTHeader: "X-Identity-Token", JWTKeyFile: keyFile, JWTAudience: "axum-push",
		ExtraHeaders: map[string]string{"email": "X-User-Email"}}
	h := http.Header{"Authorization": {"Bearer jwt"}, "X-Identity-Token": {"forged"}}
	first := run(t, cfg, h).ServiceReq.Headers.Get("X-Identity-Token")
	second := run(t, cfg, h).ServiceReq.Headers.Get("X-Identity-Token")
	if first == "" || first == "forged" {
		t.Fatalf("no gateway token upstream: %q", first)
	}
	if second != first {
		t.Errorf("token minted again on a cache hit; want one token per cached identity")
	}

	var claims struct {
		Roles []string          `json:"roles"`
		Extra map[string]string `json:"ext"`
		jwt.RegisteredClaims
	}
	tok, err := jwt.ParseWithClaims(first, &claims, func(*jwt.Token) (any, error) { return pub, nil },
		jwt.WithValidMethods([]string{"EdDSA"}), jwt.WithIssuer(DefaultJWTIssuer), jwt.WithAudience("axum-push"))
	if err != nil || !tok.Valid {
		t.Fatalf("token does not verify with the public key: %v", err)
	}
	if claims.Subject != "42" || fmt.Sprint(claims.Roles) != "[admin]" || claims.Extra["email"] != "a@b.c" {
		t.Errorf("claims %+v", claims)
	}
	if ttl := claims.ExpiresAt.Sub(claims.IssuedAt.Time); ttl != DefaultJWTTTL*time.Second {
		t.Errorf("token lifetime %v", ttl)
	}

	// Shortly before expiry a new token replaces the memoized one: the
	// core's TestTokenRefreshedBeforeExpiry.

	// Key types: ES256 and RS256 work; small RSA keys and a header without a key do not.
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalECPrivateKey(ec)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	smallRSA, _ := rsa.GenerateKey(rand.Reader, 1024)
	for name, tc := range map[string]struct {
		file string
		ok   bool
	}{
		"ES256":    {testutil.WritePEM(t, dir, "ec.pem", "EC PRIVATE KEY", ecDER), true},
		"RS256":    {testutil.WritePEM(t, dir, "rsa.pem", "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey)), true},
		"RSA 1024": {testutil.WritePEM(t, dir, "small.pem", "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(smallRSA)), false},
		"no key":   {"", false},
	} {
		_, err := (&Config{AuthURL: srv.URL, JWTHeader: "X-Identity-Token", JWTKeyFile: tc.file}).resolve()
		if (err == nil) != tc.ok {
			t.Errorf("%s: settings error %v, want ok=%v", name, err, tc.ok)
		}
	}
}
