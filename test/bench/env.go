package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/legacy-auth/legacy-auth/internal/gateway"
	"github.com/legacy-auth/legacy-auth/internal/kongsim"
)

// railsLatency is what the stand-in Rails verify endpoint takes per call: a
// fast, healthy Rails. Real ones are slower, which only widens the gap
// between cached and uncached figures.
const railsLatency = 2 * time.Millisecond

// benchEnv is everything a run needs, all on 127.0.0.1 or unix sockets.
type benchEnv struct {
	dir      string
	bin      string
	rails    *railsStub
	railsURL string
	upstream string
	sim      *kongsim.Server
	schema   map[string]any
	gw       *gateway.Gateway
	gwURL    string
	closers  []func()

	mu        sync.Mutex
	processed map[string]map[string]any // plugin id → config as Kong stores it
}

func newBenchEnv(ctx context.Context) (*benchEnv, error) {
	dir, err := os.MkdirTemp("", "lab")
	if err != nil {
		return nil, err
	}
	e := &benchEnv{dir: dir, bin: filepath.Join(dir, "legacy-auth"), rails: &railsStub{}, processed: map[string]map[string]any{}}
	for _, sub := range []string{"k1", "k2"} { // Kong prefixes: Kong creates its own
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return nil, err
		}
	}
	e.closers = append(e.closers, func() { os.RemoveAll(dir) })

	build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", e.bin, "./cmd/legacy-auth")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		e.close()
		return nil, fmt.Errorf("building the plugin: %w", err)
	}

	if e.railsURL, err = e.serve(e.rails); err != nil {
		e.close()
		return nil, err
	}
	if e.upstream, err = e.serve(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "ok")
	})); err != nil {
		e.close()
		return nil, err
	}

	dump, err := kongsim.QueryDump(ctx, e.bin)
	if err != nil {
		e.close()
		return nil, err
	}
	info, err := dump.Plugin("legacy-auth")
	if err != nil {
		e.close()
		return nil, err
	}
	e.schema = info.Schema
	if e.sim, err = kongsim.StartServer(ctx, e.bin, kongsim.ServerOptions{Prefix: filepath.Join(dir, "k1")}); err != nil {
		e.close()
		return nil, err
	}
	e.closers = append(e.closers, func() { e.sim.Close() })

	deck := filepath.Join(dir, "kong.yml")
	if err := os.WriteFile(deck, []byte(deckFile(e.railsURL, e.upstream)), 0o644); err != nil {
		e.close()
		return nil, err
	}
	e.gw, err = gateway.New(ctx, gateway.Options{
		ConfigPath: deck, PluginPath: e.bin, Prefix: filepath.Join(dir, "k2"),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), PluginOutput: io.Discard,
	})
	if err != nil {
		e.close()
		return nil, fmt.Errorf("starting the local gateway: %w", err)
	}
	e.closers = append(e.closers, func() { e.gw.Close() })
	if e.gwURL, err = e.serve(e.gw); err != nil {
		e.close()
		return nil, err
	}
	return e, nil
}

// deckFile is the gateway config of the end-to-end runs: the same upstream
// behind three routes that differ only in authentication.
func deckFile(rails, upstream string) string {
	return fmt.Sprintf(`_format_version: "3.0"
services:
  - name: app
    url: %[2]s
    routes:
      - name: cached
        paths: [/cached]
        plugins:
          - name: legacy-auth
            config: {auth_url: "%[1]s/verify/cached", cache_ttl: 300}
      - name: nocache
        paths: [/nocache]
        plugins:
          - name: legacy-auth
            config: {auth_url: "%[1]s/verify/nocache", cache_ttl: 0, coalesce: false}
      - name: plain
        paths: [/plain]
`, rails, upstream)
}

// serve runs h on a fresh 127.0.0.1 port until close.
func (e *benchEnv) serve(h http.Handler) (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(l)
	e.closers = append(e.closers, func() { srv.Close() })
	return "http://" + l.Addr().String(), nil
}

func (e *benchEnv) close() {
	for i := len(e.closers) - 1; i >= 0; i-- {
		e.closers[i]()
	}
}

