package fakerails

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// do sends one verify-style request and returns status and body.
func do(t *testing.T, c *http.Client, method, url, auth string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestAnswers(t *testing.T) {
	t.Parallel()
	s := New()
	t.Cleanup(s.Close)
	s.Set("Bearer alice", OK(json.Number("42"), "admin", "editor"))
	s.Set("Bearer bob", OK("u-1001"))
	s.Set("Bearer banned", Deny(http.StatusForbidden))
	s.Set("Bearer broken", Response{Status: 200, Malformed: true})
	s.Set("Bearer raw", Response{Status: 200, Body: `{"user_id":7,"roles":["x"],"extra":true}`})

	tests := []struct {
		name, method, path, auth string
		status                   int
		body                     string // exact, or "" to skip
	}{
		{"numeric id", "POST", VerifyPath, "Bearer alice", 200, `{"user_id":42,"roles":["admin","editor"]}`},
		{"string id and no roles", "GET", VerifyPath, "Bearer bob", 200, `{"user_id":"u-1001","roles":[]}`},
		{"forbidden", "POST", VerifyPath, "Bearer banned", 403, `{"error":"Forbidden"}`},
		{"unknown token", "POST", VerifyPath, "Bearer nobody", 401, `{"error":"Unauthorized"}`},
		{"no bearer prefix is another token", "POST", VerifyPath, "alice", 401, ""},
		{"no header", "POST", VerifyPath, "", 401, ""},
		{"malformed", "POST", VerifyPath, "Bearer broken", 200, malformedBody},
		{"raw body", "POST", VerifyPath, "Bearer raw", 200, `{"user_id":7,"roles":["x"],"extra":true}`},
		{"wrong path", "POST", "/verify", "Bearer alice", 404, ""},
		{"wrong method", "PUT", VerifyPath, "Bearer alice", 405, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			status, body := do(t, http.DefaultClient, tc.method, s.URL()+tc.path, tc.auth)
			if status != tc.status {
				t.Errorf("status = %d, want %d (body %s)", status, tc.status, body)
			}
			if tc.body != "" && body != tc.body {
				t.Errorf("body = %s, want %s", body, tc.body)
			}
		})
	}
}

func TestRecordsCalls(t *testing.T) {
	t.Parallel()
	s := New()
	t.Cleanup(s.Close)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", s.VerifyURL(), strings.NewReader(`{"a":1}`))
	req.Header.Set("Authorization", "Bearer x")
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Cookie", "session=abc")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	got := s.Requests()
	if len(got) != 1 || s.Calls() != 1 {
		t.Fatalf("recorded %d calls, Calls()=%d, want 1", len(got), s.Calls())
	}
	r := got[0]
	if r.Method != "POST" || r.Path != VerifyPath || r.Authorization != "Bearer x" ||
		r.ContentType != "application/json" || r.Cookie != "session=abc" || r.Body != `{"a":1}` || r.Time.IsZero() {
		t.Errorf("recorded %+v", r)
	}
	s.Reset()
	if s.Calls() != 0 || len(s.Requests()) != 0 {
		t.Errorf("after Reset: Calls()=%d", s.Calls())
	}
}

func TestConcurrentCounting(t *testing.T) {
	t.Parallel()
	s := New()
	t.Cleanup(s.Close)
	s.Set("Bearer a", OK(1))
	const n = 50
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			if status, _ := do(t, http.DefaultClient, "POST", s.VerifyURL(), "Bearer a"); status != 200 {
				t.Errorf("status %d", status)
			}
		})
	}
	wg.Wait()
	if s.Calls() != n {
		t.Errorf("Calls() = %d, want %d", s.Calls(), n)
	}
}

