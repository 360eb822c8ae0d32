package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/legacy-auth/legacy-auth/internal/fakeidp"
	"github.com/legacy-auth/legacy-auth/test/konglua"
)

// kongLuaSection is the heading of the section this file writes; -only
// konglua replaces that section of an existing report.
const kongLuaSection = "## 6. Inside Kong's Lua runloop"

// browserHeaders are sent with every request of the section, beside
// Authorization: what a browser's API call carries (13 lines, about 700
// bytes with Host). A read of the whole header table costs with their
// number, so a bare two-header request would flatter it.
var browserHeaders = []string{
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
	"Accept: application/json, text/plain, */*",
	"Accept-Language: en-US,en;q=0.9,de;q=0.8",
	"Accept-Encoding: gzip, deflate, br",
	"Referer: https://app.example.com/orders/42",
	"Origin: https://app.example.com",
	"Cookie: _ga=GA1.1.123456789.1700000000; _gid=GA1.1.987654321.1700000000; theme=dark; locale=en",
	"Sec-Fetch-Site: same-site",
	"Sec-Fetch-Mode: cors",
	"Sec-Fetch-Dest: empty",
	"X-Request-ID: 4bf92f3577b34da6a3ce929d0e0e4736",
}

// moreHeaders is how many header lines the baseline comparison adds to
// show how each read path's cost grows with the request.
const moreHeaders = 50

// kongLuaConns is wrk's connection count: enough to keep one nginx worker
// busy, few enough for the 2-core machines this runs on.
const kongLuaConns = 16

// kongLuaReport is what the kong-lua section measured.
type kongLuaReport struct {
	Skipped   string // why the section did not run ("" if it did)
	Rounds    int
	Duration  time.Duration
	KongSrc   string    // Kong commit of the Lua sources
	Load      [2]string // /proc/loadavg's 1-minute figure when the rounds began and ended
	Smoke     bool
	Rows      []kongLuaRow
	Baselines []string // extra binaries measured (-konglua-baseline)
}

// kongLuaRow is one route over every round: its throughput as a ratio to
// the no-plugin route of the same nginx in the same round, and CPU per
// request of the plugin process and of the nginx worker.
type kongLuaRow struct {
	Name                    string
	Ratios, PluginUS, NgxUS []float64
	RPS                     []float64
	Non2xx                  int64
	WantNon2xx              bool
}

// kongLuaTarget is one wrk run per round.
type kongLuaTarget struct {
	row       *kongLuaRow
	inst      *konglua.Instance
	path      string
	auth      string
	plain     bool // the instance's no-plugin route (ratio 1 by definition)
	plainOf   *kongLuaTarget
	lastRPS   float64
	hasPlugin bool
	extra     int // header lines sent on top of browserHeaders
}

