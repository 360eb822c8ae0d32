// Package fakerails is a scriptable stand-in for the legacy Rails "verify"
// endpoint that the legacy-auth plugin calls.
//
// The verify contract it implements: a request carrying the client's
// Authorization header (POST or GET, Content-Type: application/json) is
// answered 200 {"user_id": <string|number>, "roles": ["..."]} for a valid
// credential and 401 or 403 for a bad one.
//
// Tokens are looked up by the Authorization header value EXACTLY as
// received, "Bearer " prefix included ("Bearer tok-alice", not
// "tok-alice"). The plugin must forward the header verbatim, and exact
// matching makes a plugin that rewrites or trims it fail the tests instead
// of passing by accident.
//
// Use New for a test server on an ephemeral 127.0.0.1 port, or NewHandler to
// serve the same logic from another http.Server (the local gateway's demo
// mode does, on a fixed port).
package fakerails

import (
	"context"
	"io"
	"net/http"
	"sync"
	"time"
)

// VerifyPath is the path of the verify endpoint. Other paths answer 404,
// like Rails would, so a wrong auth_url in a config shows up in tests.
const VerifyPath = "/internal/auth/verify"

// maxRecordedBody bounds the request body kept per recorded call.
const maxRecordedBody = 64 << 10

// Recorded is one request the fake received, as it arrived.
type Recorded struct {
	Method        string
	Path          string
	Authorization string
	ContentType   string
	Cookie        string
	Body          string
	Time          time.Time
}

// Handler is the answering logic: the token table, the special modes and
// the call log. It is safe for concurrent use; every setter takes effect
// for the next request.
type Handler struct {
	mu         sync.Mutex
	tokens     map[string]Response
	fallback   Response
	delay      time.Duration
	flakyEvery int
	failNext   int
	failStatus int
	seq        int // requests since Reset, drives the flaky mode
	recorded   []Recorded
}

// NewHandler returns a Handler whose every token is unknown (401).
func NewHandler() *Handler {
	return &Handler{tokens: map[string]Response{}, fallback: Deny(http.StatusUnauthorized)}
}

// Set scripts the answer for an exact Authorization header value.
func (h *Handler) Set(authorization string, r Response) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.tokens[authorization] = r
}

// Delete forgets a scripted token, which then gets the default answer.
func (h *Handler) Delete(authorization string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.tokens, authorization)
}

// SetDefault scripts the answer for unknown tokens and for requests without
// an Authorization header (initially 401).
func (h *Handler) SetDefault(r Response) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.fallback = r
}

// SetDelay sets a delay applied to every answer, on top of Response.Delay.
func (h *Handler) SetDelay(d time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.delay = d
}

// SetFlaky turns the flaky-5xx mode on (every > 0) or off (0): the first
// of every `every` requests answers 503, the rest answer normally. So
// every=2 fails requests 1, 3, 5, ... (counted since Reset), which is what
// a retry test needs, and every=1 fails them all.
func (h *Handler) SetFlaky(every int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.flakyEvery = max(every, 0)
}

// FailNext makes the next n requests answer status (e.g. 500, 502),
// whatever their token. It takes precedence over the flaky mode.
func (h *Handler) FailNext(n, status int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.failNext, h.failStatus = max(n, 0), status
}

// Calls is the number of requests received since the last Reset, on any
// path and whatever they were answered.
func (h *Handler) Calls() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.recorded)
}

// Requests returns a copy of the requests received since the last Reset,
// in arrival order.
func (h *Handler) Requests() []Recorded {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Recorded(nil), h.recorded...)
}

// Reset clears the call log and the flaky counter. The token table, the
// default answer and the modes are kept: tests script once, then reset
// between phases.
func (h *Handler) Reset() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.recorded = nil
	h.seq = 0
}

// ServeHTTP records the request, then answers it as scripted.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, maxRecordedBody))
	rec := Recorded{
		Method:        r.Method,
		Path:          r.URL.Path,
		Authorization: r.Header.Get("Authorization"),
		ContentType:   r.Header.Get("Content-Type"),
		Cookie:        r.Header.Get("Cookie"),
		Body:          string(body),
		Time:          time.Now(),
	}
	status, out, delay := h.decide(rec)
	if !sleep(r.Context(), delay) {
		return // client gone (timeout) or server going Down: nothing to write
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(out)
}

// decide records rec and picks the answer under the lock, so that
// concurrent requests see a consistent sequence number.
func (h *Handler) decide(rec Recorded) (int, []byte, time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.recorded = append(h.recorded, rec)
	h.seq++

	switch {
	case rec.Path != VerifyPath:
		return http.StatusNotFound, errorBody("no route matches " + rec.Path), 0
	case rec.Method != http.MethodGet && rec.Method != http.MethodPost:
		return http.StatusMethodNotAllowed, errorBody("verify accepts GET or POST"), 0
	case h.failNext > 0:
		h.failNext--
		return h.failStatus, errorBody("scripted failure"), h.delay
	case h.flakyEvery > 0 && (h.seq-1)%h.flakyEvery == 0:
		return http.StatusServiceUnavailable, errorBody("flaky"), h.delay
	}
	resp, ok := h.tokens[rec.Authorization]
	if !ok {
		resp = h.fallback
	}
	status, out := resp.render()
	return status, out, h.delay + resp.Delay
}

// sleep waits d unless ctx ends first; it reports whether the wait completed.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