func TestModes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		script func(*Server)
		want   []int // statuses of consecutive calls with "Bearer a"
	}{
		{"flaky every 2", func(s *Server) { s.SetFlaky(2) }, []int{503, 200, 503, 200}},
		{"flaky every 1", func(s *Server) { s.SetFlaky(1) }, []int{503, 503}},
		{"flaky off", func(s *Server) { s.SetFlaky(2); s.SetFlaky(0) }, []int{200, 200}},
		{"fail next 2", func(s *Server) { s.FailNext(2, 502) }, []int{502, 502, 200}},
		{"default changed", func(s *Server) { s.Delete("Bearer a"); s.SetDefault(Deny(403)) }, []int{403}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := New()
			t.Cleanup(s.Close)
			s.Set("Bearer a", OK(1))
			tc.script(s)
			for i, want := range tc.want {
				if got, body := do(t, http.DefaultClient, "POST", s.VerifyURL(), "Bearer a"); got != want {
					t.Errorf("call %d: status %d, want %d (%s)", i+1, got, want, body)
				}
			}
		})
	}
}

func TestDelay(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		global time.Duration
		token  time.Duration
	}{
		{"global", 300 * time.Millisecond, 0},
		{"per token", 0, 300 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := New()
			t.Cleanup(s.Close)
			s.SetDelay(tc.global)
			s.Set("Bearer slow", Response{Identity: &Identity{UserID: "s"}, Delay: tc.token})

			// A client that gives up first sees a timeout, like the plugin would.
			short := &http.Client{Timeout: 50 * time.Millisecond}
			req, _ := http.NewRequest("POST", s.VerifyURL(), nil)
			req.Header.Set("Authorization", "Bearer slow")
			if resp, err := short.Do(req); err == nil {
				resp.Body.Close()
				t.Fatal("expected a client timeout")
			}

			start := time.Now()
			if status, _ := do(t, http.DefaultClient, "POST", s.VerifyURL(), "Bearer slow"); status != 200 {
				t.Errorf("status %d", status)
			}
			if el := time.Since(start); el < 300*time.Millisecond {
				t.Errorf("answered after %v, want >= 300ms", el)
			}
		})
	}
}

func TestDownUp(t *testing.T) {
	t.Parallel()
	s := New()
	t.Cleanup(s.Close)
	s.Set("Bearer a", OK(1))
	addr := s.Addr()
	// A fresh transport per phase, so that no pooled connection hides the
	// listener state.
	client := func() *http.Client { return &http.Client{Transport: &http.Transport{}, Timeout: 5 * time.Second} }

	if status, _ := do(t, client(), "POST", s.VerifyURL(), "Bearer a"); status != 200 {
		t.Fatalf("before Down: %d", status)
	}
	s.Down()
	s.Down() // idempotent
	req, _ := http.NewRequest("POST", s.VerifyURL(), nil)
	_, err := client().Do(req)
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("while down: err = %v, want connection refused", err)
	}
	if err := s.Up(); err != nil {
		t.Fatal(err)
	}
	if s.Addr() != addr {
		t.Errorf("address changed: %s -> %s", addr, s.Addr())
	}
	if status, _ := do(t, client(), "POST", s.VerifyURL(), "Bearer a"); status != 200 {
		t.Fatalf("after Up: %d", status)
	}
	s.Close()
	if err := s.Up(); err == nil {
		t.Error("Up after Close succeeded")
	}
}

func TestHandlerServedElsewhere(t *testing.T) {
	t.Parallel()
	h := NewHandler()
	h.Set("Bearer demo", OK("u"))
	ts := httptest.NewServer(h)
	defer ts.Close()
	if status, body := do(t, ts.Client(), "GET", ts.URL+VerifyPath, "Bearer demo"); status != 200 || body != `{"user_id":"u","roles":[]}` {
		t.Errorf("got %d %s", status, body)
	}
	if h.Calls() != 1 {
		t.Errorf("Calls() = %d", h.Calls())
	}
}

func TestStartRejectsNonLoopback(t *testing.T) {
	t.Parallel()
	for _, addr := range []string{"0.0.0.0:0", ":0", "example.com:80", "nonsense"} {
		if s, err := Start(addr, NewHandler()); err == nil {
			s.Close()
			t.Errorf("Start(%q) succeeded", addr)
		}
	}
}