// kongLuaRun measures, in Kong's own Lua (../shared/kong-lua) with one
// nginx worker: the no-plugin route, legacy-auth's cache hit, miss and
// cached rejection, the minimal go-pdk plugin (test/bench/minimal), and the
// Lua original's cache hit, with wrk in interleaved rounds. baselines are
// more legacy-auth binaries ("label=path") whose cache hit is measured the
// same way, e.g. an earlier commit.
//
// A smoke run (smoke: make test's bench -quick) measures only the
// no-plugin route and the cache hit, so that it stays quick while still
// exercising every step.
func kongLuaRun(ctx context.Context, rounds int, d time.Duration, baselines []string, smoke bool) (*kongLuaReport, error) {
	r := &kongLuaReport{Rounds: rounds, Duration: d, Smoke: smoke}
	tool, err := konglua.Find()
	if err != nil {
		r.Skipped = err.Error()
		return r, nil
	}
	wrk, err := exec.LookPath("wrk")
	if err != nil {
		r.Skipped = "wrk is not installed (apt-get install wrk)"
		return r, nil
	}
	if b, err := os.ReadFile(filepath.Join(tool, "kong-src", "COMMIT")); err == nil {
		r.KongSrc = strings.TrimSpace(string(b))
	}

	dir, err := os.MkdirTemp("", "klb") // short: unix socket paths ≤ 107 bytes
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	bins := map[string]string{"legacy-auth": "./cmd/legacy-auth", "minimal": "./test/bench/minimal"}
	if smoke {
		delete(bins, "minimal")
	}
	for name, pkg := range bins {
		build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", filepath.Join(dir, "bin", name), pkg)
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("building %s: %w\n%s", pkg, err, out)
		}
	}

	rails := &railsStub{}
	var closers []func()
	defer func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}()
	railsURL, stop, err := serveLocal(rails)
	if err != nil {
		return nil, err
	}
	closers = append(closers, stop)

	start := func(name, bin string, routes []konglua.Route) (*konglua.Instance, error) {
		in, err := konglua.Start(ctx, tool, bin, filepath.Join(dir, name), routes, konglua.Options{Quiet: true})
		if err != nil {
			return nil, err
		}
		closers = append(closers, func() { in.Stop() })
		return in, nil
	}
	// The identity provider of the provider-token rows: its keys served
	// here, its token minted here (valid for longer than the run).
	idpLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	idp, err := fakeidp.Serve(idpLn, 12*time.Hour)
	if err != nil {
		return nil, err
	}
	closers = append(closers, idp.Close)
	provTok, err := idp.Mint(fakeidp.Clients[0], time.Now())
	if err != nil {
		return nil, err
	}
	provTok = "Bearer " + provTok
	issuers := []any{map[string]any{"issuer": idp.Issuer, "jwks_uri": idp.Issuer + "/jwks", "audiences": []string{fakeidp.Audience}}}

	plain := konglua.Route{Paths: []string{"/plain"}, Upstream: "echo"}
	la, err := start("a", filepath.Join(dir, "bin", "legacy-auth"), []konglua.Route{
		{Paths: []string{"/phit"}, Upstream: "echo", Config: map[string]any{"auth_url": railsURL + "/verify/kl-phit", "jwt_issuers": issuers}},
		{Paths: []string{"/pmiss"}, Upstream: "echo", Config: map[string]any{"auth_url": railsURL + "/verify/kl-pmiss", "jwt_issuers": issuers,
			"cache_ttl": 0}},
		{Paths: []string{"/pcred"}, Upstream: "echo", Config: map[string]any{"auth_url": railsURL + "/verify/kl-pcred", "jwt_issuers": issuers,
			"kong_credential": true}},
		plain,
		{Paths: []string{"/hit"}, Upstream: "echo", Config: map[string]any{"auth_url": railsURL + "/verify/kl-hit"}},
		{Paths: []string{"/miss"}, Upstream: "echo", Config: map[string]any{"auth_url": railsURL + "/verify/kl-miss",
			"cache_ttl": 0, "coalesce": false, "breaker_threshold": 0}},
		{Paths: []string{"/reject"}, Upstream: "echo", Config: map[string]any{"auth_url": railsURL + "/verify/kl-reject", "negative_ttl": 3600}},
		{Paths: []string{"/lua"}, Upstream: "echo", LuaSeed: true},
	})
	if err != nil {
		return nil, err
	}

	var targets []*kongLuaTarget
	extra := 0 // header lines on top of browserHeaders for the targets added next
	add := func(name string, in *konglua.Instance, path, auth string, plainOf *kongLuaTarget, non2xx bool) *kongLuaTarget {
		r.Rows = append(r.Rows, kongLuaRow{Name: name, WantNon2xx: non2xx})
		t := &kongLuaTarget{inst: in, path: path, auth: auth, plainOf: plainOf, plain: plainOf == nil, hasPlugin: plainOf != nil && path != "/lua", extra: extra}
		targets = append(targets, t)
		return t
	}
	const good = "Bearer user-1"
	pa := add("no plugin (the baseline)", la, "/plain", good, nil, false)
	add("legacy-auth, cache hit", la, "/hit", good, pa, false)
	if !smoke {
		add("legacy-auth, miss (cache_ttl 0: Rails asked on every request, 2 ms)", la, "/miss", good, pa, false)
		add("legacy-auth, rejection (401 from the negative cache)", la, "/reject", "Bearer bad", pa, true)
		add("legacy-auth, provider token (JWT), cache hit", la, "/phit", provTok, pa, false)
		add("legacy-auth, provider token (JWT), miss (cache_ttl 0: RS256 verified on every request, no network)", la, "/pmiss", provTok, pa, false)
		add("legacy-auth, provider token (JWT), cache hit, kong_credential (+1 PDK call)", la, "/pcred", provTok, pa, false)
		// The keys' first fetch runs in the background: wait for it (an
		// event: the first 200), bounded.
		if err := waitProvider(ctx, la.URL+"/phit/x", provTok); err != nil {
			return nil, err
		}
		add("Lua original's cache hit (kong.cache L1 + 2 set_header, lua_seed)", la, "/lua", good, pa, false)
		mini, err := start("m", filepath.Join(dir, "bin", "minimal"), []konglua.Route{
			plain, {Paths: []string{"/min"}, Upstream: "echo", Config: map[string]any{}},
		})
		if err != nil {
			return nil, err
		}
		pm := add("no plugin (second nginx)", mini, "/plain", good, nil, false)
		add("minimal go-pdk plugin (get_header + set_headers)", mini, "/min", good, pm, false)
		in, err := konglua.Start(ctx, tool, filepath.Join(dir, "bin", "minimal"), filepath.Join(dir, "c"), []konglua.Route{
			plain, {Paths: []string{"/min"}, Upstream: "echo", Config: map[string]any{}},
		}, konglua.Options{Quiet: true, PluginArgs: []string{"-clears"}})
		if err != nil {
			return nil, err
		}
		closers = append(closers, func() { in.Stop() })
		pc := add("no plugin (third nginx)", in, "/plain", good, nil, false)
		add("minimal go-pdk plugin, also clearing the 6 other spellings", in, "/min", good, pc, false)
	}
	for i, b := range baselines {
		label, path, ok := strings.Cut(b, "=")
		if !ok {
			return nil, fmt.Errorf("-konglua-baseline %q: want label=path", b)
		}
		// The binary must be named legacy-auth (go-pdk names the plugin after it).
		bdir := filepath.Join(dir, "bin"+strconv.Itoa(i))
		if err := os.MkdirAll(bdir, 0o755); err != nil {
			return nil, err
		}
		if err := os.Symlink(path, filepath.Join(bdir, "legacy-auth")); err != nil {
			return nil, err
		}
		in, err := start("b"+strconv.Itoa(i), filepath.Join(bdir, "legacy-auth"), []konglua.Route{
			plain, {Paths: []string{"/hit"}, Upstream: "echo", Config: map[string]any{"auth_url": railsURL + "/verify/kl-base"}},
		})
		if err != nil {
			return nil, err
		}
		p := add("no plugin ("+label+" nginx)", in, "/plain", good, nil, false)
		add("legacy-auth, cache hit, "+label, in, "/hit", good, p, false)
		// The read path's cost with the request's size: 50 more header lines.
		extra = moreHeaders
		p = add(fmt.Sprintf("no plugin (%s nginx), %d more headers", label, extra), in, "/plain", good, nil, false)
		add(fmt.Sprintf("legacy-auth, cache hit, %s, %d more headers", label, extra), in, "/hit", good, p, false)
		extra = 0
		r.Baselines = append(r.Baselines, label)
	}
	if len(baselines) > 0 {
		extra = moreHeaders
		p := add(fmt.Sprintf("no plugin, %d more headers", extra), la, "/plain", good, nil, false)
		add(fmt.Sprintf("legacy-auth, cache hit, %d more headers", extra), la, "/hit", good, p, false)
		extra = 0
	}
	// r.Rows is complete (no more appends): point each target at its row.
	for i, t := range targets {
		t.row = &r.Rows[i]
	}

	// Warm up: caches filled, connections pooled, LuaJIT traces compiled
	// (not for a one-round smoke run).
	for _, t := range targets {
		if rounds == 1 {
			break
		}
		if _, err := runWrk(ctx, wrk, t, time.Second); err != nil {
			return nil, err
		}
	}
	r.Load[0] = loadAvg()
	defer func() { r.Load[1] = loadAvg() }()
	for round := 0; round < rounds; round++ {
		for _, t := range targets {
			res, err := runWrk(ctx, wrk, t, d)
			if err != nil {
				return nil, err
			}
			t.lastRPS = res.rps
			t.row.RPS = append(t.row.RPS, res.rps)
			t.row.Non2xx += res.non2xx
			t.row.NgxUS = append(t.row.NgxUS, res.ngxUS)
			if t.hasPlugin {
				t.row.PluginUS = append(t.row.PluginUS, res.pluginUS)
			}
		}
		for _, t := range targets {
			if t.plain {
				t.row.Ratios = append(t.row.Ratios, 1)
			} else {
				t.row.Ratios = append(t.row.Ratios, t.lastRPS/t.plainOf.lastRPS)
			}
		}
	}
	for _, row := range r.Rows {
		if row.Non2xx > 0 && !row.WantNon2xx {
			return nil, fmt.Errorf("%s: %d answers were not 2xx", row.Name, row.Non2xx)
		}
	}
	return r, nil
}

