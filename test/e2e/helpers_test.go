package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/legacy-auth/legacy-auth/internal/echo"
	"github.com/legacy-auth/legacy-auth/internal/fakerails"
	"github.com/legacy-auth/legacy-auth/internal/kongsim"
	"github.com/legacy-auth/legacy-auth/test/testutil"
)

// eventTimeout bounds one access event driven by a test (kongsim has its
// own 30 s bound; a healthy event takes milliseconds).
const eventTimeout = 20 * time.Second

// ---------------------------------------------------------------------------
// Output capture

// syncBuffer is the shared goroutine-safe output sink.
type syncBuffer = testutil.SyncBuffer

// outputs are every plugin server's captured output, scanned for leaked
// credentials after the suite (checkNoCredentialInOutput).
var outputs = struct {
	mu   sync.Mutex
	list []namedOutput
}{list: []namedOutput{{"shared server", sharedOut}}}

type namedOutput struct {
	name string
	buf  *syncBuffer
}

// startServer starts a plugin server of its own for t (tests that kill the
// process or need its environment), with its output captured and
// registered for the credential scan, and closed when t ends.
func startServer(t *testing.T, env ...string) (*kongsim.Server, *syncBuffer) {
	t.Helper()
	out := &syncBuffer{}
	outputs.mu.Lock()
	outputs.list = append(outputs.list, namedOutput{t.Name(), out})
	outputs.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := kongsim.StartServer(ctx, pluginBin, kongsim.ServerOptions{
		Env:          env,
		Output:       out,
		RespawnDelay: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatalf("starting a plugin server: %v\noutput:\n%s", err, out.String())
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("closing the plugin server: %v", err)
		}
		if t.Failed() {
			t.Logf("plugin server output:\n%s", out.String())
		}
	})
	return s, out
}

// waitOutput waits (at most 30 s) until out contains every one of substrs
// on a single line, and returns that line: the plugin's log lines travel
// through a pipe and may trail the event that caused them.
func waitOutput(out *syncBuffer, substrs ...string) (string, bool) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		for _, line := range strings.Split(out.String(), "\n") {
			ok := true
			for _, s := range substrs {
				if !strings.Contains(line, s) {
					ok = false
					break
				}
			}
			if ok {
				return line, true
			}
		}
		if time.Now().After(deadline) {
			return "", false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ---------------------------------------------------------------------------
// Credentials

// secrets are every credential the suite sent (token and session values),
// so that the end-of-suite scan can prove none reached a log line. Each
// carries secretMarker and 16 random hex digits.
var secrets = struct {
	mu  sync.Mutex
	hex map[string]bool // the random part of each secret
	n   int
}{hex: map[string]bool{}}

const secretMarker = "e2esecret"

// newSecret returns a unique credential value such as
// "e2esecret-alice-0123456789abcdef" and registers it.
func newSecret(label string) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	secrets.mu.Lock()
	secrets.hex[h] = true
	secrets.n++
	secrets.mu.Unlock()
	return secretMarker + "-" + label + "-" + h
}

// newToken returns a unique Authorization header value, "Bearer <secret>".
func newToken(label string) string { return "Bearer " + newSecret(label) }

var hexRun = regexp.MustCompile(`[0-9a-f]{16,}`)

// checkNoCredentialInOutput scans every captured output for any secret the
// suite sent: the marker itself, and any 16-hex window equal to a secret's
// random part (a token logged without its prefix). It reports on stdout
// and returns false on a leak.
func checkNoCredentialInOutput() bool {
	outputs.mu.Lock()
	list := append([]namedOutput(nil), outputs.list...)
	outputs.mu.Unlock()
	secrets.mu.Lock()
	defer secrets.mu.Unlock()
	clean := true
	total := 0
	for _, o := range list {
		text := o.buf.String()
		total += len(text)
		for _, line := range strings.Split(text, "\n") {
			leak := strings.Contains(line, secretMarker)
			for _, run := range hexRun.FindAllString(line, -1) {
				for i := 0; i+16 <= len(run) && !leak; i++ {
					leak = secrets.hex[run[i:i+16]]
				}
			}
			if leak {
				clean = false
				fmt.Printf("e2e: FAIL: a credential appears in the output of %s:\n\t%s\n", o.name, line)
			}
		}
	}
	fmt.Printf("e2e: credential scan: %d secrets sent, %d bytes of output from %d plugin servers scanned, leak found: %t\n",
		secrets.n, total, len(list), !clean)
	return clean
}

// ---------------------------------------------------------------------------
// Fixtures

// authService is a fake Rails verify service of one test, with an
// auth_url unique to the test: a query tag makes the plugin's cache
// namespace and circuit breaker the test's own even if the port of an
// earlier test's service is reused (fakerails routes on the path only).
type authService struct {
	*fakerails.Server
	url string
}

// tag is the part of url that names the test ("case=...").
func (a *authService) tag() string {
	_, q, _ := strings.Cut(a.url, "?")
	return q
}

func newAuth(t *testing.T) *authService {
	t.Helper()
	fa := fakerails.New()
	t.Cleanup(fa.Close)
	return &authService{Server: fa, url: fa.VerifyURL() + "?case=" + caseTag(t)}
}

