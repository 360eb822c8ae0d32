package plugin

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Kong/go-pdk"
	"github.com/Kong/go-pdk/bridge/bridgetest"
	"github.com/Kong/go-pdk/test"
	"github.com/legacy-auth/legacy-auth/internal/identity"
)

// countingEnv is go-pdk's simulated Kong with a count of the PDK calls the
// handler makes: each is a round trip to Kong in production.
type countingEnv struct {
	*test.TestEnv
	mu    sync.Mutex
	calls []string
}

func (e *countingEnv) Handle(method string, args []byte) []byte {
	e.mu.Lock()
	e.calls = append(e.calls, method)
	e.mu.Unlock()
	return e.TestEnv.Handle(method, args)
}

// run sends one request with the given headers through cfg.Access.
func run(t *testing.T, cfg *Config, headers http.Header) *countingEnv {
	t.Helper()
	env, err := test.New(t, test.Request{Method: "GET", Url: "http://example.com/orders", Headers: headers})
	if err != nil {
		t.Fatalf("test env: %v", err)
	}
	ce := &countingEnv{TestEnv: env}
	cfg.Access(pdk.Init(bridgetest.MockFunc(ce)))
	return ce
}

// authService is a scriptable Rails verify endpoint: answers by token.
type authService struct {
	*httptest.Server
	calls   atomic.Int64
	mu      sync.Mutex
	lastReq *http.Request
}

type answer struct {
	status int
	body   string
	delay  time.Duration
}

func newAuthService(t *testing.T, answers map[string]answer) *authService {
	t.Helper()
	a := &authService{}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.calls.Add(1)
		a.mu.Lock()
		a.lastReq = r.Clone(r.Context())
		a.mu.Unlock()
		ans, ok := answers[r.Header.Get("Authorization")]
		if !ok {
			ans = answer{status: 401, body: `{"error":"unknown token"}`}
		}
		if ans.delay > 0 {
			select {
			case <-time.After(ans.delay):
			case <-r.Context().Done():
				return
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(ans.status)
		io.WriteString(w, ans.body)
	}))
	t.Cleanup(a.Close)
	return a
}

func (a *authService) last() *http.Request {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.lastReq
}

func ptr[T any](v T) *T { return &v }

func exitMessage(t *testing.T, e *countingEnv) string {
	t.Helper()
	var body struct{ Message string }
	if err := json.Unmarshal(e.ClientRes.Body, &body); err != nil {
		t.Fatalf("exit body %q is not JSON: %v", e.ClientRes.Body, err)
	}
	return body.Message
}

