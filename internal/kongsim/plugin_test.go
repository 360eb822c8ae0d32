package kongsim

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/legacy-auth/legacy-auth/test/testutil"
)

var (
	echoOnce sync.Once
	echoBin  string
	echoErr  error
	echoDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if echoDir != "" {
		os.RemoveAll(echoDir)
	}
	os.Exit(code)
}

// buildEcho builds testdata/echoplugin once per test binary. go-pdk names
// the plugin after the executable, so the binary is called "echoplugin".
func buildEcho(t *testing.T) string {
	t.Helper()
	echoOnce.Do(func() {
		echoDir, echoErr = os.MkdirTemp("", "kongsim-bin-")
		if echoErr != nil {
			return
		}
		echoBin = filepath.Join(echoDir, "echoplugin")
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "go", "build", "-o", echoBin, "./testdata/echoplugin")
		out, err := cmd.CombinedOutput()
		if err != nil {
			echoErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if echoErr != nil {
		t.Fatalf("building echoplugin: %v", echoErr)
	}
	return echoBin
}

// syncBuffer is the shared goroutine-safe output sink.
type syncBuffer = testutil.SyncBuffer

// waitOutput waits until the server output contains substr: the plugin's
// log lines travel through a pipe and may trail the RPC that caused them.
func waitOutput(t *testing.T, out *syncBuffer, substr string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(out.String(), substr) {
		if time.Now().After(deadline) {
			t.Errorf("output lacks %q:\n%s", substr, out)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func testCtx(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func startEcho(t *testing.T, opts ServerOptions) (*Server, *syncBuffer) {
	t.Helper()
	bin := buildEcho(t)
	out := &syncBuffer{}
	if opts.Output == nil {
		opts.Output = out
	}
	s, err := StartServer(testCtx(t, 15*time.Second), bin, opts)
	if err != nil {
		t.Fatalf("StartServer: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s, out
}

// echoConfig runs the dump schema through ProcessConfig, as Kong's Admin
// API would before the config reaches the plugin.
func echoConfig(t *testing.T, conf map[string]any) map[string]any {
	t.Helper()
	d, err := QueryDump(testCtx(t, 15*time.Second), buildEcho(t))
	if err != nil {
		t.Fatalf("QueryDump: %v", err)
	}
	p, err := d.Plugin("echoplugin")
	if err != nil {
		t.Fatalf("Plugin: %v", err)
	}
	processed, err := ProcessConfig(p.Schema, conf)
	if err != nil {
		t.Fatalf("ProcessConfig: %v", err)
	}
	return processed
}

func upstream(res *Result, name string) []string {
	var out []string
	for _, h := range res.Upstream {
		if asciiEqualFold(h.Name, name) {
			out = append(out, h.Value)
		}
	}
	return out
}

func TestQueryDump(t *testing.T) {
	bin := buildEcho(t)
	d, err := QueryDump(testCtx(t, 15*time.Second), bin, "-kong-prefix", "/kong_prefix")
	if err != nil {
		t.Fatalf("QueryDump: %v", err)
	}
	if d.Protocol != "ProtoBuf:1" || d.SocketPath != "/kong_prefix/echoplugin.socket" {
		t.Errorf("dump header: %+v", d)
	}
	p, err := d.Plugin("echoplugin")
	if err != nil {
		t.Fatalf("Plugin: %v", err)
	}
	if p.Priority != 1000 || p.Version != "0.1.0" || !reflect.DeepEqual(p.Phases, []string{"access"}) || !p.HasPhase("access") {
		t.Errorf("plugin info: %+v", p)
	}
	if _, err := d.Plugin("legacy-auth"); err == nil {
		t.Errorf("Plugin(legacy-auth) should fail")
	}
	if _, err := QueryDump(testCtx(t, 5*time.Second), filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Errorf("QueryDump of a missing binary should fail")
	}
}

func TestDecodeDump(t *testing.T) {
	tests := []struct {
		name, out, err string
	}{
		{"not JSON", "oops", "failed decoding plugin info"},
		{"empty output", "", "failed decoding plugin info"},
		{"scalar", "5", "not a plugin info table"},
		{"trailing data", `{"Protocol":"ProtoBuf:1"} x`, "trailing data"},
		{"msgpack protocol", `{"Plugins":[{"Name":"p","Priority":1,"Phases":[],"Schema":{}}]}`, `protocol "MsgPack:1" is not simulated`},
		{"no plugins", `{"Protocol":"ProtoBuf:1","Plugins":[]}`, "no plugins"},
		{"no priority", `{"Protocol":"ProtoBuf:1","Plugins":[{"Name":"p","Phases":[],"Schema":{}}]}`, "Priority missing"},
		{"no phases", `{"Protocol":"ProtoBuf:1","Plugins":[{"Name":"p","Priority":1,"Schema":{}}]}`, "Phases missing"},
		{"no schema", `{"Protocol":"ProtoBuf:1","Plugins":[{"Name":"p","Priority":1,"Phases":[]}]}`, "Schema missing"},
		{"ok", `{"Protocol":"ProtoBuf:1","Plugins":[{"Name":"p","Priority":1,"Phases":["access"],"Schema":{"name":"p","fields":[]}}]}`, ""},
	}
	for _, tt := range tests {
		_, err := decodeDump([]byte(tt.out))
		switch {
		case tt.err == "" && err != nil:
			t.Errorf("%s: unexpected error %v", tt.name, err)
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("%s: error %v, want %q", tt.name, err, tt.err)
		}
	}
}

func TestAccess(t *testing.T) {
	s, out := startEcho(t, ServerOptions{})
	cfg := echoConfig(t, map[string]any{"greeting": "hello"})
	if want := map[string]any{"greeting": "hello", "limit": nil, "tags": nil}; !reflect.DeepEqual(cfg, want) {
		t.Fatalf("processed config %v, want %v", cfg, want)
	}
	ref := PluginRef{ID: "plugin-1", RouteID: "route-1"}
	res, err := s.Access(testCtx(t, 10*time.Second), ref, cfg, &Request{
		Method: "GET", Path: "/orders", Query: "a=1",
		Headers: hdrs("Host", "api.example.com", "X-User-ID", "spoof", "X_User_ID", "evil", "Accept", "*/*"),
	})
	if err != nil {
		t.Fatalf("Access: %v", err)
	}
	if res.Exit != nil || res.KongError != "" {
		t.Fatalf("unexpected exit %+v (%s)", res.Exit, res.KongError)
	}
	wantCalls := []string{"kong.request.get_headers", "kong.log.info", "kong.ctx.shared.set", "kong.service.request.set_headers"}
	if !reflect.DeepEqual(res.Calls, wantCalls) {
		t.Errorf("calls %v, want %v", res.Calls, wantCalls)
	}
	if len(res.Logs) != 1 || res.Logs[0].Level != "info" || res.Logs[0].Message != "access hello" {
		t.Errorf("logs %+v", res.Logs)
	}
	for name, want := range map[string][]string{
		"X-Greeting":   {"hello"},
		"X-Echo-Count": {"4"},    // host, x-user-id, x_user_id, accept
		"X-User-ID":    nil,      // removed by the empty list
		"X_User_ID":    {"evil"}, // a different header for set_headers
		"Host":         {"api.example.com"},
	} {
		if got := upstream(res, name); !reflect.DeepEqual(got, want) {
			t.Errorf("upstream %s = %q, want %q", name, got, want)
		}
	}
	if got := s.Instances(); got["plugin-1"] != 1 {
		t.Errorf("instances %v, want plugin-1 → 1 (the first __seq__)", got)
	}
	if _, ok := res.Shared["instance"].(float64); !ok {
		t.Errorf("shared %v", res.Shared)
	}
	waitOutput(t, out, fmt.Sprintf("[echoplugin:%d] ", s.PID()))

	// the connection went back to the pool and is reused
	res2, err := s.Access(testCtx(t, 10*time.Second), ref, cfg, &Request{Headers: hdrs("X-Get-Header", "x-user-id", "X_User_ID", "evil")})
	if err != nil || res2.KongError != "" {
		t.Fatalf("second Access: %v %s", err, res2.KongError)
	}
	if got := upstream(res2, "X-Got"); !reflect.DeepEqual(got, []string{"evil"}) {
		t.Errorf("get_header(x-user-id) with only X_User_ID sent = %q, want evil ($http_x_user_id)", got)
	}
	if got := upstream(res2, "X-Instance"); !reflect.DeepEqual(got, upstream(res, "X-Instance")) {
		t.Errorf("same config must reuse the instance: %q vs %q", got, upstream(res, "X-Instance"))
	}
}

func TestAccessExitAndErrors(t *testing.T) {
	s, _ := startEcho(t, ServerOptions{})
	cfg := echoConfig(t, map[string]any{"greeting": "hi"})
	ref := PluginRef{ID: "plugin-1"}
	tests := []struct {
		name      string
		header    string
		status    int
		kongError string // substring; "" means none
		goError   string // substring; "" means nil
		lastCall  string
	}{
		{"exit", "X-Exit", 401, "", "", "kong.response.exit"},
		{"Lua error in a PDK function", "X-Bad-Max", 500, "max_headers must be >= 1", "", "kong.request.get_headers"},
		{"unknown PDK method", "X-Unknown-Method", 500, `pluginserver error: method "kong.nope.nothing" not found`, "unknown PDK method", "kong.nope.nothing"},
		{"PDK method not simulated", "X-Not-Simulated", 500, "not simulated", "kong.request.get_raw_body", "kong.request.get_raw_body"},
	}
	for _, tt := range tests {
		res, err := s.Access(testCtx(t, 10*time.Second), ref, cfg, &Request{Headers: hdrs(tt.header, "1")})
		switch {
		case tt.goError == "" && err != nil:
			t.Errorf("%s: unexpected error %v", tt.name, err)
		case tt.goError != "" && (err == nil || !strings.Contains(err.Error(), tt.goError)):
			t.Errorf("%s: error %v, want %q", tt.name, err, tt.goError)
		}
		if res == nil || res.Exit == nil {
			t.Errorf("%s: no exit recorded: %+v", tt.name, res)
			continue
		}
		if res.Upstream != nil {
			t.Errorf("%s: nothing is proxied after a response, got upstream %v", tt.name, res.Upstream)
		}
		if res.Exit.Status != tt.status {
			t.Errorf("%s: status %d, want %d", tt.name, res.Exit.Status, tt.status)
		}
		if (tt.kongError == "") != (res.KongError == "") || !strings.Contains(res.KongError, tt.kongError) {
			t.Errorf("%s: KongError %q, want %q", tt.name, res.KongError, tt.kongError)
		}
		if len(res.Calls) == 0 || res.Calls[len(res.Calls)-1] != tt.lastCall {
			t.Errorf("%s: calls %v, want last %s", tt.name, res.Calls, tt.lastCall)
		}
		if tt.status == 500 {
			want := "{\n  \"message\":\"An unexpected error occurred\",\n  \"request_id\":\"" + res.RequestID + "\"\n}"
			if string(res.Exit.Body) != want {
				t.Errorf("%s: body %q, want %q", tt.name, res.Exit.Body, want)
			}
		}
	}
	// the exit's response
	res, err := s.Access(testCtx(t, 10*time.Second), ref, cfg, &Request{Headers: hdrs("X-Exit", "1")})
	if err != nil {
		t.Fatal(err)
	}
	wantHeaders := map[string][]string{
		"Content-Type":     {"application/json"},
		"WWW-Authenticate": {"Basic"},
		"Content-Length":   {"26"},
	}
	if string(res.Exit.Body) != `{"message":"Unauthorized"}` || !reflect.DeepEqual(res.Exit.Headers, wantHeaders) {
		t.Errorf("exit %q %v", res.Exit.Body, res.Exit.Headers)
	}
	// the server is still healthy after abandoned connections
	res, err = s.Access(testCtx(t, 10*time.Second), ref, cfg, &Request{})
	if err != nil || res.Exit != nil {
		t.Errorf("Access after errors: %v %+v", err, res.Exit)
	}
}

func TestAccessLuaValueSemantics(t *testing.T) {
	s, _ := startEcho(t, ServerOptions{})
	cfg := echoConfig(t, nil)
	ref := PluginRef{ID: "plugin-1"}
	tests := []struct {
		header, back string
		shared       any
		present      bool
	}{
		{`"text"`, `"text"`, "text", true},
		{`false`, `null`, nil, false},                // false arrives as nil: the key is deleted
		{`null`, `"NULL_VALUE"`, "NULL_VALUE", true}, // lua-protobuf's enum name
		{`[]`, `{}`, map[string]any{}, true},         // an empty Lua table reads back as a Struct
		{`[1,2]`, `[1,2]`, []any{1.0, 2.0}, true},
	}
	for _, tt := range tests {
		res, err := s.Access(testCtx(t, 10*time.Second), ref, cfg, &Request{Headers: hdrs("X-Shared-JSON", tt.header)})
		if err != nil || res.Exit != nil {
			t.Fatalf("%s: %v %+v", tt.header, err, res.Exit)
		}
		if got := upstream(res, "X-Shared-Back"); !reflect.DeepEqual(got, []string{tt.back}) {
			t.Errorf("SetShared(%s) read back %q, want %s", tt.header, got, tt.back)
		}
		got, present := res.Shared["v"]
		if present != tt.present || !reflect.DeepEqual(got, tt.shared) {
			t.Errorf("SetShared(%s): shared v = %#v (%v), want %#v (%v)", tt.header, got, present, tt.shared, tt.present)
		}
	}
	for _, tt := range []struct{ v, want string }{
		{"remote_addr", "10.0.0.7"},
		{"request_uri", "/a/b?x=1"},
		{"http_x_var", "remote_addr"}, // the request's own X-Var header
		{"no_such_var", " "},          // nil reaches Go as "", and set_headers turns "" into " "
	} {
		res, err := s.Access(testCtx(t, 10*time.Second), ref, cfg, &Request{
			Path: "/a/b", Query: "x=1", ClientIP: "10.0.0.7", Headers: hdrs("X-Var", tt.v),
		})
		if err != nil {
			t.Fatal(err)
		}
		want := tt.want
		if tt.v == "http_x_var" {
			want = "http_x_var"
		}
		if got := upstream(res, "X-Var"); len(got) != 1 || got[0] != want {
			t.Errorf("get_var(%s) = %q, want %q", tt.v, got, want)
		}
	}
}

func TestAccessConcurrent(t *testing.T) {
	s, _ := startEcho(t, ServerOptions{})
	cfg := echoConfig(t, map[string]any{"greeting": "c"})
	ref := PluginRef{ID: "plugin-1"}
	const n = 200
	var wg sync.WaitGroup
	errs := make(chan error, n)
	instances := make(chan string, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			want := fmt.Sprintf("v-%d", i)
			res, err := s.Access(testCtx(t, 20*time.Second), ref, cfg, &Request{
				Headers: hdrs("X-Get-Header", "X-Mine", "X-Mine", want),
			})
			if err != nil {
				errs <- err
				return
			}
			if res.Exit != nil {
				errs <- fmt.Errorf("event %d: exit %d %s", i, res.Exit.Status, res.KongError)
				return
			}
			if got := upstream(res, "X-Got"); len(got) != 1 || got[0] != want {
				errs <- fmt.Errorf("event %d: got %q, want %q", i, got, want)
				return
			}
			instances <- upstream(res, "X-Instance")[0]
		}(i)
	}
	wg.Wait()
	close(errs)
	close(instances)
	for err := range errs {
		t.Error(err)
	}
	seen := map[string]bool{}
	for id := range instances {
		seen[id] = true
	}
	if len(seen) != 1 {
		t.Errorf("concurrent first events must share one instance, saw %v", seen)
	}
	if got := s.Instances(); len(got) != 1 || got["plugin-1"] == 0 {
		t.Errorf("instances %v", got)
	}
}

func TestConfigChangeAndRebuild(t *testing.T) {
	s, out := startEcho(t, ServerOptions{})
	ctx := testCtx(t, 20*time.Second)
	ref := PluginRef{ID: "plugin-1"}
	access := func(cfg map[string]any, r PluginRef) *Result {
		t.Helper()
		res, err := s.Access(ctx, r, cfg, &Request{})
		if err != nil || res.Exit != nil {
			t.Fatalf("Access: %v %+v", err, res)
		}
		return res
	}
	a, b := echoConfig(t, map[string]any{"greeting": "a"}), echoConfig(t, map[string]any{"greeting": "b"})

	r1 := access(a, ref)
	id1 := s.Instances()["plugin-1"]
	r2 := access(b, ref) // config change: new __seq__, new instance, old closed
	id2 := s.Instances()["plugin-1"]
	if id2 == id1 || upstream(r2, "X-Greeting")[0] != "b" || upstream(r2, "X-Instance")[0] == upstream(r1, "X-Instance")[0] {
		t.Errorf("config change did not start a new instance: ids %d → %d, %v → %v", id1, id2, upstream(r1, "X-Instance"), upstream(r2, "X-Instance"))
	}
	waitOutput(t, out, fmt.Sprintf("closed instance %d", id1))
	access(b, ref)
	if s.Instances()["plugin-1"] != id2 {
		t.Errorf("unchanged config must keep instance %d, got %v", id2, s.Instances())
	}
	s.Rebuild()
	access(b, ref)
	id3 := s.Instances()["plugin-1"]
	if id3 == id2 {
		t.Errorf("Rebuild must restart the instance: %d → %d", id2, id3)
	}
	waitOutput(t, out, fmt.Sprintf("closed instance %d", id2))
	// configuring another plugin rebuilds the iterator for everyone
	access(a, PluginRef{ID: "plugin-2"})
	access(b, ref)
	if id4 := s.Instances()["plugin-1"]; id4 == id3 {
		t.Errorf("a new plugin must rebuild all instances: still %d", id4)
	}
}

func TestKillAndRespawn(t *testing.T) {
	// Kong respawns no sooner than RespawnDelay after the previous spawn;
	// killing right after a spawn leaves a window where the socket file
	// exists but nobody listens. The test holds that window open: the
	// first respawn waits for its go.
	cfg := echoConfig(t, map[string]any{"greeting": "k"})
	respawn := make(chan time.Time, 1)
	held := true
	var heldMu sync.Mutex
	s, out := startEcho(t, ServerOptions{RespawnAfter: func(d time.Duration) <-chan time.Time {
		heldMu.Lock()
		defer heldMu.Unlock()
		if held {
			held = false
			return respawn
		}
		return time.After(d)
	}})
	ref := PluginRef{ID: "plugin-1"}
	ctx := testCtx(t, 30*time.Second)
	if res, err := s.Access(ctx, ref, cfg, &Request{}); err != nil || res.Exit != nil {
		t.Fatalf("warm-up: %v %+v", err, res)
	}
	pid := s.PID()

	// An event in flight when the server dies: the read fails with
	// "closed", Kong resets the instances and retries once; the retry's
	// cmd_start_instance cannot connect (refused, or reset when it reached
	// the dying listener's backlog, or a broken pipe when its write came
	// after that reset), which is raised: 500.
	inflight := make(chan *Result, 1)
	go func() {
		res, err := s.Access(ctx, ref, cfg, &Request{Headers: hdrs("X-Sleep", "2s")})
		if err != nil {
			t.Errorf("in-flight Access: %v", err)
		}
		inflight <- res
	}()
	waitOutput(t, out, "echoplugin: sleeping 2s")
	if err := s.Kill(); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	res := <-inflight
	if res.Retries != 1 || res.Exit == nil || res.Exit.Status != 500 ||
		(res.KongError != "connection refused" && res.KongError != "connection reset by peer" && res.KongError != "broken pipe") {
		t.Errorf("in-flight event: retries %d, exit %+v, KongError %q", res.Retries, res.Exit, res.KongError)
	}
	waitOutput(t, out, "[kong] [warn] closed")

	// The next event before the respawn fails the same way.
	res, err := s.Access(ctx, ref, cfg, &Request{})
	if err != nil {
		t.Fatalf("Access after kill: %v", err)
	}
	if res.Exit == nil || res.Exit.Status != 500 || res.KongError != "connection refused" {
		t.Errorf("event before respawn: exit %+v, KongError %q", res.Exit, res.KongError)
	}
	respawn <- time.Now()
	if err := s.WaitReady(ctx); err != nil {
		t.Fatalf("WaitReady: %v", err)
	}
	res, err = s.Access(ctx, ref, cfg, &Request{})
	if err != nil || res.Exit != nil || res.Retries != 0 {
		t.Fatalf("Access after respawn: %v %+v %q retries %d", err, res.Exit, res.KongError, res.Retries)
	}
	if s.Starts() != 2 || s.PID() == pid {
		t.Errorf("starts %d, pid %d → %d", s.Starts(), pid, s.PID())
	}

	// Killed with no event in flight: Kong still holds the old instance
	// id, the new server answers "no plugin instance" by closing the
	// connection, and Kong resets and retries once, successfully.
	if err := s.Kill(); err != nil {
		t.Fatalf("second Kill: %v", err)
	}
	if err := s.WaitReady(ctx); err != nil {
		t.Fatalf("WaitReady: %v", err)
	}
	res, err = s.Access(ctx, ref, cfg, &Request{})
	if err != nil || res.Exit != nil {
		t.Fatalf("Access after silent respawn: %v %+v %q", err, res.Exit, res.KongError)
	}
	if res.Retries != 1 || s.Starts() != 3 {
		t.Errorf("retries = %d (want 1), starts %d (want 3)", res.Retries, s.Starts())
	}
	waitOutput(t, out, "no plugin instance")
}

func TestStartServerAndClose(t *testing.T) {
	if _, err := StartServer(testCtx(t, 5*time.Second), filepath.Join(t.TempDir(), "missing"), ServerOptions{}); err == nil {
		t.Errorf("StartServer of a missing binary should fail")
	}
	bin := buildEcho(t)
	s, err := StartServer(testCtx(t, 15*time.Second), bin, ServerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pid, prefix := s.PID(), s.Prefix()
	if s.SocketPath() != filepath.Join(prefix, "echoplugin.socket") {
		t.Errorf("socket path %s", s.SocketPath())
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("process %d still exists after Close (%v)", pid, err)
	}
	if _, err := os.Stat(prefix); !os.IsNotExist(err) {
		t.Errorf("prefix %s not removed", prefix)
	}
	if s.Starts() != 1 {
		t.Errorf("Close must not respawn: starts %d", s.Starts())
	}
}

func TestCleanEnv(t *testing.T) {
	s := &Server{opts: ServerOptions{CleanEnv: true, Env: []string{"A=1"}}}
	for _, e := range s.environ() {
		if !strings.HasPrefix(e, "TZ=") && e != "A=1" {
			t.Errorf("unexpected variable %q in a clean environment", e)
		}
	}
}
