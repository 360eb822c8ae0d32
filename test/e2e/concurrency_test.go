package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/legacy-auth/legacy-auth/internal/fakerails"
	"github.com/legacy-auth/legacy-auth/internal/kongsim"
)

// user is a scripted credential and what the plugin must answer for it.
type user struct {
	token  string
	id     string // "" for a refused credential
	roles  string
	status int    // the exit status when refused
	msg    string // the exit message when refused
}

// checkUser checks res against u; it is safe to call from any goroutine.
func checkUser(res *kongsim.Result, u user) error {
	if u.id == "" {
		if res.Exit == nil || res.Exit.Status != u.status || exitMessage(res) != u.msg {
			return fmt.Errorf("want exit %d %q, got %s", u.status, u.msg, describe(res))
		}
		return nil
	}
	if res.Exit != nil {
		return fmt.Errorf("want proxied as %s, got %s", u.id, describe(res))
	}
	if v, ok := upstreamValue(res, "X-User-ID"); !ok || v != u.id {
		return fmt.Errorf("X-User-ID = %q (single: %t), want %q", v, ok, u.id)
	}
	got, ok := upstreamValue(res, "X-User-Roles")
	if u.roles == "" {
		ok = len(spellings(res.Upstream, "X-User-Roles")) == 0
		got = ""
	}
	if !ok || got != u.roles {
		return fmt.Errorf("X-User-Roles = %q, want %q", got, u.roles)
	}
	// An event Kong re-ran (the plugin server closed the connection, e.g.
	// it was killed) keeps the calls of the failed attempt; the last
	// attempt must still be the usual two.
	if n := len(res.Calls); n < 2 || !slices.Equal(res.Calls[n-2:], callsProxied) || n != 2 && res.Retries == 0 {
		return fmt.Errorf("PDK calls = %v (retries %d), want %v", res.Calls, res.Retries, callsProxied)
	}
	return nil
}

// TestConcurrentMixedTraffic sends 500 concurrent requests with a mix of
// good, unknown, forbidden and missing credentials through the shared
// plugin server: every one is answered, correctly, and nothing hangs.
func TestConcurrentMixedTraffic(t *testing.T) {
	a := newAuth(t)
	var users []user
	for i := range 10 {
		u := user{token: newToken("mix"), id: fmt.Sprintf("u-%d", 1000+i), roles: fmt.Sprintf("role-%d,staff", i)}
		a.Set(u.token, fakerails.OK(u.id, fmt.Sprintf("role-%d", i), "staff"))
		users = append(users, u)
	}
	for range 3 {
		users = append(users, user{token: newToken("mixbad"), status: 401, msg: "Invalid credentials"})
	}
	banned := user{token: newToken("mixbanned"), status: 403, msg: "Invalid credentials"}
	a.Set(banned.token, fakerails.Deny(403))
	users = append(users, banned, user{token: "", status: 401, msg: "Authorization header is missing"})

	cfg := config(t, map[string]any{"auth_url": a.url})
	p := newPlugin()
	// Start the instance first, as a running Kong would have.
	access(t, shared, p, cfg, request())

	const n = 500
	expectProxied := 0
	for i := range n {
		if users[i%len(users)].id != "" {
			expectProxied++
		}
	}
	var (
		wg      sync.WaitGroup
		start   = make(chan struct{})
		failed  atomic.Int32
		proxied atomic.Int32
		mu      sync.Mutex
		errs    []string
		lat     = make([]time.Duration, n)
	)
	for i := range n {
		u := users[i%len(users)]
		wg.Go(func() {
			<-start
			req := request()
			if u.token != "" {
				req = request("Authorization", u.token)
			}
			res, took, err := timedAccess(shared, p, cfg, req)
			lat[i] = took
			if err == nil {
				err = checkUser(res, u)
			}
			if err != nil {
				failed.Add(1)
				mu.Lock()
				if len(errs) < 5 {
					errs = append(errs, err.Error())
				}
				mu.Unlock()
				return
			}
			if res.Exit == nil {
				proxied.Add(1)
			}
		})
	}
	began := time.Now()
	close(start)
	if !waitGroupTimeout(&wg, 5*time.Minute) {
		t.Fatalf("requests still pending after 5 minutes")
	}
	wall := time.Since(began)
	med, worst := stats(lat)
	t.Logf("%d concurrent requests in %v: %d proxied, %d refused, %d wrong; latency median %v max %v; auth calls %d for %d distinct credentials",
		n, wall.Round(time.Millisecond), proxied.Load(), n-int(proxied.Load())-int(failed.Load()), failed.Load(),
		med.Round(time.Microsecond), worst.Round(time.Microsecond), a.Calls(), len(users)-1)
	for _, e := range errs {
		t.Error(e)
	}
	if failed.Load() == 0 && int(proxied.Load()) != expectProxied {
		t.Errorf("proxied %d, want %d", proxied.Load(), expectProxied)
	}
}