// TestAccessContract checks every row of the Lua original's access contract.
func TestAccessContract(t *testing.T) {
	t.Parallel()
	svc := newAuthService(t, map[string]answer{
		"Bearer alice":     {status: 200, body: `{"user_id": "alice-1", "roles": ["admin", "editor"]}`},
		"Bearer bignum":    {status: 200, body: `{"user_id": 9007199254740993, "roles": []}`},
		"Bearer noroles":   {status: 200, body: `{"user_id": 7}`},
		"Bearer forbidden": {status: 403, body: `{}`},
		"Bearer crash":     {status: 500, body: `oops`},
		"Bearer redirect":  {status: 302, body: ``},
		"Bearer notjson":   {status: 200, body: `<html>`},
		"Bearer noid":      {status: 200, body: `{"roles": ["x"]}`},
		"Bearer floatid":   {status: 200, body: `{"user_id": 1.5}`},
		"Bearer crlf":      {status: 200, body: `{"user_id": "1\r\nX-Admin: yes"}`},
		"Bearer commarole": {status: 200, body: `{"user_id": "1", "roles": ["a,b"]}`},
		"Bearer badroles":  {status: 200, body: `{"user_id": "1", "roles": "admin"}`},
		"Bearer slow":      {status: 200, body: `{"user_id": "1"}`, delay: 2 * time.Second},
	})

	tests := []struct {
		name       string
		auth       []string
		wantStatus int // 0: proxied
		wantMsg    string
		wantID     string
		wantRoles  string
	}{
		{name: "no Authorization header", wantStatus: 401, wantMsg: "Authorization header is missing"},
		{name: "empty Authorization header", auth: []string{"  "}, wantStatus: 401, wantMsg: "Authorization header is missing"},
		{name: "valid token", auth: []string{"Bearer alice"}, wantID: "alice-1", wantRoles: "admin,editor"},
		{name: "numeric id keeps every digit", auth: []string{"Bearer bignum"}, wantID: "9007199254740993"},
		{name: "no roles", auth: []string{"Bearer noroles"}, wantID: "7"},
		{name: "401 from auth service", auth: []string{"Bearer nobody"}, wantStatus: 401, wantMsg: "Invalid credentials"},
		{name: "403 from auth service", auth: []string{"Bearer forbidden"}, wantStatus: 403, wantMsg: "Invalid credentials"},
		{name: "500 from auth service", auth: []string{"Bearer crash"}, wantStatus: 502, wantMsg: "Bad response from authentication service"},
		{name: "redirect is not followed", auth: []string{"Bearer redirect"}, wantStatus: 502, wantMsg: "Bad response from authentication service"},
		{name: "200 not JSON", auth: []string{"Bearer notjson"}, wantStatus: 500, wantMsg: "Invalid response from authentication service"},
		{name: "200 without user_id", auth: []string{"Bearer noid"}, wantStatus: 500, wantMsg: "Invalid response from authentication service"},
		{name: "200 with fractional id", auth: []string{"Bearer floatid"}, wantStatus: 500, wantMsg: "Invalid response from authentication service"},
		{name: "CR LF in user id", auth: []string{"Bearer crlf"}, wantStatus: 500, wantMsg: "Invalid response from authentication service"},
		{name: "comma inside a role", auth: []string{"Bearer commarole"}, wantStatus: 500, wantMsg: "Invalid response from authentication service"},
		{name: "roles not an array", auth: []string{"Bearer badroles"}, wantStatus: 500, wantMsg: "Invalid response from authentication service"},
		{name: "slower than timeout", auth: []string{"Bearer slow"}, wantStatus: 503, wantMsg: "Authentication service unavailable"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// The breaker is off: this table fails the same auth service on purpose.
			cfg := &Config{AuthURL: svc.URL + "/internal/auth/verify", Timeout: ptr(300.0), CacheTTL: ptr(0.0), BreakerThreshold: ptr(0)}
			h := http.Header{}
			for _, v := range tc.auth {
				h.Add("Authorization", v)
			}
			// The slow row's 503 is the proof that timeout bounds the call
			// (the answer would come later, with a 200); latency figures
			// are make bench's.
			e := run(t, cfg, h)
			if tc.wantStatus != 0 {
				if e.ClientRes.Status != tc.wantStatus {
					t.Fatalf("status = %d, want %d (body %s)", e.ClientRes.Status, tc.wantStatus, e.ClientRes.Body)
				}
				if got := exitMessage(t, e); got != tc.wantMsg {
					t.Errorf("message = %q, want %q", got, tc.wantMsg)
				}
				if ct := e.ClientRes.Headers.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
					t.Errorf("exit Content-Type = %q, want application/json", ct)
				}
				return
			}
			if e.ClientRes.Status >= 400 {
				t.Fatalf("request was answered %d %s, want proxied", e.ClientRes.Status, e.ClientRes.Body)
			}
			if got := e.ServiceReq.Headers.Get("X-User-ID"); got != tc.wantID {
				t.Errorf("X-User-ID = %q, want %q", got, tc.wantID)
			}
			if got := e.ServiceReq.Headers.Values("X-User-Roles"); strings.Join(got, "|") != tc.wantRoles {
				t.Errorf("X-User-Roles = %q, want %q", got, tc.wantRoles)
			}
		})
	}
}