// access runs one access event through the harness with a config processed
// the way Kong's Admin API would.
// Configs are processed once per plugin id, as Kong does when it loads them.
func (e *benchEnv) access(ctx context.Context, pluginID string, conf map[string]any, auth string) (*kongsim.Result, error) {
	e.mu.Lock()
	processed, ok := e.processed[pluginID]
	if !ok {
		var err error
		if processed, err = kongsim.ProcessConfig(e.schema, conf); err != nil {
			e.mu.Unlock()
			return nil, err
		}
		e.processed[pluginID] = processed
	}
	e.mu.Unlock()
	req := &kongsim.Request{Method: "GET", Path: "/orders", Headers: []kongsim.Header{
		{Name: "Host", Value: "api.example.com"}, {Name: "User-Agent", Value: "bench"}, {Name: "Accept", Value: "*/*"},
	}}
	if auth != "" {
		req.Headers = append(req.Headers, kongsim.Header{Name: "Authorization", Value: auth})
	}
	return e.sim.Access(ctx, kongsim.PluginRef{ID: pluginID, Name: "legacy-auth"}, processed, req)
}

// railsStub answers "Bearer user-N" with an identity and anything else
// with 401, after railsLatency, counting calls in total and per path (each
// experiment uses its own auth_url path, so requests still finishing from
// an earlier experiment never count against a later one).
type railsStub struct {
	calls  atomic.Int64
	byPath sync.Map // path → *atomic.Int64
}

func (s *railsStub) pathCalls(path string) int64 {
	v, _ := s.byPath.LoadOrStore(path, new(atomic.Int64))
	return v.(*atomic.Int64).Load()
}

func (s *railsStub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.calls.Add(1)
	v, _ := s.byPath.LoadOrStore(r.URL.Path, new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
	time.Sleep(railsLatency)
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer user-")
	if !ok {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"user_id":%q,"roles":["user"]}`, tok)
}

// pdkCalls counts the PDK round trips of each path, as the harness saw them.
func (e *benchEnv) pdkCalls(ctx context.Context) ([]pdkRow, error) {
	conf := map[string]any{"auth_url": e.railsURL + "/verify/pdk"}
	rows := []struct{ path, auth string }{
		{"miss (first request of a token)", "Bearer user-pdk"},
		{"cache hit", "Bearer user-pdk"},
		{"rejection (auth service says 401)", "Bearer bad-pdk"},
		{"rejection from the negative cache", "Bearer bad-pdk"},
		{"missing credential", ""},
	}
	var out []pdkRow
	for _, r := range rows {
		res, err := e.access(ctx, "pdk", conf, r.auth)
		if err != nil {
			return nil, err
		}
		out = append(out, pdkRow{Path: r.path, Calls: res.Calls})
	}
	acl := map[string]any{"auth_url": e.railsURL + "/verify/pdk", "acl_groups": true}
	res, err := e.access(ctx, "pdk-acl", acl, "Bearer user-pdk")
	if err != nil {
		return nil, err
	}
	out = append(out, pdkRow{Path: "cache hit with acl_groups on", Calls: res.Calls})
	for _, r := range out {
		if len(r.Calls) == 0 {
			return nil, errors.New("harness counted no PDK call")
		}
	}
	return out, nil
}

type pdkRow struct {
	Path  string
	Calls []string
}

// eventLatency times n serial access events (cache hits) through the
// harness: one request's whole trip over the plugin socket, two PDK round
// trips included, with nothing else competing.
func (e *benchEnv) eventLatency(ctx context.Context, n int) (p50, p99 time.Duration, err error) {
	conf := map[string]any{"auth_url": e.railsURL + "/verify/latency"}
	if _, err := e.access(ctx, "latency", conf, "Bearer user-lat"); err != nil {
		return 0, 0, err
	}
	lat := make([]time.Duration, 0, n)
	for i := 0; i < n; i++ {
		t0 := time.Now()
		res, err := e.access(ctx, "latency", conf, "Bearer user-lat")
		if err != nil {
			return 0, 0, err
		}
		if res.Exit != nil {
			return 0, 0, fmt.Errorf("latency run: answered %d", res.Exit.Status)
		}
		lat = append(lat, time.Since(t0))
	}
	slices.Sort(lat)
	return lat[n/2], lat[n*99/100], nil
}