// caseTag names t in an auth_url: the test name plus a random suffix (a
// -count=2 run reuses the plugin process and its caches).
func caseTag(t *testing.T) string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return url.QueryEscape(strings.ReplaceAll(t.Name(), "/", ".")) + "-" + hex.EncodeToString(b[:])
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// newPlugin is a fresh plugin entity (Kong keeps one instance per plugin
// id), attached to a route.
func newPlugin() kongsim.PluginRef {
	return kongsim.PluginRef{ID: newUUID(), Name: pluginName, RouteID: newUUID()}
}

// config runs fields through Kong's config processing (defaults filled in,
// validated) as the Admin API would before the plugin ever sees them.
func config(t *testing.T, fields map[string]any) map[string]any {
	t.Helper()
	trackPluginSources()
	c, err := kongsim.ProcessConfig(schema, fields)
	if err != nil {
		t.Fatalf("config %v rejected: %v", fields, err)
	}
	return c
}

// request is a client request with the given header name/value pairs.
func request(headers ...string) *kongsim.Request {
	r := &kongsim.Request{Method: "GET", Path: "/api/orders", Headers: []kongsim.Header{
		{Name: "Host", Value: "api.example.test"},
		{Name: "Accept", Value: "application/json"},
	}}
	for i := 0; i+1 < len(headers); i += 2 {
		r.Headers = append(r.Headers, kongsim.Header{Name: headers[i], Value: headers[i+1]})
	}
	return r
}

// access runs one access event and fails t if the simulation itself
// failed (kongsim's error: unknown PDK method, timeout, ...).
func access(t *testing.T, s *kongsim.Server, p kongsim.PluginRef, cfg map[string]any, req *kongsim.Request) *kongsim.Result {
	t.Helper()
	res, _, err := timedAccess(s, p, cfg, req)
	if err != nil {
		t.Fatalf("access: %v", err)
	}
	return res
}

// timedAccess runs one access event and measures it; safe to call from
// any goroutine.
func timedAccess(s *kongsim.Server, p kongsim.PluginRef, cfg map[string]any, req *kongsim.Request) (*kongsim.Result, time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), eventTimeout)
	defer cancel()
	start := time.Now()
	res, err := s.Access(ctx, p, cfg, req)
	return res, time.Since(start), err
}

// ---------------------------------------------------------------------------
// Reading results

// foldName compares header names the way nginx's $http_* variables do
// (ASCII case-insensitive, '-' and '_' alike): every spelling a client
// could use to smuggle an identity header.
func foldName(a, b string) bool {
	norm := func(s string) string { return strings.ReplaceAll(strings.ToLower(s), "_", "-") }
	return norm(a) == norm(b)
}

// spellings returns every upstream header that folds to name.
func spellings(h []kongsim.Header, name string) []kongsim.Header {
	var out []kongsim.Header
	for _, x := range h {
		if foldName(x.Name, name) {
			out = append(out, x)
		}
	}
	return out
}

// upstreamValue is the single value of name (in any spelling) in the
// upstream request; ok is false when it is absent or repeated.
func upstreamValue(res *kongsim.Result, name string) (string, bool) {
	hs := spellings(res.Upstream, name)
	if len(hs) != 1 {
		return "", false
	}
	return hs[0].Value, true
}

// exitMessage is the "message" of a JSON exit body.
func exitMessage(res *kongsim.Result) string {
	if res.Exit == nil {
		return ""
	}
	var m struct{ Message string }
	_ = json.Unmarshal(res.Exit.Body, &m)
	return m.Message
}

// exitHeader is one response header of the exit (case-insensitive).
func exitHeader(res *kongsim.Result, name string) string {
	if res.Exit == nil {
		return ""
	}
	for k, v := range res.Exit.Headers {
		if strings.EqualFold(k, name) && len(v) > 0 {
			return v[0]
		}
	}
	return ""
}

// describe summarises a result for failure messages.
func describe(res *kongsim.Result) string {
	if res == nil {
		return "<nil result>"
	}
	if res.Exit != nil {
		s := fmt.Sprintf("exit %d %s headers=%v calls=%v", res.Exit.Status, res.Exit.Body, res.Exit.Headers, res.Calls)
		if res.KongError != "" {
			s += " kong error: " + res.KongError
		}
		return s
	}
	return fmt.Sprintf("proxied upstream=%v calls=%v shared=%v", res.Upstream, res.Calls, res.Shared)
}

// summary is a one-line account of a result for the test log: the exit,
// or the identity headers proxied (credentials left out).
func summary(res *kongsim.Result) string {
	if res.Exit != nil {
		s := fmt.Sprintf("exit %d %s", res.Exit.Status, res.Exit.Body)
		if ct := exitHeader(res, "Content-Type"); ct != "" {
			s += " (Content-Type: " + ct + ")"
		}
		return s
	}
	var ids []string
	for _, h := range res.Upstream {
		if strings.EqualFold(h.Name, "Authorization") || strings.EqualFold(h.Name, "Cookie") ||
			strings.EqualFold(h.Name, "Host") || strings.EqualFold(h.Name, "Accept") {
			continue
		}
		ids = append(ids, h.Name+": "+h.Value)
	}
	return "proxied with " + strings.Join(ids, ", ")
}