// TestAuthServiceRequest checks what the auth service receives: the
// configured method, the client's credential in its canonical form ("Token
// abc" is read by Rails as the token abc: "Bearer abc"), a JSON content type.
func TestAuthServiceRequest(t *testing.T) {
	t.Parallel()
	for _, method := range []string{"GET", "POST"} {
		t.Run(method, func(t *testing.T) {
			t.Parallel()
			svc := newAuthService(t, map[string]answer{"Bearer abc": {status: 200, body: `{"user_id":"1"}`}})
			cfg := &Config{AuthURL: svc.URL + "/verify", AuthMethod: method}
			run(t, cfg, http.Header{"Authorization": {"Token abc"}})
			r := svc.last()
			if r == nil {
				t.Fatal("auth service was not called")
			}
			if r.Method != method || r.URL.Path != "/verify" {
				t.Errorf("auth call = %s %s, want %s /verify", r.Method, r.URL.Path, method)
			}
			if got := r.Header.Get("Authorization"); got != "Bearer abc" {
				t.Errorf("Authorization = %q", got)
			}
			if got := r.Header.Get("Content-Type"); got != "application/json" {
				t.Errorf("Content-Type = %q", got)
			}
		})
	}
}

func TestAuthServiceDown(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now: connection refused
	e := run(t, &Config{AuthURL: "http://" + addr + "/verify"}, http.Header{"Authorization": {"Bearer x"}})
	if e.ClientRes.Status != 503 || exitMessage(t, e) != "Authentication service unavailable" {
		t.Fatalf("got %d %s, want 503 Authentication service unavailable", e.ClientRes.Status, e.ClientRes.Body)
	}
}

// TestCache checks cache-first behaviour, the PDK-call budget and TTL 0.
func TestCache(t *testing.T) {
	t.Parallel()
	svc := newAuthService(t, map[string]answer{"Bearer carol": {status: 200, body: `{"user_id":"c","roles":["r"]}`}})
	h := http.Header{"Authorization": {"Bearer carol"}}

	cfg := &Config{AuthURL: svc.URL} // cache_ttl unset: default 300 s, caching on
	miss := run(t, cfg, h)
	hit := run(t, cfg, h)
	if n := svc.calls.Load(); n != 1 {
		t.Fatalf("auth calls = %d after a miss and a hit, want 1", n)
	}
	if got := hit.ServiceReq.Headers.Get("X-User-ID"); got != "c" {
		t.Errorf("hit X-User-ID = %q, want c", got)
	}
	for name, e := range map[string]*countingEnv{"miss": miss, "hit": hit} {
		want := []string{"kong.request.get_header", "kong.service.request.set_headers"}
		if strings.Join(e.calls, " ") != strings.Join(want, " ") {
			t.Errorf("%s PDK calls = %v, want %v", name, e.calls, want)
		}
	}

	// A new instance with the same settings (what Kong starts on every
	// plugin-iterator rebuild) reads the same process-wide cache.
	run(t, &Config{AuthURL: svc.URL}, h)
	if n := svc.calls.Load(); n != 1 {
		t.Errorf("auth calls = %d after a new instance, want 1 (cache must outlive instances)", n)
	}

	// Explicit 0 disables caching; it is not the same as unset.
	off := &Config{AuthURL: svc.URL, CacheTTL: ptr(0.0)}
	run(t, off, h)
	run(t, off, h)
	if n := svc.calls.Load(); n != 3 {
		t.Errorf("auth calls = %d with cache_ttl 0, want 3", n)
	}
}