// loadAvg is the 1-minute load average: how busy the shared machine was.
// waitProvider asks url with auth until it is not answered 503 (the
// provider's keys still loading), at most 100 times.
func waitProvider(ctx context.Context, url, auth string) error {
	c := http.Client{Timeout: 5 * time.Second}
	for range 100 {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", auth)
		res, err := c.Do(req)
		if err != nil {
			return err
		}
		res.Body.Close()
		if res.StatusCode == 200 {
			return nil
		}
		if res.StatusCode != 503 {
			return fmt.Errorf("provider route %s: %d", url, res.StatusCode)
		}
	}
	return fmt.Errorf("provider route %s: the keys never loaded", url)
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Fields(string(b))[0]
}

// serveLocal serves h on a fresh 127.0.0.1 port.
func serveLocal(h http.Handler) (string, func(), error) {
	e := &benchEnv{}
	url, err := e.serve(h)
	return url, e.close, err
}

type wrkResult struct {
	rps, pluginUS, ngxUS float64
	non2xx               int64
}

var (
	wrkRPS    = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	wrkTotal  = regexp.MustCompile(`(\d+) requests in`)
	wrkNon2xx = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
)

// runWrk runs one wrk (one thread, kongLuaConns connections) against t,
// with the CPU time the plugin process and the nginx worker spent during
// it, per request.
func runWrk(ctx context.Context, wrk string, t *kongLuaTarget, d time.Duration) (wrkResult, error) {
	var res wrkResult
	plugin, err := t.inst.PluginPID()
	if err != nil {
		return res, err
	}
	worker, err := t.inst.NginxWorkerPID()
	if err != nil {
		return res, err
	}
	p0, err1 := cpuTicks(plugin)
	n0, err2 := cpuTicks(worker)
	if err := errors.Join(err1, err2); err != nil {
		return res, err
	}
	secs := fmt.Sprintf("%ds", max(1, int(d.Round(time.Second)/time.Second))) // wrk takes whole seconds
	args := []string{"-t1", "-c" + strconv.Itoa(kongLuaConns), "-d" + secs, "-H", "Authorization: " + t.auth}
	for _, h := range browserHeaders {
		args = append(args, "-H", h)
	}
	for i := range t.extra {
		args = append(args, "-H", fmt.Sprintf("X-Extra-%d: some-value-of-forty-bytes-0123456789abcdef", i))
	}
	out, err := exec.CommandContext(ctx, wrk, append(args, t.inst.URL+t.path+"/x")...).CombinedOutput()
	if err != nil {
		return res, fmt.Errorf("wrk %s: %w\n%s", t.path, err, out)
	}
	p1, err1 := cpuTicks(plugin)
	n1, err2 := cpuTicks(worker)
	if err := errors.Join(err1, err2); err != nil {
		return res, err
	}
	m, total := wrkRPS.FindSubmatch(out), wrkTotal.FindSubmatch(out)
	if m == nil || total == nil {
		return res, fmt.Errorf("wrk %s: no request rate in its output:\n%s", t.path, out)
	}
	res.rps, _ = strconv.ParseFloat(string(m[1]), 64)
	n, _ := strconv.ParseFloat(string(total[1]), 64)
	if n == 0 {
		return res, fmt.Errorf("wrk %s: no request completed", t.path)
	}
	if m := wrkNon2xx.FindSubmatch(out); m != nil {
		res.non2xx, _ = strconv.ParseInt(string(m[1]), 10, 64)
	}
	const usPerTick = 1e6 / 100 // USER_HZ is 100 on Linux
	res.pluginUS = float64(p1-p0) * usPerTick / n
	res.ngxUS = float64(n1-n0) * usPerTick / n
	return res, nil
}

