package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/legacy-auth/legacy-auth/internal/fakerails"
	"github.com/legacy-auth/legacy-auth/internal/kongsim"
)

// surgeSection is the heading of section 7 (-only surge replaces it).
const surgeSection = "## 7. Rails under a surge"

// surgeResults are section 7's measurements.
type surgeResults struct {
	Surges []surgeRow
	Expiry *expiryRow
	// RailsSurges are the cold surge against the Rails demo app under
	// Puma; RailsSkipped says why there are none.
	RailsSurges  []surgeRow
	RailsExpiry  *expiryRow
	RailsSkipped string
}

// surgeSection measures section 7: the cold surge against the stand-in,
// and (not in -quick: it waits for cache_ttl) the mass expiry.
func (e *benchEnv) surgeSection(ctx context.Context, quick bool) (surgeResults, error) {
	var r surgeResults
	users := 2000
	if quick {
		users = 100
	}
	var err error
	if r.Surges, err = e.surges(ctx, users); err != nil || quick {
		return r, err
	}
	ex, err := e.massExpiry(ctx, 200)
	if err != nil {
		return r, err
	}
	r.Expiry = &ex
	script, err := railsScript()
	if err != nil {
		r.RailsSkipped = err.Error()
		return r, nil
	}
	if r.RailsSurges, err = e.railsSurges(ctx, script, users); err != nil {
		return r, err
	}
	rx, err := e.railsExpiry(ctx, script, 200)
	r.RailsExpiry = &rx
	return r, err
}

// surgeRow is one cold surge: users new tokens at once against a Puma-like
// Rails (fakerails.Puma), through the harness.
type surgeRow struct {
	Name                   string
	Users, Served, Refused int
	Other                  int
	RefusalP50, RefusalMax time.Duration
	RailsCalls, GoneWork   int64
	MaxQueued              int64
	After                  string // what a new user got right after the surge
}

// Puma-like Rails of the issue: 8 threads, 25 ms a verify.
const (
	surgeThreads = 8
	surgeWork    = 25 * time.Millisecond
	surgeTimeout = 2000 // ms
)

// surges runs the cold surge with admission control off and on.
func (e *benchEnv) surges(ctx context.Context, users int) ([]surgeRow, error) {
	var rows []surgeRow
	for i, c := range []struct {
		name string
		max  int
	}{
		{"admission control off (max_concurrent_calls 0): every call to Rails", 0},
		{"admission control on (default max_concurrent_calls 64)", 64},
	} {
		puma, err := fakerails.StartPuma(surgeThreads, surgeWork)
		if err != nil {
			return nil, err
		}
		conf := map[string]any{"auth_url": puma.VerifyURL(), "timeout": surgeTimeout, "max_concurrent_calls": c.max}
		id := fmt.Sprintf("surge-%d", i)
		row := e.surgeOnce(ctx, id, conf, c.name, users, func(u int) string { return fmt.Sprintf("Bearer surge%d-%d", i, u) })
		st := puma.Stats()
		row.RailsCalls, row.GoneWork, row.MaxQueued = st.Calls, st.GoneWork, st.MaxQueued
		if res, err := e.access(ctx, id, conf, fmt.Sprintf("Bearer surge%d-after", i)); err == nil && res.Exit == nil {
			row.After = "served"
		} else if err == nil {
			row.After = fmt.Sprintf("%d (breaker open)", res.Exit.Status)
		}
		puma.Close()
		rows = append(rows, row)
	}
	return rows, nil
}

// surgeOnce sends users requests at once, user u with token(u), and
// counts what they got.
func (e *benchEnv) surgeOnce(ctx context.Context, id string, conf map[string]any, name string, users int, token func(int) string) surgeRow {
	row := surgeRow{Name: name, Users: users}
	var mu sync.Mutex
	var refusals []time.Duration
	var wg sync.WaitGroup
	for u := range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			res, err := e.access(ctx, id, conf, token(u))
			took := time.Since(start)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil && res.Exit == nil:
				row.Served++
			case err == nil && res.Exit.Status == 503:
				row.Refused++
				refusals = append(refusals, took)
			default:
				row.Other++
			}
		}()
	}
	wg.Wait()
	if len(refusals) > 0 {
		slices.Sort(refusals)
		row.RefusalP50, row.RefusalMax = refusals[len(refusals)/2], refusals[len(refusals)-1]
	}
	return row
}

// expiryRow is a mass expiry of active users' identities.
type expiryRow struct {
	Users, Waited int
	P50, P99      time.Duration
	RailsCalls    int64
}

// massExpiry caches users identities at once (cache_ttl 5 s, Rails 100 ms
// a call), keeps them active through the last part of cache_ttl, and
// measures every user's first request after the first identities expired:
// how many waited on Rails (a miss), and how long they took.
func (e *benchEnv) massExpiry(ctx context.Context, users int) (expiryRow, error) {
	puma, err := fakerails.StartPuma(64, 100*time.Millisecond)
	if err != nil {
		return expiryRow{}, err
	}
	defer puma.Close()
	return e.expiryOnce(ctx, "expiry", puma.VerifyURL(), users, func(u int) string { return fmt.Sprintf("Bearer active-%d", u) },
		func() int64 { return puma.Stats().Calls })
}