// TestCacheScope: answers of one auth service are never served for another.
func TestCacheScope(t *testing.T) {
	t.Parallel()
	a := newAuthService(t, map[string]answer{"Bearer shared": {status: 200, body: `{"user_id":"from-a"}`}})
	b := newAuthService(t, map[string]answer{"Bearer shared": {status: 200, body: `{"user_id":"from-b"}`}})
	h := http.Header{"Authorization": {"Bearer shared"}}
	run(t, &Config{AuthURL: a.URL}, h)
	got := run(t, &Config{AuthURL: b.URL}, h).ServiceReq.Headers.Get("X-User-ID")
	if got != "from-b" {
		t.Errorf("auth_url b got X-User-ID %q, want from-b", got)
	}
	got = run(t, &Config{AuthURL: a.URL, AuthMethod: "GET"}, h).ServiceReq.Headers.Get("X-User-ID")
	if a.calls.Load() != 2 || got != "from-a" {
		t.Errorf("a different auth_method must not share the cache: calls %d, id %q", a.calls.Load(), got)
	}
}

func TestPDKCallsOnRejections(t *testing.T) {
	t.Parallel()
	svc := newAuthService(t, nil)
	want := "kong.request.get_header kong.response.exit"
	for name, h := range map[string]http.Header{
		"missing":  {},
		"rejected": {"Authorization": {"Bearer nope"}},
	} {
		e := run(t, &Config{AuthURL: svc.URL}, h)
		if got := strings.Join(e.calls, " "); got != want {
			t.Errorf("%s: PDK calls = %q, want %q", name, got, want)
		}
	}
}

// TestSpoofedHeaders: identity headers reach the upstream only from the
// plugin, whatever spelling the client used.
func TestSpoofedHeaders(t *testing.T) {
	t.Parallel()
	svc := newAuthService(t, map[string]answer{
		"Bearer eve":     {status: 200, body: `{"user_id":"eve"}`}, // no roles: the original leaked the client's
		"Bearer mallory": {status: 200, body: `{"user_id":"m","roles":["user"]}`},
	})
	spoof := func(auth string) http.Header {
		return http.Header{
			"Authorization": {auth},
			"X-User-Id":     {"admin-0"},
			"X_user_id":     {"admin-1"},
			"X-User-Roles":  {"superuser"},
			"X_user_roles":  {"superuser"},
			"X-Custom-Id":   {"kept"},
		}
	}
	for _, tc := range []struct{ name, custom, customRoles string }{
		{name: "default names"},
		{name: "custom names", custom: "X-Account", customRoles: "X-Account-Roles"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := &Config{AuthURL: svc.URL, UserIDHeader: tc.custom, UserRolesHeader: tc.customRoles}
			idName, rolesName := orDefault(tc.custom, "X-User-ID"), orDefault(tc.customRoles, "X-User-Roles")
			for _, auth := range []string{"Bearer eve", "Bearer mallory"} {
				h := spoof(auth)
				h.Set(idName, "spoofed")
				h[strings.ReplaceAll(idName, "-", "_")] = []string{"spoofed_"}
				h.Set(rolesName, "spoofed")
				h[strings.ReplaceAll(rolesName, "-", "_")] = []string{"spoofed_"}
				for _, ok := range []bool{false, true} { // miss, then cache hit
					_ = ok
					e := run(t, cfg, h)
					for name, values := range e.ServiceReq.Headers {
						if !identity.HeaderNameEqual(name, idName) && !identity.HeaderNameEqual(name, rolesName) {
							continue
						}
						for _, v := range values {
							if strings.Contains(v, "spoofed") || strings.Contains(v, "admin") || v == "superuser" && tc.custom == "" {
								t.Errorf("%s: client value %s: %q reached the upstream", auth, name, v)
							}
						}
					}
					if got := e.ServiceReq.Headers.Get("X-Custom-Id"); got != "kept" {
						t.Errorf("unrelated header X-Custom-Id = %q, want kept", got)
					}
				}
			}
		})
	}
}

func TestOversizedCredential(t *testing.T) {
	t.Parallel()
	svc := newAuthService(t, nil)
	e := run(t, &Config{AuthURL: svc.URL}, http.Header{"Authorization": {"Bearer " + strings.Repeat("a", 9000)}})
	if e.ClientRes.Status != 401 || svc.calls.Load() != 0 {
		t.Fatalf("status %d with %d auth calls, want 401 without calling the auth service", e.ClientRes.Status, svc.calls.Load())
	}
}

