package main

import (
	"fmt"
	"strings"
	"time"
)

// report is everything one run measured.
type report struct {
	Date, Machine string
	Quick         bool
	Duration      time.Duration
	Reps          int
	Concurrency   int
	PDK           []pdkRow
	InProcess     []inProcessRow
	BytesPerEntry float64
	E2E           []e2eRow
	Offload       []offloadRow
	Events        int
	OffloadUsers  int
	EventP50      time.Duration
	EventP99      time.Duration
	KongLua       *kongLuaReport
	Surge         surgeResults
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }

func (r *report) markdown() string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	w("# Benchmarks\n\n")
	w("Written by `make bench` (`go run ./test/bench`) on %s.\n\n", r.Date)
	w("- Machine: %s\n", r.Machine)
	w("- Load runs: %d interleaved repetitions of %s each, %d concurrent connections, after a warm-up; medians with the spread (min–max) over the repetitions.\n",
		r.Reps, r.Duration, r.Concurrency)
	w("- The stand-in Rails verify endpoint answers in %s (a fast, healthy Rails).\n", railsLatency)
	if r.Quick {
		w("- **Quick run (`-quick`)**: a smoke test, too short for the figures to mean much.\n")
	}
	w("\nAll traffic stays on 127.0.0.1 and unix sockets. Reproduce with `make bench`; it takes about eight minutes on 2 cores (three of them inside Kong's Lua, section 6).\n")

	w("\n## 1. PDK calls per request\n\n")
	w("Each PDK call is a round trip between Kong and the plugin process over the unix socket: the main cost of a Go plugin. Counted by the harness (internal/kongsim) on the real binary, not estimated. The physical floor on a cache hit is **2**: one read (`kong.request.get_header` of the credential; `kong.request.get_headers` with session cookies) and one write (`kong.service.request.set_headers`).\n\n")
	w("| path | PDK calls | calls |\n|---|---:|---|\n")
	for _, p := range r.PDK {
		w("| %s | %d | %s |\n", p.Path, len(p.Calls), strings.Join(p.Calls, ", "))
	}

	w("\nOne access event on a cache hit, timed through the harness (%d serial events: the plugin process, both round trips over the unix socket, the harness's PDK work): p50 **%.0f µs**, p99 %.0f µs.\n",
		r.Events, float64(r.EventP50)/float64(time.Microsecond), float64(r.EventP99)/float64(time.Microsecond))

	w("\n## 2. The plugin's own work per request (in process)\n\n")
	w("`go test ./internal/identity -bench 'BenchmarkAccess|BenchmarkRevocation100k' -benchmem`: the plugin's Go code from the request headers to the set_headers map, without the PDK round trips. Raw output for benchstat: `docs/%s`.\n\n", rawBenchName)
	w("| benchmark | ns/op (median) | spread | B/op | allocs/op | runs |\n|---|---:|---:|---:|---:|---:|\n")
	for _, p := range r.InProcess {
		w("| %s | %.0f | %.0f–%.0f | %.0f | %.0f | %d |\n", p.Name, p.NsOp, p.NsMin, p.NsMax, p.BytesOp, p.AllocsOp, p.Runs)
	}
	w("\nAccessMiss and AccessRejected include a real HTTP call to a local auth service (no artificial latency); AccessCacheHit is the hot path. AccessProviderHit, AccessProviderMiss and AccessProviderForged are the identity provider's tokens (issue 21): a hit from the cache (a JWT is longer than an opaque token, so hashing it for the key costs more), a miss verified locally (RS256 2048-bit against the cached key set: no network, no Rails), and a forged token refused (negative_ttl 0, so each one is verified). Revocation100k is one revocation message's in-process work (remembered, then the user's or credential's entries dropped from every partition through the indexes) with 100,000 cached identities in 4 partitions, plus caching the identity again (goal: under 1 ms; a scan of every entry took 30 ms before the indexes).\n")

	w("\n## 3. End to end through the local gateway\n\n")
	w("HTTP through the local gateway (`cmd/legacy-gateway`: Go reverse proxy + the harness speaking Kong's protocol to the real plugin process) to one upstream, %d users' tokens. Ratios are against the same gateway route without the plugin, from the same interleaved runs. The gateway is not Kong: its proxy and, above all, the harness's emulation of Kong's Lua side (protobuf decoding, header tables, a connection pool, all in Go on the same 2 cores as the load generator and the plugin) are far heavier than nginx and LuaJIT, so these ratios are an upper bound of what the plugin adds, not a prediction for Kong. Compare the routes with each other: the cost of authenticating at all, and what the cache saves over asking Rails each time.\n\n", 100)
	w("| route | req/s (median) | req/s spread | p50 | p50 spread | p99 | p99 spread | errors | vs no plugin: req/s, p50, p99 | Rails calls per request |\n|---|---:|---:|---:|---:|---:|---:|---:|---|---:|\n")
	for _, e := range r.E2E {
		w("| %s | %.0f | %.0f–%.0f | %s | %s–%s | %s | %s–%s | %d | %.2f×, %.2f×, %.2f× | %.3f |\n",
			e.Name, e.RPS, e.RPSMin, e.RPSMax, ms(e.P50), ms(e.P50Min), ms(e.P50Max), ms(e.P99), ms(e.P99Min), ms(e.P99Max),
			e.Errors, e.RatioRPS, e.RatioP50, e.RatioP99, e.RailsCallsPerRequest)
	}

	w("\n## 4. Offload: what reaches Rails\n\n")
	if len(r.Offload) > 0 {
		w("%d requests per configuration (%d users × %d requests): every user's requests arrive as a burst (a page load), 64 at a time, through the harness.\n\n", r.Offload[0].Requests, r.OffloadUsers, r.Offload[0].Requests/int64(r.OffloadUsers))
	}
	w("| configuration | requests served | calls to Rails | Rails calls per request | failed |\n|---|---:|---:|---:|---:|\n")
	for _, o := range r.Offload {
		w("| %s | %d | %d | %.3f | %d |\n", o.Name, o.Requests, o.RailsCalls, float64(o.RailsCalls)/float64(o.Requests), o.Failed)
	}

	w("\n## 5. Memory per cached identity\n\n")
	w("%.0f bytes per identity, measured as heap growth at 100,000 cached identities (key, entry, identity with two roles, go-cache item and map slot): 100,000 users cost about %.0f MiB.\n",
		r.BytesPerEntry, r.BytesPerEntry*100000/(1<<20))

	if r.KongLua != nil {
		w("\n%s", r.KongLua.markdown())
	}

	w("%s", surgeMarkdown(r.Surge))

	w("\n## How to read these figures\n\n")
	w("- **PDK calls** decide the plugin's cost inside real Kong: each is a socket round trip plus protobuf work on both sides. A cache hit at the floor of 2 cannot be made cheaper without changing go-pdk.\n")
	w("- **In-process ns/op** is the plugin's own CPU per request; compare it with the end-to-end latency to see that the round trips, not the plugin's code, dominate.\n")
	w("- **End to end** ratios show the cost of authenticating on every request at the gateway, and what caching buys over asking Rails every time (Option A of the design documents).\n")
	w("- **Offload** is the load Rails no longer sees: with the cache, Rails is asked about once per user per cache_ttl; coalescing removes the duplicates of a cold user's burst.\n")
	return b.String()
}
