package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// loadResult is one load run.
type loadResult struct {
	RPS      float64
	P50, P99 time.Duration
	Errors   int64
}

// load sends GETs to url from conc workers for d, cycling through users
// tokens, and measures throughput and latency. Bounded by d and ctx.
func load(ctx context.Context, url string, d time.Duration, conc, users int) (loadResult, error) {
	tr := &http.Transport{MaxIdleConnsPerHost: conc, MaxConnsPerHost: conc, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}

	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var errs atomic.Int64
	lat := make([][]time.Duration, conc)
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			mine := make([]time.Duration, 0, 1<<14)
			for i := w; ctx.Err() == nil; i += conc {
				req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
				req.Header.Set("Authorization", fmt.Sprintf("Bearer user-%d", i%users))
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					if ctx.Err() == nil {
						errs.Add(1)
					}
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					errs.Add(1)
					continue
				}
				mine = append(mine, time.Since(t0))
			}
			lat[w] = mine
		}(w)
	}
	wg.Wait()
	elapsed := time.Since(start)
	all := slices.Concat(lat...)
	if len(all) == 0 {
		return loadResult{}, fmt.Errorf("no successful request to %s (%d errors)", url, errs.Load())
	}
	slices.Sort(all)
	return loadResult{
		RPS:    float64(len(all)) / elapsed.Seconds(),
		P50:    all[len(all)/2],
		P99:    all[len(all)*99/100],
		Errors: errs.Load(),
	}, nil
}

// scenario is one gateway route under load.
type scenario struct {
	Name string
	Path string
}

var scenarios = []scenario{
	{"no plugin (same gateway route, no legacy-auth)", "/plain"},
	{"legacy-auth, cache hits (cache_ttl 300)", "/cached"},
	{"legacy-auth, cache_ttl 0: every request asks Rails (\"Option A\")", "/nocache"},
}

// e2eRow is the medians of one scenario over the reps.
type e2eRow struct {
	Name                 string
	RPS, RPSMin, RPSMax  float64
	P50, P99             time.Duration
	P50Min, P50Max       time.Duration
	P99Min, P99Max       time.Duration
	Errors               int64
	RatioRPS, RatioP50   float64 // against the no-plugin route
	RatioP99             float64
	RailsCallsPerRequest float64
}

// endToEnd runs every scenario reps times, interleaved, after a warm-up.
func (e *benchEnv) endToEnd(ctx context.Context, d time.Duration, reps, conc int) ([]e2eRow, error) {
	const users = 100
	for _, s := range scenarios { // warm-up: fills the cache, opens connections
		if _, err := load(ctx, e.gwURL+s.Path, d/2, conc, users); err != nil {
			return nil, err
		}
	}
	runs := make([][]loadResult, len(scenarios))
	railsCalls := make([]int64, len(scenarios))
	served := make([]int64, len(scenarios))
	for rep := 0; rep < reps; rep++ {
		for k := range scenarios {
			i := (k + rep) % len(scenarios)            // rotate the order: no scenario always runs first
			railsPath := "/verify" + scenarios[i].Path // the deck names each route's auth_url after it
			before := e.rails.pathCalls(railsPath)
			r, err := load(ctx, e.gwURL+scenarios[i].Path, d, conc, users)
			if err != nil {
				return nil, err
			}
			railsCalls[i] += e.rails.pathCalls(railsPath) - before
			served[i] += int64(r.RPS * d.Seconds())
			runs[i] = append(runs[i], r)
		}
	}
	rows := make([]e2eRow, len(scenarios))
	for i, s := range scenarios {
		rs := runs[i]
		row := e2eRow{Name: s.Name}
		row.RPS, row.RPSMin, row.RPSMax = medianSpread(rs, func(r loadResult) float64 { return r.RPS })
		p50, p50min, p50max := medianSpread(rs, func(r loadResult) float64 { return float64(r.P50) })
		p99, p99min, p99max := medianSpread(rs, func(r loadResult) float64 { return float64(r.P99) })
		row.P50, row.P50Min, row.P50Max = time.Duration(p50), time.Duration(p50min), time.Duration(p50max)
		row.P99, row.P99Min, row.P99Max = time.Duration(p99), time.Duration(p99min), time.Duration(p99max)
		for _, r := range rs {
			row.Errors += r.Errors
		}
		if served[i] > 0 {
			row.RailsCallsPerRequest = float64(railsCalls[i]) / float64(served[i])
		}
		rows[i] = row
	}
	for i := range rows {
		rows[i].RatioRPS = rows[i].RPS / rows[0].RPS
		rows[i].RatioP50 = float64(rows[i].P50) / float64(rows[0].P50)
		rows[i].RatioP99 = float64(rows[i].P99) / float64(rows[0].P99)
	}
	return rows, nil
}

func medianSpread[T any](xs []T, f func(T) float64) (med, lo, hi float64) {
	v := make([]float64, len(xs))
	for i, x := range xs {
		v[i] = f(x)
	}
	slices.Sort(v)
	return v[len(v)/2], v[0], v[len(v)-1]
}

// offloadRow is one configuration of the offload experiment.
type offloadRow struct {
	Name       string
	Requests   int64
	RailsCalls int64
	Failed     int64
}

// offload sends users × perUser requests through the harness, each user's
// requests in a burst (as a browser opening a page does), conc at a time,
// and counts what reached Rails.
func (e *benchEnv) offload(ctx context.Context, users, perUser, conc int) ([]offloadRow, error) {
	configs := []struct {
		name string
		conf map[string]any
	}{
		{"cache + coalescing (defaults)", map[string]any{"cache_ttl": 300, "coalesce": true}},
		{"cache, coalescing off", map[string]any{"cache_ttl": 300, "coalesce": false}},
		{"no cache (cache_ttl 0), coalescing off: \"Option A\"", map[string]any{"cache_ttl": 0, "coalesce": false}},
	}
	var rows []offloadRow
	for n, c := range configs {
		path := fmt.Sprintf("/verify/offload-%d", n)
		c.conf["auth_url"] = e.railsURL + path
		jobs := make(chan string, users*perUser)
		for u := 0; u < users; u++ {
			for r := 0; r < perUser; r++ {
				jobs <- fmt.Sprintf("Bearer user-off%d-%d", n, u)
			}
		}
		close(jobs)
		var failed, done atomic.Int64
		var wg sync.WaitGroup
		for w := 0; w < conc; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for tok := range jobs {
					res, err := e.access(ctx, fmt.Sprintf("offload-%d", n), c.conf, tok)
					done.Add(1)
					if err != nil || res.Exit != nil {
						failed.Add(1)
					}
				}
			}()
		}
		wg.Wait()
		rows = append(rows, offloadRow{Name: c.name, Requests: done.Load(), RailsCalls: e.rails.pathCalls(path), Failed: failed.Load()})
	}
	return rows, nil
}