// TestTooManyHeaders: a plan that reads the whole header list refuses a
// list Kong truncated (a spoofed header could hide past the end); one that
// reads only the credential has no such limit, since it clears every
// spelling of the managed names without looking.
func TestTooManyHeaders(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		cfg        func(url string) *Config
		wantStatus int // 0: proxied
		wantRead   string
	}{
		{name: "credential read", cfg: func(u string) *Config { return &Config{AuthURL: u} },
			wantRead: "kong.request.get_header"},
		{name: "list read (session cookies)", cfg: func(u string) *Config { return &Config{AuthURL: u, CookieNames: []string{"_s"}} },
			wantStatus: 431, wantRead: "kong.request.get_headers"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			svc := newAuthService(t, map[string]answer{"Bearer x": {status: 200, body: `{"user_id":"1"}`}})
			h := http.Header{"Authorization": {"Bearer x"}}
			for i := 0; i < identity.MaxRequestHeaders; i++ {
				h.Set(fmt.Sprintf("X-Filler-%d", i), "v")
			}
			e := run(t, tc.cfg(svc.URL), h)
			if len(e.calls) == 0 || e.calls[0] != tc.wantRead {
				t.Errorf("PDK calls %v, want a first %s", e.calls, tc.wantRead)
			}
			if tc.wantStatus != 0 {
				if e.ClientRes.Status != tc.wantStatus || svc.calls.Load() != 0 {
					t.Fatalf("status %d with %d auth calls, want %d without calling the auth service", e.ClientRes.Status, svc.calls.Load(), tc.wantStatus)
				}
				return
			}
			if e.ClientRes.Status != 0 || e.ServiceReq.Headers.Get("X-User-ID") != "1" {
				t.Fatalf("status %d, X-User-ID %q: want proxied as user 1", e.ClientRes.Status, e.ServiceReq.Headers.Get("X-User-ID"))
			}
		})
	}
}

// TestMultipleAuthorization: nginx refuses two Authorization lines with 400
// before Kong runs, so only a list read can see them; it refuses them too.
func TestMultipleAuthorization(t *testing.T) {
	t.Parallel()
	svc := newAuthService(t, nil)
	cfg := &Config{AuthURL: svc.URL, CookieNames: []string{"_s"}}
	e := run(t, cfg, http.Header{"Authorization": {"Bearer a", "Bearer b"}})
	if e.ClientRes.Status != 400 || exitMessage(t, e) != "Multiple Authorization headers" || svc.calls.Load() != 0 {
		t.Fatalf("got %d %s with %d auth calls, want 400 Multiple Authorization headers", e.ClientRes.Status, e.ClientRes.Body, svc.calls.Load())
	}
}

// TestSecrets: the token appears in no log line and is not a cache key.
func TestSecrets(t *testing.T) {
	var logs bytes.Buffer
	SetLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	t.Cleanup(func() { SetLogger(slog.New(slog.NewTextHandler(io.Discard, nil))) })

	const token = "Bearer s3cr3t-token-value"
	svc := newAuthService(t, map[string]answer{token: {status: 200, body: `{"user_id":"1"}`}})
	cfg := &Config{AuthURL: svc.URL}
	run(t, cfg, http.Header{"Authorization": {token}})
	// Failure paths log: make some.
	run(t, &Config{AuthURL: "http://127.0.0.1:1/verify"}, http.Header{"Authorization": {token}})
	bad := newAuthService(t, map[string]answer{token: {status: 500}})
	run(t, &Config{AuthURL: bad.URL}, http.Header{"Authorization": {token}})

	if logs.Len() == 0 {
		t.Fatal("expected failure log lines, got none")
	}
	if strings.Contains(logs.String(), "s3cr3t") {
		t.Errorf("token leaked into logs:\n%s", logs.String())
	}
	// The cache keys are the core's: internal/identity TestCacheKeysAreHashed.
}

