// Package multinode runs two or three legacy-auth processes as the plugin
// servers of as many Kong nodes (through internal/kongsim) against one real
// redis-server, and checks what the shared cache and the revocation
// channel promise: a token verified on one node is known to all, a
// revocation reaches every node within a second, Redis trouble never fails
// a request, and a warm node's cache hit never touches Redis.
package multinode

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/legacy-auth/legacy-auth/internal/fakerails"
	"github.com/legacy-auth/legacy-auth/internal/kongsim"
	"github.com/legacy-auth/legacy-auth/internal/sharedcache"
	"github.com/legacy-auth/legacy-auth/test/redistest"
	"github.com/legacy-auth/legacy-auth/test/testutil"
	"github.com/redis/go-redis/v9"
)

var (
	bin    string
	schema map[string]any
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mn")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "legacy-auth")
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err == nil {
		build := exec.Command("go", "build", "-o", bin, "./cmd/legacy-auth")
		build.Dir = filepath.Dir(strings.TrimSpace(string(out)))
		if b, berr := build.CombinedOutput(); berr != nil {
			err = fmt.Errorf("%v\n%s", berr, b)
		}
	}
	if err == nil {
		var d *kongsim.Dump
		if d, err = kongsim.QueryDump(context.Background(), bin); err == nil {
			var p *kongsim.PluginInfo
			if p, err = d.Plugin("legacy-auth"); err == nil {
				schema = p.Schema
			}
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "setup:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// node is one Kong node: its own plugin process.
type node struct {
	t   *testing.T
	sim *kongsim.Server
}

func startNode(t *testing.T) *node {
	t.Helper()
	prefix, err := os.MkdirTemp("", "node")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(prefix) })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sim, err := kongsim.StartServer(ctx, bin, kongsim.ServerOptions{Prefix: prefix, Output: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	return &node{t: t, sim: sim}
}

// call runs one request with token through the node and returns the
// status (200 when proxied) and the upstream X-User-ID.
func (n *node) call(conf map[string]any, token string) (int, string) {
	n.t.Helper()
	processed, err := kongsim.ProcessConfig(schema, conf)
	if err != nil {
		n.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := n.sim.Access(ctx, kongsim.PluginRef{ID: "p1", Name: "legacy-auth"}, processed,
		&kongsim.Request{Method: "GET", Path: "/x", Headers: []kongsim.Header{{Name: "Authorization", Value: token}}})
	if err != nil {
		n.t.Fatal(err)
	}
	if res.Exit != nil {
		return res.Exit.Status, ""
	}
	if len(res.Calls) != 2 {
		n.t.Errorf("proxied request made %d PDK calls (%v), want 2", len(res.Calls), res.Calls)
	}
	for _, h := range res.Upstream {
		if strings.EqualFold(h.Name, "X-User-ID") {
			return 200, h.Value
		}
	}
	return 200, ""
}

func config(auth *fakerails.Server, r *redistest.Server) map[string]any {
	c := map[string]any{"auth_url": auth.VerifyURL(), "cache_ttl": 300}
	if r != nil {
		c["redis_addrs"] = []any{r.Addr()}
	}
	return c
}

func TestTokenVerifiedOnOneNodeServedByAnother(t *testing.T) {
	rds := redistest.Start(t)
	auth := fakerails.New()
	defer auth.Close()
	auth.Set("Bearer alice", fakerails.OK("42", "admin"))
	a, b := startNode(t), startNode(t)
	conf := config(auth, rds)

	if st, id := a.call(conf, "Bearer alice"); st != 200 || id != "42" {
		t.Fatalf("node A: %d %q", st, id)
	}
	testutil.WaitFor(t, 30*time.Second, "the shared entry", func() bool { return redisKeys(t, rds, "legacy-auth:id:*") > 0 })
	if st, id := b.call(conf, "Bearer alice"); st != 200 || id != "42" {
		t.Fatalf("node B: %d %q", st, id)
	}
	if n := auth.Calls(); n != 1 {
		t.Errorf("%d auth calls for one token through two nodes, want 1", n)
	}
	// No raw token in Redis: keys are hashes.
	for _, k := range redisKeyList(t, rds, "*") {
		if strings.Contains(k, "alice") {
			t.Errorf("raw token in a Redis key: %s", k)
		}
	}
}

// TestAuthCallsPerNewToken is the figure of the README's multi-node section.
func TestAuthCallsPerNewToken(t *testing.T) {
	rds := redistest.Start(t)
	const nodes = 3
	ns := make([]*node, nodes)
	for i := range ns {
		ns[i] = startNode(t)
	}
	for _, shared := range []bool{false, true} {
		auth := fakerails.New()
		const tokens = 20
		for i := 0; i < tokens; i++ {
			auth.Set(fmt.Sprintf("Bearer t%d", i), fakerails.OK(strconv.Itoa(i)))
		}
		var r *redistest.Server
		if shared {
			r = rds
		}
		conf := config(auth, r)
		for i := 0; i < tokens; i++ {
			tok := fmt.Sprintf("Bearer t%d", i)
			for j, n := range ns {
				if st, _ := n.call(conf, tok); st != 200 {
					t.Fatalf("node %d: %d", j, st)
				}
				if shared && j == 0 {
					// Node A's write to Redis is asynchronous.
					testutil.WaitFor(t, 30*time.Second, "the shared entry", func() bool {
						return redisKeys(t, rds, "legacy-auth:id:*") >= i+1
					})
				}
			}
		}
		per := float64(auth.Calls()) / tokens
		t.Logf("%d nodes, shared cache %v: %.2f auth calls per new token", nodes, shared, per)
		if want := map[bool]float64{false: nodes, true: 1}[shared]; per != want {
			t.Errorf("shared=%v: %.2f auth calls per new token, want %.0f", shared, per, want)
		}
		auth.Close()
	}
}

func TestRevocationReachesEveryNode(t *testing.T) {
	rds := redistest.Start(t)
	auth := fakerails.New()
	defer auth.Close()
	a, b := startNode(t), startNode(t)
	conf := config(auth, rds)
	pub := publisher(t, rds)

	for _, tc := range []struct {
		name  string
		token string
		user  string
		msg   func() sharedcache.Revocation
	}{
		{"credential", "Bearer cred-1", "u-cred", func() sharedcache.Revocation {
			sum := sha256.Sum256([]byte("Bearer cred-1"))
			return sharedcache.Revocation{CredentialSHA256: hex.EncodeToString(sum[:])}
		}},
		{"user", "Bearer user-1", "u-user", func() sharedcache.Revocation { return sharedcache.Revocation{UserID: "u-user"} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			auth.Set(tc.token, fakerails.OK(tc.user))
			for _, n := range []*node{a, b} {
				if st, _ := n.call(conf, tc.token); st != 200 {
					t.Fatalf("warm-up: %d", st)
				}
			}
			auth.Set(tc.token, fakerails.Deny(401)) // Rails has revoked it
			// Each node subscribes when its first config compiles: publish
			// only once both are listening (a message sent before is lost).
			rc := client(t, rds)
			testutil.WaitFor(t, 10*time.Second, "both nodes to subscribe", func() bool {
				n, err := rc.PubSubNumSub(context.Background(), "legacy-auth:revoke").Result()
				return err == nil && n["legacy-auth:revoke"] >= 2
			})
			start := time.Now()
			if err := pub.Publish(context.Background(), tc.msg()); err != nil {
				t.Fatal(err)
			}
			// cache_ttl is 300 s: only the revocation can make a node ask
			// Rails again within the wait.
			for name, n := range map[string]*node{"A": a, "B": b} {
				testutil.WaitFor(t, 30*time.Second, "node "+name+" to drop the identity", func() bool {
					st, _ := n.call(conf, tc.token)
					return st == 401
				})
			}
			t.Logf("%s revocation reached both nodes in %v", tc.name, time.Since(start).Round(time.Millisecond))
		})
	}
}

func TestRedisKilledMidTraffic(t *testing.T) {
	rds := redistest.Start(t)
	auth := fakerails.New()
	defer auth.Close()
	a, b := startNode(t), startNode(t)
	conf := config(auth, rds)
	conf["cache_ttl"] = 0.3 // entries expire during the test: requests keep needing a source

	const users = 10
	for i := 0; i < users; i++ {
		auth.Set(fmt.Sprintf("Bearer k%d", i), fakerails.OK(strconv.Itoa(i)))
	}
	failures := 0
	traffic := func(d time.Duration) {
		for end := time.Now().Add(d); time.Now().Before(end); {
			for i := 0; i < users; i++ {
				for _, n := range []*node{a, b} {
					if st, id := n.call(conf, fmt.Sprintf("Bearer k%d", i)); st != 200 || id != strconv.Itoa(i) {
						failures++
					}
				}
			}
		}
	}
	traffic(300 * time.Millisecond)
	rds.Stop()
	traffic(800 * time.Millisecond)
	if failures != 0 {
		t.Errorf("%d failed requests while Redis was down, want 0", failures)
	}

	rds.Restart()
	// The health probe lets a call through once a second: until then the
	// nodes skip Redis. Poll, each round with a new token, until a token A
	// verified is served by B without asking Rails. cache_ttl 300 from here
	// (the same Redis client: it is keyed by the Redis settings), so a slow
	// round cannot see A's entry expire before B reads it.
	conf["cache_ttl"] = 300
	round := 0
	testutil.WaitFor(t, 30*time.Second, "node B served from the shared cache after the restart", func() bool {
		round++
		tok := fmt.Sprintf("Bearer after-%d", round)
		auth.Set(tok, fakerails.OK("after"))
		if st, id := a.call(conf, tok); st != 200 || id != "after" {
			t.Fatalf("node A after the restart: %d %q", st, id)
		}
		before := auth.Calls()
		if st, id := b.call(conf, tok); st != 200 || id != "after" {
			t.Fatalf("node B after the restart: %d %q", st, id)
		}
		return auth.Calls() == before
	})
	t.Logf("shared cache used again after %d rounds", round)
}

// TestWarmHitMakesNoRedisCall: a node whose in-process cache holds the
// identity answers without asking Redis.
func TestWarmHitMakesNoRedisCall(t *testing.T) {
	rds := redistest.Start(t)
	auth := fakerails.New()
	defer auth.Close()
	auth.Set("Bearer warm", fakerails.OK("w"))
	a := startNode(t)
	conf := config(auth, rds)
	a.call(conf, "Bearer warm")
	before := commandCount(t, rds, "get")
	for i := 0; i < 200; i++ {
		if st, _ := a.call(conf, "Bearer warm"); st != 200 {
			t.Fatalf("hit %d: %d", i, st)
		}
	}
	if n := commandCount(t, rds, "get") - before; n != 0 {
		t.Errorf("%d Redis GETs for 200 warm cache hits, want 0", n)
	}
}

// --- helpers ---

func client(t *testing.T, r *redistest.Server) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: r.Addr(), DialTimeout: time.Second, ReadTimeout: time.Second, MaxRetries: -1})
	t.Cleanup(func() { c.Close() })
	return c
}

func redisKeyList(t *testing.T, r *redistest.Server, pattern string) []string {
	t.Helper()
	keys, err := client(t, r).Keys(context.Background(), pattern).Result()
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

func redisKeys(t *testing.T, r *redistest.Server, pattern string) int {
	return len(redisKeyList(t, r, pattern))
}

// commandCount reads how many times Redis ran cmd (INFO commandstats).
func commandCount(t *testing.T, r *redistest.Server, cmd string) int {
	t.Helper()
	info, err := client(t, r).Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(info, "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "cmdstat_"+cmd+":calls="); ok {
			n, _ := strconv.Atoi(strings.SplitN(rest, ",", 2)[0])
			return n
		}
	}
	return 0
}

func publisher(t *testing.T, r *redistest.Server) *sharedcache.Cache {
	t.Helper()
	c, err := sharedcache.New(sharedcache.Options{Addrs: []string{r.Addr()}, Prefix: "legacy-auth:", Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}