// expiryOnce is massExpiry against authURL, user u with token(u); calls
// counts the auth service's verify calls.
func (e *benchEnv) expiryOnce(ctx context.Context, id, authURL string, users int, token func(int) string, calls func() int64) (expiryRow, error) {
	conf := map[string]any{"auth_url": authURL, "cache_ttl": 5, "timeout": 2000}
	all := func() ([]*kongsim.Result, []time.Duration) {
		res := make([]*kongsim.Result, users)
		took := make([]time.Duration, users)
		var wg sync.WaitGroup
		for u := range users {
			wg.Add(1)
			go func() {
				defer wg.Done()
				start := time.Now()
				res[u], _ = e.access(ctx, id, conf, token(u))
				took[u] = time.Since(start)
			}()
		}
		wg.Wait()
		return res, took
	}
	start := time.Now()
	all() // cached together
	// The users stay active through the last part of cache_ttl: a request
	// each every 250 ms from 3.4 s to 4.4 s (every entry's refresh window
	// opens at 70–85 % of 5 s, its freshness ends at 4.5–5 s).
	for at := 3400 * time.Millisecond; at <= 4400*time.Millisecond; at += 250 * time.Millisecond {
		time.Sleep(time.Until(start.Add(at)))
		all()
	}
	time.Sleep(time.Until(start.Add(5200 * time.Millisecond))) // past the first entries' expiry
	before := calls()
	res, took := all()
	row := expiryRow{Users: users, RailsCalls: calls() - before}
	for u, r := range res {
		if r == nil || r.Exit != nil || took[u] >= 100*time.Millisecond {
			row.Waited++
		}
	}
	slices.Sort(took)
	row.P50, row.P99 = took[len(took)/2], took[len(took)*99/100]
	return row, nil
}

func surgeMarkdown(r surgeResults) string {
	rows, exp := r.Surges, r.Expiry
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	w("\n%s\n\n", surgeSection)
	if len(rows) > 0 {
		w("**Cold surge**: %d new users at once, through the harness, against a Puma-like Rails stand-in (`fakerails.Puma`: %d threads, %s a verify, the rest waiting in the accept queue, and working on a request to the end even after its caller has gone, as Rails does), `timeout` %d ms.\n\n",
			rows[0].Users, surgeThreads, surgeWork, surgeTimeout)
		w("| configuration | served | refused (503) | refusal p50 / max | Rails calls | worked for callers gone | most queued at Rails | a new user right after |\n|---|---:|---:|---:|---:|---:|---:|---|\n")
		for _, r := range rows {
			w("| %s | %d | %d | %s / %s | %d | %d | %d | %s |\n", r.Name, r.Served, r.Refused, ms(r.RefusalP50), ms(r.RefusalMax), r.RailsCalls, r.GoneWork, r.MaxQueued, r.After)
		}
	}
	switch {
	case len(r.RailsSurges) > 0:
		w("\n**The same surge against the real Rails demo app** (examples/rails, Rails 6.1 from Debian) served by Puma (Debian's puma, %d threads, one process), each verify holding its thread %s before the engine answers (`DEMO_VERIFY_WORK_MS`), %d users seeded in bulk, a fresh Rails per configuration. \"Worked for callers gone\" is Rails' own count of verify calls served (once its queues drained) less the answers the gateway used; \"most queued\" is the listening socket's accept queue, sampled every 5 ms from /proc/net/tcp (Puma's own queue, behind it, is not counted).\n\n",
			surgeThreads, surgeWork, r.RailsSurges[0].Users)
		w("| configuration | served | refused (503) | refusal p50 / max | Rails calls | worked for callers gone | most queued at Rails | a new user right after |\n|---|---:|---:|---:|---:|---:|---:|---|\n")
		for _, x := range r.RailsSurges {
			w("| %s | %d | %d | %s / %s | %d | %d | %d | %s |\n", x.Name, x.Served, x.Refused, ms(x.RefusalP50), ms(x.RefusalMax), x.RailsCalls, x.GoneWork, x.MaxQueued, x.After)
		}
		w("\nHow real Rails differs from the stand-in: without admission control the accept queue fills to its limit (Puma's backlog, 1024; the kernel drops the connections beyond, which retry) and every caller waits the whole timeout, but Rails serves far fewer calls than were sent, and wastes little on callers gone: Puma 5.6 does not run a queued request whose caller has already closed the connection (checked by hand: requests sent and closed while all threads were busy were never served), so what it wastes is what was already in its threads when the callers gave up. The stand-in, which works on everything it accepted, is the worst case (a server without that check, or a proxy in front of Puma that keeps the connection). Either way, with admission control Rails worked for no caller gone, its queue stayed near empty, refusals came in a fraction of the timeout, and the breaker stayed closed for the next user.\n")
	case r.RailsSkipped != "":
		w("\nThe surge against the real Rails demo app under Puma was skipped: %s.\n", r.RailsSkipped)
	}
	if exp != nil {
		w("\n**Mass expiry**: %d active users cached at the same moment (`cache_ttl` 5 s, Rails 100 ms a verify), active through the last part of `cache_ttl`, then each user's first request after the first identities expired: %d of %d waited on Rails (a miss, or over 100 ms), p50 %s, p99 %s, %d calls to Rails during those requests. Before refresh ahead (main when issue 20 was filed), every one of those requests waited on Rails: p99 102 ms.\n",
			exp.Users, exp.Waited, exp.Users, ms(exp.P50), ms(exp.P99), exp.RailsCalls)
	}
	if x := r.RailsExpiry; x != nil {
		w("\n**The same mass expiry against the real Rails demo app** under Puma (%d threads, each verify holding its thread 100 ms): %d of %d waited on Rails (a miss, or over 100 ms), p50 %s, p99 %s, %d calls to Rails during those requests.\n",
			railsExpiryThreads, x.Waited, x.Users, ms(x.P50), ms(x.P99), x.RailsCalls)
	}
	return b.String()
}