func TestInvalidConfig(t *testing.T) {
	var logs bytes.Buffer
	SetLogger(slog.New(slog.NewTextHandler(&logs, nil)))
	t.Cleanup(func() { SetLogger(slog.New(slog.NewTextHandler(io.Discard, nil))) })

	tests := []struct {
		name   string
		json   string
		fields []string
	}{
		{"missing auth_url", `{}`, []string{"auth_url"}},
		{"ftp url", `{"auth_url":"ftp://x/"}`, []string{"auth_url"}},
		{"bad method", `{"auth_url":"http://x/","auth_method":"PUT"}`, []string{"auth_method"}},
		{"zero timeout", `{"auth_url":"http://x/","timeout":0}`, []string{"timeout"}},
		{"negative ttl", `{"auth_url":"http://x/","cache_ttl":-1}`, []string{"cache_ttl"}},
		{"wrong types", `{"auth_url":42,"timeout":"2000"}`, []string{"auth_url", "timeout"}},
		{"bad header name", `{"auth_url":"http://x/","user_id_header":"X User"}`, []string{"user_id_header"}},
		{"reserved header", `{"auth_url":"http://x/","user_roles_header":"authorization"}`, []string{"user_roles_header"}},
		// Kong's nginx template overwrites these after the access phase.
		{"header Kong sets: X-Forwarded-Host", `{"auth_url":"http://x/","user_id_header":"X-Forwarded-Host"}`, []string{"user_id_header"}},
		{"header Kong sets: x_real_ip as an extra", `{"auth_url":"http://x/","extra_headers":{"email":"x_real_ip"}}`, []string{"extra_headers"}},
		{"header Kong sets: VIA as the token", `{"auth_url":"http://x/","jwt_header":"VIA","jwt_key_file":"/nonexistent"}`, []string{"jwt_header"}},
		{"header Kong sets: X-Kong-Request-Id", `{"auth_url":"http://x/","user_roles_header":"X-Kong-Request-Id"}`, []string{"user_roles_header"}},
		{"same headers", `{"auth_url":"http://x/","user_id_header":"X-A","user_roles_header":"x_a"}`, []string{"user_roles_header"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			logs.Reset()
			cfg := New().(*Config)
			if err := json.Unmarshal([]byte(tc.json), cfg); err != nil {
				t.Fatalf("UnmarshalJSON must not fail (go-pdk would refuse the instance): %v", err)
			}
			e := run(t, cfg, http.Header{"Authorization": {"Bearer x"}})
			run(t, cfg, http.Header{"Authorization": {"Bearer x"}})
			if e.ClientRes.Status != 500 {
				t.Fatalf("status = %d, want 500", e.ClientRes.Status)
			}
			if n := strings.Count(logs.String(), "invalid configuration"); n != 1 {
				t.Errorf("%d log lines about the config, want exactly 1:\n%s", n, logs.String())
			}
			for _, f := range tc.fields {
				if !strings.Contains(logs.String(), f) {
					t.Errorf("log does not name field %s:\n%s", f, logs.String())
				}
			}
		})
	}
}

// TestConfigFromKong decodes config JSON shaped as Kong sends it: every
// field present (null when unset) plus Kong's bookkeeping keys.
func TestConfigFromKong(t *testing.T) {
	t.Parallel()
	raw := `{"auth_url":"http://rails:3000/verify","auth_method":null,"timeout":null,"cache_ttl":0,
		"user_id_header":null,"user_roles_header":"X-Roles","__seq__":3,"__plugin_id":"abc","route_id":"r1"}`
	cfg := New().(*Config)
	if err := json.Unmarshal([]byte(raw), cfg); err != nil {
		t.Fatal(err)
	}
	rt, err := cfg.compile()
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	if rt.AuthMethod != "POST" || rt.Timeout != 2*time.Second || rt.CacheTTL != 0 ||
		rt.UserIDHeader != "X-User-ID" || rt.UserRolesHeader != "X-Roles" {
		t.Errorf("settings = %+v", rt.Settings)
	}
}
