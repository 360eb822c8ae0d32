package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/legacy-auth/legacy-auth/internal/echo"
	"github.com/legacy-auth/legacy-auth/internal/fakerails"
)

// TestAccessContract runs every row of the access contract through the
// real binary: what the client gets, what the auth service and the
// upstream see, and how many PDK round trips each path costs.
func TestAccessContract(t *testing.T) {
	up := echo.New()
	t.Cleanup(up.Close)

	type row struct {
		name string
		// script sets up the auth service for token; prime runs one request
		// first (and resets the call log) so the row's request is a hit.
		script func(a *authService, token string)
		prime  bool
		// headers are the client's headers (nil: Authorization: token).
		headers func(token string) []string
		conf    map[string]any // extra config fields
		// Expected: an exit (status, message) or, with status 0, proxied.
		status    int
		message   string
		authCalls int // calls the auth service must have received
	}
	ok := func(a *authService, token string) { a.Set(token, fakerails.OK(json.Number("42"), "admin", "editor")) }
	answer := func(status int, body string) func(a *authService, token string) {
		return func(a *authService, token string) { a.Set(token, fakerails.Response{Status: status, Body: body}) }
	}
	deny := func(status int) func(a *authService, token string) {
		return func(a *authService, token string) { a.Set(token, fakerails.Deny(status)) }
	}
	const invalidAnswer = "Invalid response from authentication service"
	rows := []row{
		{name: "missing Authorization", script: ok, headers: func(string) []string { return nil },
			status: 401, message: "Authorization header is missing"},
		{name: "empty Authorization", script: ok, headers: func(string) []string { return []string{"Authorization", "  "} },
			status: 401, message: "Authorization header is missing"},
		{name: "miss", script: ok, authCalls: 1},
		{name: "hit", script: ok, prime: true, authCalls: 0},
		{name: "auth 401", script: deny(401), status: 401, message: "Invalid credentials", authCalls: 1},
		{name: "auth 403", script: deny(403), status: 403, message: "Invalid credentials", authCalls: 1},
		{name: "auth 401 cached", script: deny(401), prime: true, status: 401, message: "Invalid credentials", authCalls: 0},
		{name: "auth 500", script: deny(500), status: 502, message: "Bad response from authentication service", authCalls: 1},
		{name: "auth 302 not followed", script: answer(302, `{}`), status: 502, message: "Bad response from authentication service", authCalls: 1},
		{name: "malformed body", script: func(a *authService, tok string) { a.Set(tok, fakerails.Response{Status: 200, Malformed: true}) },
			status: 500, message: invalidAnswer, authCalls: 1},
		{name: "missing user_id", script: answer(200, `{"roles":["admin"]}`), status: 500, message: invalidAnswer, authCalls: 1},
		{name: "null user_id", script: answer(200, `{"user_id":null,"roles":[]}`), status: 500, message: invalidAnswer, authCalls: 1},
		{name: "user_id with CRLF", script: answer(200, `{"user_id":"42\r\nX-Admin: 1","roles":[]}`), status: 500, message: invalidAnswer, authCalls: 1},
		{name: "role with a comma", script: answer(200, `{"user_id":42,"roles":["admin,root"]}`), status: 500, message: invalidAnswer, authCalls: 1},
		{name: "answer over 64 KiB", script: answer(200, `{"user_id":42,"roles":[],"pad":"`+strings.Repeat("x", 70<<10)+`"}`),
			status: 500, message: invalidAnswer, authCalls: 1},
		// nginx answers two Authorization lines with 400 before Kong runs;
		// only a plan that reads the header list (session cookies) sees them.
		{name: "two Authorization headers (list read)", script: ok, headers: func(tok string) []string { return []string{"Authorization", tok, "Authorization", tok} },
			conf: map[string]any{"cookie_names": []any{"_s"}}, status: 400, message: "Multiple Authorization headers"},
		{name: "Authorization over 8 KiB", script: ok, headers: func(string) []string { return []string{"Authorization", "Bearer " + strings.Repeat("a", 9<<10)} },
			status: 401, message: "Authorization header is too large"},
		// The list read stops at 1000 headers: a spoofed header could hide
		// past the end, so it refuses. The credential read has no limit and
		// clears every spelling without looking.
		{name: "1000 request headers (list read)", script: ok, headers: thousandHeaders,
			conf: map[string]any{"cookie_names": []any{"_s"}}, status: 431, message: "Too many request headers"},
		{name: "1000 request headers", script: ok, headers: thousandHeaders, authCalls: 1},
		{name: "auth service down", script: func(a *authService, tok string) { ok(a, tok); a.Down() },
			status: 503, message: "Authentication service unavailable", authCalls: 0},
		{name: "auth service slower than timeout", script: func(a *authService, tok string) {
			// 60 timeouts late: a 503 can only be the timeout's.
			a.Set(tok, fakerails.Response{Identity: &fakerails.Identity{UserID: 42}, Delay: 20 * time.Second})
		}, conf: map[string]any{"timeout": 300}, status: 503, message: "Authentication service unavailable", authCalls: 1},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			a := newAuth(t)
			token := newToken("contract")
			r.script(a, token)
			fields := map[string]any{"auth_url": a.url}
			for k, v := range r.conf {
				fields[k] = v
			}
			cfg := config(t, fields)
			p := newPlugin()
			h := []string{"Authorization", token}
			if r.headers != nil {
				h = r.headers(token)
			}
			req := request(append(h, "X-Request-ID", "r-1")...)
			if r.prime {
				if res := access(t, shared, p, cfg, req); (res.Exit == nil) != (r.status == 0) {
					t.Fatalf("priming request: %s", describe(res))
				}
				a.Reset()
			}

			res, took, err := timedAccess(shared, p, cfg, req)
			if err != nil {
				t.Fatalf("access: %v", err)
			}
			t.Logf("answer in %v: %s; auth calls %d; PDK calls %d", took.Round(time.Microsecond), summary(res), a.Calls(), len(res.Calls))

			if r.status == 0 {
				wantProxied(t, res, "X-User-ID", "42", "X-User-Roles", "admin,editor")
				// What the upstream service receives.
				got := sendUpstream(t, up, res)
				if v := got.Get("X-User-ID"); len(v) != 1 || v[0] != "42" {
					t.Errorf("echo upstream X-User-ID = %v, want [42]", v)
				}
				if v := got.Get("X-User-Roles"); len(v) != 1 || v[0] != "admin,editor" {
					t.Errorf("echo upstream X-User-Roles = %v, want [admin,editor]", v)
				}
				if v := got.Get("X-Request-ID"); len(v) != 1 || v[0] != "r-1" {
					t.Errorf("unrelated client header X-Request-ID = %v, want it kept", v)
				}
			} else {
				wantExit(t, res, r.status, r.message)
			}
			if len(res.Calls) != 2 {
				t.Errorf("PDK round trips = %d, want 2", len(res.Calls))
			}
			if _, list := r.conf["cookie_names"]; !list && len(res.Calls) > 0 && res.Calls[0] != "kong.request.get_header" {
				t.Errorf("read = %s, want kong.request.get_header (the credential alone)", res.Calls[0])
			}
			if got := a.Calls(); got != r.authCalls {
				t.Errorf("auth service calls = %d, want %d", got, r.authCalls)
			}
			if r.authCalls > 0 {
				rec := a.Requests()[0]
				if rec.Method != http.MethodPost || rec.Path != fakerails.VerifyPath ||
					rec.Authorization != token || rec.ContentType != "application/json" {
					t.Errorf("auth service received %s %s Authorization=%q Content-Type=%q, want POST %s with the client's header and application/json",
						rec.Method, rec.Path, rec.Authorization, rec.ContentType, fakerails.VerifyPath)
				}
			}
		})
	}
}

// thousandHeaders is the Authorization header followed by 1000 others.
func thousandHeaders(tok string) []string {
	h := []string{"Authorization", tok}
	for i := range 1000 {
		h = append(h, fmt.Sprintf("X-Filler-%d", i), "x")
	}
	return h
}