// cpuTicks is a process's user + system CPU time in clock ticks
// (/proc/<pid>/stat fields 14 and 15).
func cpuTicks(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	return u + st, errors.Join(err1, err2)
}

// spread is the median and range of xs (0s when empty).
func spread(xs []float64) (med, lo, hi float64) {
	if len(xs) == 0 {
		return 0, 0, 0
	}
	return medianSpread(xs, func(x float64) float64 { return x })
}

// markdown is the section.
func (k *kongLuaReport) markdown() string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	w("%s\n\n", kongLuaSection)
	if k.Skipped != "" {
		w("Not measured in this run: %s. `make bench` measures it where the kong-lua tool (Kong's own Lua in Debian's nginx, `../shared/kong-lua` or `$KONG_LUA_DIR`) and wrk are installed.\n", k.Skipped)
		return b.String()
	}
	w("The real binary behind **Kong's own Lua** (kong/runloop/plugin_servers, the PDK, `Kong.access`; Kong commit %s) in Debian's nginx 1.22 with lua-nginx-module, one worker, through the kong-lua tool; the upstream is nginx's built-in echo. ", shortCommit(k.KongSrc))
	w("wrk, 1 thread, %d connections, %s per route, **%d interleaved rounds**, every request with `Authorization` and %d browser-like headers (User-Agent, Accept*, Cookie, Referer, Sec-Fetch-*, ...); each route's throughput is divided by the no-plugin route of the same nginx **in the same round**, and the table gives the median of those per-round ratios with their spread (min–max). ", kongLuaConns, k.Duration, k.Rounds, len(browserHeaders))
	w("CPU per request is the plugin process's and the nginx worker's user+system time during the route's runs (/proc/<pid>/stat) divided by its requests; wrk and everything else share the same cores, so compare rows, not absolute numbers. The machine's 1-minute load average was %s when the rounds began and %s when they ended (%d cores).\n\n", k.Load[0], k.Load[1], runtime.NumCPU())
	if k.Smoke {
		w("**Smoke run**: the no-plugin route and the cache hit only, one short round.\n\n")
	}
	if len(k.Baselines) > 0 {
		w("Rows ending in %s are another legacy-auth binary measured in the same run, in its own nginx (`go run ./test/bench -only konglua -konglua-baseline label=path`).\n\n", strings.Join(k.Baselines, ", "))
	}
	w("| route | throughput vs no plugin (median) | spread | req/s (median) | plugin CPU µs/req | nginx worker CPU µs/req |\n|---|---:|---:|---:|---:|---:|\n")
	for _, r := range k.Rows {
		ratio, lo, hi := spread(r.Ratios)
		rps, _, _ := spread(r.RPS)
		ngx, _, _ := spread(r.NgxUS)
		plug := "—"
		if len(r.PluginUS) > 0 {
			p, plo, phi := spread(r.PluginUS)
			plug = fmt.Sprintf("%.0f (%.0f–%.0f)", p, plo, phi)
		}
		w("| %s | %.2f× | %.2f–%.2f | %.0f | %s | %.0f |\n", r.Name, ratio, lo, hi, rps, plug, ngx)
	}
	w("\nPer-round ratios between routes (median, spread): throughput ratios divided, and CPU per request (plugin process + nginx worker) divided. On a shared machine the CPU per request is the steadier of the two.\n\n")
	hit := k.row("legacy-auth, cache hit|")
	compare := func(label string, hit, o *kongLuaRow) {
		if hit == nil || o == nil {
			return
		}
		m, lo, hi := spread(quotients(hit.Ratios, o.Ratios))
		w("- %s: throughput %.2f× (%.2f–%.2f)", label, m, lo, hi)
		if len(o.PluginUS) > 0 {
			m, lo, hi = spread(quotients(sums(hit.PluginUS, hit.NgxUS), sums(o.PluginUS, o.NgxUS)))
			w(", CPU per request %.2f× (%.2f–%.2f)", m, lo, hi)
		}
		w("\n")
	}
	compare("legacy-auth's cache hit vs the minimal go-pdk plugin", hit, k.row("minimal go-pdk plugin (get_header + set_headers)|"))
	compare("legacy-auth's cache hit vs the minimal go-pdk plugin with the same clears", hit, k.row("minimal go-pdk plugin, also clearing the 6 other spellings|"))
	compare("legacy-auth's cache hit vs the Lua original's", hit, k.row("Lua original"))
	for _, label := range k.Baselines {
		compare("legacy-auth's cache hit vs the same at "+label, hit, k.row("legacy-auth, cache hit, "+label+"|"))
		more := fmt.Sprintf(", %d more headers", moreHeaders)
		compare("the same with"+strings.TrimPrefix(more, ","), k.row("legacy-auth, cache hit"+more+"|"), k.row("legacy-auth, cache hit, "+label+more+"|"))
	}
	w("\nHow to read it: the price of a Go plugin inside Kong is go-pdk's machinery: the event and one socket round trip per PDK call, each with Lua protobuf work in the nginx worker. The minimal go-pdk plugin (one read, one write) is the floor for any Go plugin that sets a header from the request; the Lua original runs inside the worker and pays none of it. What legacy-auth buys for that price is in the sections above and in the README: no identity spoofing in any spelling, exact ids, no token in logs or cache keys, stale-if-error, coalescing, the breaker, a shared cache and revocation.\n")
	return b.String()
}