var (
	callsProxied = []string{"kong.request.get_header", "kong.service.request.set_headers"}
	callsExit    = []string{"kong.request.get_header", "kong.response.exit"}
)

// sameCalls compares PDK calls with want, taking the whole-list read
// (kong.request.get_headers, what session-cookie configurations make) for
// the credential read: either is the one read of a request.
func sameCalls(got, want []string) bool {
	if len(got) == len(want) && len(got) > 0 && got[0] == "kong.request.get_headers" {
		got = append([]string{"kong.request.get_header"}, got[1:]...)
	}
	return slices.Equal(got, want)
}

// wantProxied checks that res was proxied with exactly one user id header
// carrying userID and roles ("" = no roles header at all), with no other
// spelling of either, in two PDK calls.
func wantProxied(t *testing.T, res *kongsim.Result, idHeader, userID, rolesHeader, roles string) {
	t.Helper()
	wantIdentity(t, res, idHeader, userID, rolesHeader, roles)
	if !sameCalls(res.Calls, callsProxied) {
		t.Errorf("PDK calls = %v, want %v", res.Calls, callsProxied)
	}
}

// wantIdentity is wantProxied without the PDK call list (options that add
// a call, like kong_credential).
func wantIdentity(t *testing.T, res *kongsim.Result, idHeader, userID, rolesHeader, roles string) {
	t.Helper()
	if res.Exit != nil {
		t.Fatalf("want proxied, got %s", describe(res))
	}
	if got := spellings(res.Upstream, idHeader); len(got) != 1 || got[0].Value != userID {
		t.Errorf("upstream %s = %v, want exactly one with %q", idHeader, got, userID)
	}
	got := spellings(res.Upstream, rolesHeader)
	switch {
	case roles == "" && len(got) != 0:
		t.Errorf("upstream %s = %v, want none (no roles)", rolesHeader, got)
	case roles != "" && (len(got) != 1 || got[0].Value != roles):
		t.Errorf("upstream %s = %v, want exactly one with %q", rolesHeader, got, roles)
	}
}

// wantExit checks an exit: status, JSON message, JSON content type, two
// PDK calls, nothing proxied.
func wantExit(t *testing.T, res *kongsim.Result, status int, message string) {
	t.Helper()
	if res.Exit == nil {
		t.Fatalf("want exit %d, got %s", status, describe(res))
	}
	if res.KongError != "" {
		t.Errorf("Kong answered itself (%s), want the plugin's exit", res.KongError)
	}
	if res.Exit.Status != status || exitMessage(res) != message {
		t.Errorf("exit = %d %s, want %d {\"message\":%q}", res.Exit.Status, res.Exit.Body, status, message)
	}
	if ct := exitHeader(res, "Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("exit Content-Type = %q, want application/json", ct)
	}
	if res.Upstream != nil {
		t.Errorf("exit but upstream = %v", res.Upstream)
	}
	if !sameCalls(res.Calls, callsExit) {
		t.Errorf("PDK calls = %v, want %v", res.Calls, callsExit)
	}
}

// ---------------------------------------------------------------------------
// Upstream

// sendUpstream sends the request Kong would proxy (the headers of
// res.Upstream, names spelled exactly as they are) to the echo upstream
// and returns what it received.
func sendUpstream(t *testing.T, up *echo.Server, res *kongsim.Result) echo.Reply {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", up.URL()+"/api/orders", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range res.Upstream {
		if strings.EqualFold(h.Name, "Host") {
			continue
		}
		req.Header[h.Name] = append(req.Header[h.Name], h.Value) // spelling kept
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("echo upstream: %v", err)
	}
	defer resp.Body.Close()
	var r echo.Reply
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatalf("echo reply: %v", err)
	}
	return r
}

// ---------------------------------------------------------------------------
// Measuring

// stats returns the median and maximum of ds.
func stats(ds []time.Duration) (median, maximum time.Duration) {
	if len(ds) == 0 {
		return 0, 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2], s[len(s)-1]
}

// waitUntil polls cond every 10 ms for at most d.
func waitUntil(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

// rssKiB is VmRSS of pid, from /proc/<pid>/status.
func rssKiB(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("reading the plugin's memory: %v (needs Linux /proc)", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) >= 2 && f[0] == "VmRSS:" {
			n, err := strconv.Atoi(f[1])
			if err != nil {
				t.Fatalf("VmRSS %q: %v", sc.Text(), err)
			}
			return n
		}
	}
	t.Fatalf("no VmRSS in /proc/%d/status", pid)
	return 0
}

// scrape reads a Prometheus text endpoint into series → value, the series
// named as exposed ("legacy_auth_requests_total{outcome=\"hit\"}").
func scrape(t *testing.T, metricsURL string) map[string]float64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", metricsURL, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", metricsURL, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", metricsURL, resp.StatusCode, body)
	}
	out := map[string]float64{}
	for _, line := range strings.Split(string(body), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		out[line[:i]] = v
	}
	return out
}
