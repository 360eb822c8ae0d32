package e2e

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/legacy-auth/legacy-auth/internal/fakerails"
)

var causeAttr = regexp.MustCompile(`cause="([^"]*)"`)

// TestFailureLogLines: every failed auth call writes one "auth service
// call failed" line to the plugin's output (which Kong puts in its error
// log) with the cause, the auth_url and the status answered, never the
// credential. (That no credential appears anywhere in the suite's output
// is checked by TestMain once every test has run.)
func TestFailureLogLines(t *testing.T) {
	tests := []struct {
		name   string
		script func(a *authService)
		conf   map[string]any
		status int
		cause  string // part of the logged cause
	}{
		{"auth service down", func(a *authService) { a.Down() }, nil, 503, "connection refused"},
		{"auth service slow", func(a *authService) { a.SetDelay(3 * time.Second) }, map[string]any{"timeout": 150}, 503, "timeout"},
		{"auth service 500", func(a *authService) { a.FailNext(1, 500) }, nil, 502, "Internal Server Error"},
		{"auth service 503 twice", func(a *authService) { a.FailNext(2, 503) }, nil, 502, "Service Unavailable"},
		{"malformed answer", func(a *authService) { a.SetDefault(fakerails.Response{Status: 200, Malformed: true}) }, nil, 500, "not a JSON object"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := newAuth(t)
			tc.script(a)
			fields := map[string]any{"auth_url": a.url}
			for k, v := range tc.conf {
				fields[k] = v
			}
			token := newToken("logs")
			res := access(t, shared, newPlugin(), config(t, fields), request("Authorization", token))
			if res.Exit == nil || res.Exit.Status != tc.status {
				t.Fatalf("want exit %d, got %s", tc.status, describe(res))
			}
			// Logs show the auth_url without its query: the address is the test's own.
			line, ok := waitOutput(sharedOut, "auth service call failed", a.Addr()+"/")
			if !ok {
				t.Fatalf("no \"auth service call failed\" line for %s in the plugin output", a.Addr())
			}
			t.Logf("plugin: %s", line[strings.Index(line, "level="):])
			m := causeAttr.FindStringSubmatch(line)
			switch {
			case m == nil || m[1] == "":
				t.Errorf("the line has no cause: %s", line)
			case !strings.Contains(m[1], tc.cause):
				t.Errorf("cause %q, want it to mention %q", m[1], tc.cause)
			}
			if !strings.Contains(line, "level=WARN") {
				t.Errorf("want a warning: %s", line)
			}
			if strings.Contains(line, token[len("Bearer "):]) {
				t.Errorf("the credential is in the log line: %s", line)
			}
		})
	}
}

// TestConfigErrorOnlyThePluginCanSee: a configuration Kong accepts but the
// plugin cannot use (a tls_ca_file that does not exist on the node) fails
// closed with 500 and one log line naming the field.
func TestConfigErrorOnlyThePluginCanSee(t *testing.T) {
	a := newAuth(t)
	token := newToken("badcfg")
	a.Set(token, fakerails.OK("u-1"))
	// https: the schema refuses tls_* with an http:// auth_url. The call is
	// never made (the instance fails closed), so the plain-HTTP stand-in is fine.
	httpsURL := strings.Replace(a.url, "http://", "https://", 1)
	cfg := config(t, map[string]any{"auth_url": httpsURL, "tls_ca_file": "/nonexistent/legacy-auth-e2e/ca.pem"})
	res := access(t, shared, newPlugin(), cfg, request("Authorization", token))
	if res.Exit == nil || res.Exit.Status != 500 {
		t.Fatalf("want 500, got %s", describe(res))
	}
	line, ok := waitOutput(sharedOut, "invalid configuration", "tls_ca_file", "/nonexistent/legacy-auth-e2e/ca.pem")
	t.Logf("exit %d %s, PDK calls %v, auth calls %d; plugin: %s", res.Exit.Status, res.Exit.Body, res.Calls, a.Calls(), line)
	if !ok {
		t.Errorf("no log line names tls_ca_file")
	}
	if a.Calls() != 0 {
		t.Errorf("auth calls = %d, want 0", a.Calls())
	}
}

// TestAuthURLCredentialsNotLogged: an auth_url may carry a secret in its
// query string (?api_key=...); log lines and breaker names show the URL
// without it. (Userinfo is refused: see TestAuthURLUserinfo.) Each case
// runs on a plugin server of its own, so a leak is pinned to it (and the
// suite-wide credential scan sees it too: the key is a registered secret).
func TestAuthURLCredentialsNotLogged(t *testing.T) {
	t.Run("failure and breaker lines", func(t *testing.T) {
		s, out := startServer(t)
		a := newAuth(t)
		key := newSecret("urlkey")
		a.Down()
		cfg := config(t, map[string]any{"auth_url": a.url + "&api_key=" + key, "breaker_threshold": 1})
		res := access(t, s, newPlugin(), cfg, request("Authorization", newToken("urlkey")))
		wantExit(t, res, 503, "Authentication service unavailable")
		failure, ok1 := waitOutput(out, "auth service call failed")
		breaker, ok2 := waitOutput(out, "circuit breaker changed state")
		if !ok1 || !ok2 {
			t.Fatalf("missing log lines (failure: %t, breaker: %t):\n%s", ok1, ok2, out.String())
		}
		for _, line := range []string{failure, breaker} {
			t.Logf("plugin: %s", line[strings.Index(line, "level="):])
			if strings.Contains(line, key) || strings.Contains(line, "api_key") || !strings.Contains(line, a.Addr()) {
				t.Errorf("want the auth_url without its query string: %s", line)
			}
		}
	})
	t.Run("tls_verify off warning", func(t *testing.T) {
		s, out := startServer(t)
		a := newTLSAuth(t)
		key := newSecret("urlkey")
		a.SetDefault(fakerails.OK("u-insecure"))
		cfg := config(t, map[string]any{"auth_url": a.url(t, "noverify") + "&api_key=" + key, "tls_verify": false})
		res := access(t, s, newPlugin(), cfg, request("Authorization", newToken("urlkey")))
		wantProxied(t, res, "X-User-ID", "u-insecure", "X-User-Roles", "")
		line, ok := waitOutput(out, "tls_verify is off")
		if !ok {
			t.Fatalf("no tls_verify warning:\n%s", out.String())
		}
		t.Logf("plugin: %s", line[strings.Index(line, "level="):])
		if strings.Contains(line, key) || strings.Contains(line, "api_key") {
			t.Errorf("the auth_url's query string is in the log line: %s", line)
		}
	})
}