// waitGroupTimeout waits for wg at most d.
func waitGroupTimeout(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}

// TestPluginKilledMidTraffic kills the plugin process while requests are
// in flight (waiting on a slow auth service) and while more keep arriving:
// they fail cleanly (Kong's own 500) or succeed, nothing hangs; once Kong
// has respawned the process the next requests succeed, and the identity
// cache is cold again (a new process), so a credential cached before the
// kill is verified again.
func TestPluginKilledMidTraffic(t *testing.T) {
	s, out := startServer(t)
	a := newAuth(t)
	cached := user{token: newToken("killcached"), id: "u-cached", roles: "a"}
	a.Set(cached.token, fakerails.OK("u-cached", "a"))
	steady := user{token: newToken("killsteady"), id: "u-steady", roles: "c"}
	a.Set(steady.token, fakerails.OK("u-steady", "c"))
	slow := make([]user, 40)
	for i := range slow {
		slow[i] = user{token: newToken("killslow"), id: fmt.Sprintf("u-slow-%d", i), roles: "b"}
		a.Set(slow[i].token, fakerails.Response{Identity: &fakerails.Identity{UserID: slow[i].id, Roles: []string{"b"}}, Delay: 300 * time.Millisecond})
	}
	cfg := config(t, map[string]any{"auth_url": a.url})
	p := newPlugin()

	// The cached credential: a miss, then a hit.
	for range 2 {
		if err := checkUser(access(t, s, p, cfg, request("Authorization", cached.token)), cached); err != nil {
			t.Fatal(err)
		}
	}
	if a.Calls() != 1 {
		t.Fatalf("auth calls before the kill = %d, want 1 (miss then hit)", a.Calls())
	}
	if err := checkUser(access(t, s, p, cfg, request("Authorization", steady.token)), steady); err != nil {
		t.Fatal(err)
	}
	pid := s.PID()

	// tally counts how requests ended: correct answer, Kong's own 500
	// (the plugin server went away under it), or anything else.
	type tally struct {
		ok, kong500, unclean atomic.Int32
		rerun                atomic.Int32 // succeeded after Kong re-ran the event
		mu                   sync.Mutex
		sample, bad          []string
	}
	record := func(c *tally, u user, res *kongsim.Result, err error) {
		switch {
		case err != nil:
			c.unclean.Add(1)
			c.mu.Lock()
			c.bad = append(c.bad, err.Error())
			c.mu.Unlock()
		case res.Exit != nil && res.Exit.Status == 500 && res.KongError != "":
			c.kong500.Add(1)
			c.mu.Lock()
			if !slices.Contains(c.sample, res.KongError) {
				c.sample = append(c.sample, res.KongError)
			}
			c.mu.Unlock()
		case checkUser(res, u) == nil:
			c.ok.Add(1)
			if res.Retries > 0 {
				c.rerun.Add(1)
			}
		default:
			c.unclean.Add(1)
			c.mu.Lock()
			c.bad = append(c.bad, describe(res))
			c.mu.Unlock()
		}
	}

	var inflight, background tally
	var wg, bg sync.WaitGroup
	for _, u := range slow {
		wg.Go(func() {
			res, _, err := timedAccess(s, p, cfg, request("Authorization", u.token))
			record(&inflight, u, res, err)
		})
	}
	stop := make(chan struct{})
	var okAfterRespawn atomic.Int32
	var respawned atomic.Bool
	for range 4 {
		bg.Go(func() {
			for range 5000 {
				select {
				case <-stop:
					return
				default:
				}
				res, _, err := timedAccess(s, p, cfg, request("Authorization", steady.token))
				record(&background, steady, res, err)
				if respawned.Load() && err == nil && res.Exit == nil {
					okAfterRespawn.Add(1)
				}
				time.Sleep(2 * time.Millisecond)
			}
		})
	}
	// Kill once the slow requests are waiting on the auth service.
	if !waitUntil(30*time.Second, func() bool { return a.Calls() >= 2+len(slow)/2 }) {
		close(stop)
		t.Fatalf("only %d auth calls in flight", a.Calls()-2)
	}
	inFlight := a.Calls() - 2
	killed := time.Now()
	if err := s.Kill(); err != nil {
		close(stop)
		t.Fatalf("kill: %v", err)
	}
	if !waitGroupTimeout(&wg, 30*time.Second) {
		close(stop)
		t.Fatalf("in-flight requests still pending 30 s after the kill")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := s.WaitReady(ctx); err != nil {
		close(stop)
		t.Fatalf("plugin server not back: %v\n%s", err, out.String())
	}
	respawned.Store(true)
	ready := time.Since(killed)
	waitUntil(30*time.Second, func() bool { return okAfterRespawn.Load() >= 20 })
	close(stop)
	if !waitGroupTimeout(&bg, 30*time.Second) {
		t.Fatalf("background requests still pending 30 s after the kill")
	}

	t.Logf("killed pid %d with %d auth calls in flight: in-flight requests: %d succeeded (%d re-run by Kong on the new process), %d got Kong's 500, %d other",
		pid, inFlight, inflight.ok.Load(), inflight.rerun.Load(), inflight.kong500.Load(), inflight.unclean.Load())
	t.Logf("continuing traffic: %d succeeded (%d after the respawn), %d got Kong's 500, %d other",
		background.ok.Load(), okAfterRespawn.Load(), background.kong500.Load(), background.unclean.Load())
	t.Logf("Kong's errors seen: %q", append(inflight.sample, background.sample...))
	t.Logf("respawned as pid %d, socket ready %v after the kill (starts: %d)", s.PID(), ready.Round(time.Millisecond), s.Starts())
	for _, b := range append(inflight.bad, background.bad...) {
		t.Errorf("request ended uncleanly: %s", b)
	}
	if okAfterRespawn.Load() == 0 {
		t.Errorf("no request succeeded after the respawn")
	}
	if s.PID() == pid || s.Starts() < 2 {
		t.Errorf("pid %d, starts %d: want a new process", s.PID(), s.Starts())
	}

	before := a.Calls()
	res := access(t, s, p, cfg, request("Authorization", cached.token))
	if err := checkUser(res, cached); err != nil {
		t.Fatalf("first request after the respawn: %v", err)
	}
	if got := a.Calls() - before; got != 1 {
		t.Errorf("auth calls for the credential cached before the kill = %d, want 1 (a new process has a cold cache)", got)
	} else {
		t.Logf("the credential cached before the kill was verified again: 1 auth call (cold cache in the new process)")
	}
	for _, u := range slow[:5] {
		if err := checkUser(access(t, s, p, cfg, request("Authorization", u.token)), u); err != nil {
			t.Errorf("request after the respawn: %v", err)
		}
	}
}

// TestConfigReloadsUnderTraffic: Kong rebuilds its plugins iterator on any
// configuration change, starting a new plugin instance and closing the
// old one while requests are in flight. Ten rebuilds during 400 requests
// from 16 clients: every request still gets the right answer.
func TestConfigReloadsUnderTraffic(t *testing.T) {
	a := newAuth(t)
	var users []user
	for i := range 8 {
		u := user{token: newToken("reload"), id: fmt.Sprintf("u-r%d", i), roles: "r"}
		a.Set(u.token, fakerails.OK(u.id, "r"))
		users = append(users, u)
	}
	users = append(users, user{token: newToken("reloadbad"), status: 401, msg: "Invalid credentials"})
	cfg := config(t, map[string]any{"auth_url": a.url})
	p := newPlugin()
	access(t, shared, p, cfg, request())
	first := shared.Instances()[p.ID]

	const n, workers = 400, 16
	var (
		wg            sync.WaitGroup
		next, wrong   atomic.Int32
		retried, done atomic.Int32
		beyond        atomic.Int32
		once          sync.Once
	)
	for range workers {
		wg.Go(func() {
			for {
				i := next.Add(1)
				if i > n {
					return
				}
				u := users[int(i)%len(users)]
				res, reruns, err := accessLikeKong(shared, p, cfg, request("Authorization", u.token))
				if err == nil {
					err = checkUser(res, u)
				}
				if err != nil {
					wrong.Add(1)
					once.Do(func() { t.Errorf("request %d: %v", i, err) })
				}
				if res != nil && res.Retries > 0 || reruns > 0 {
					retried.Add(1)
				}
				beyond.Add(int32(reruns))
				done.Add(1)
			}
		})
	}
	// Rebuild as the traffic progresses (after every n/12 answers), so the
	// rebuilds land among the requests however fast the machine is.
	rebuilds := 0
	for rebuilds < 10 {
		mark := int32((rebuilds + 1) * n / 12)
		if !waitUntil(60*time.Second, func() bool { return done.Load() >= mark }) {
			t.Fatalf("only %d of %d requests answered after 60 s", done.Load(), n)
		}
		shared.Rebuild()
		rebuilds++
	}
	if !waitGroupTimeout(&wg, 5*time.Minute) {
		t.Fatal("requests still pending after 5 minutes")
	}
	last := shared.Instances()[p.ID]
	t.Logf("%d requests, %d iterator rebuilds: instance %d -> %d, %d wrong answers, %d events re-run by Kong after the plugin server closed the connection (\"no plugin instance\"), %d of them beyond kongsim's single retry; auth calls %d",
		n, rebuilds, first, last, wrong.Load(), retried.Load(), beyond.Load(), a.Calls())
	if last == first {
		t.Errorf("instance unchanged after %d rebuilds", rebuilds)
	}
}

// accessLikeKong is timedAccess plus the rest of Kong's retry: pb_rpc.lua
// handle_event re-runs an event without bound when the plugin server
// answers "no plugin instance" or closes the connection (go-pdk closes it
// instead of returning that error), while kongsim re-runs it once. When
// kongsim gave up that way before any PDK call, the event is run again,
// at most 5 more times; reruns counts them.
func accessLikeKong(s *kongsim.Server, p kongsim.PluginRef, cfg map[string]any, req *kongsim.Request) (res *kongsim.Result, reruns int, err error) {
	for {
		res, _, err = timedAccess(s, p, cfg, req)
		if err != nil || res.KongError == "" || len(res.Calls) > 0 || reruns == 5 {
			return res, reruns, err
		}
		msg := strings.ToLower(res.KongError)
		if !strings.Contains(msg, "closed") && !strings.Contains(msg, "no plugin instance") {
			return res, reruns, nil
		}
		reruns++
	}
}