// row is the first row whose name starts with prefix, or (prefix ending
// in "|") is exactly the rest (nil: none).
func (k *kongLuaReport) row(prefix string) *kongLuaRow {
	exact, isExact := strings.CutSuffix(prefix, "|")
	for i := range k.Rows {
		if (isExact && k.Rows[i].Name == exact) || (!isExact && strings.HasPrefix(k.Rows[i].Name, prefix)) {
			return &k.Rows[i]
		}
	}
	return nil
}

// sums adds a and b element by element.
func sums(a, b []float64) []float64 {
	out := make([]float64, 0, min(len(a), len(b)))
	for i := range min(len(a), len(b)) {
		out = append(out, a[i]+b[i])
	}
	return out
}

// quotients divides a by b element by element (the rounds they share).
func quotients(a, b []float64) []float64 {
	out := make([]float64, 0, min(len(a), len(b)))
	for i := range min(len(a), len(b)) {
		out = append(out, a[i]/b[i])
	}
	return out
}

func shortCommit(c string) string {
	if len(c) > 10 {
		return c[:10]
	}
	if c == "" {
		return "unknown"
	}
	return c
}

// spliceSection replaces the section starting with heading in doc (up to
// the next "## " heading) with section, or inserts it before "## How to
// read these figures" (or at the end).
func spliceSection(doc, heading, section string) string {
	if i := strings.Index(doc, heading); i >= 0 {
		rest := doc[i+len(heading):]
		end := len(doc)
		if j := strings.Index(rest, "\n## "); j >= 0 {
			end = i + len(heading) + j + 1
		}
		return doc[:i] + section + "\n" + doc[end:]
	}
	if i := strings.Index(doc, "## How to read these figures"); i >= 0 {
		return doc[:i] + section + "\n" + doc[i:]
	}
	return strings.TrimRight(doc, "\n") + "\n\n" + section
}
