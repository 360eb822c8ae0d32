package sharedcache

import (
	"bytes"
	"context"
	"crypto/sha256"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// testTimeout is the short timeout of the outage tests; the others use the
// roomier okTimeout so that a loaded CI machine cannot fail a healthy call.
const (
	testTimeout = 50 * time.Millisecond
	okTimeout   = time.Second
)

func short(o *Options) { o.Timeout = testTimeout }

// advance moves c's clock (the one Healthy reads) d forward. Only for a
// cache no other goroutine is using.
func advance(c *Cache, d time.Duration) { c.epoch = c.epoch.Add(-d) }

// logBuffer is a goroutine-safe log sink.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// newCache is a Cache on addr with okTimeout and a "test:" prefix,
// logging into the returned buffer; closed at cleanup.
func newCache(t testing.TB, addr string, mut ...func(*Options)) (*Cache, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	o := Options{
		Addrs:   []string{addr},
		Prefix:  "test:",
		Timeout: okTimeout,
		Logger:  slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	for _, f := range mut {
		f(&o)
	}
	c, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c, logs
}

// rawClient inspects Redis with ordinary timeouts.
func rawClient(t testing.TB, addr string) *redis.Client {
	t.Helper()
	rc := redis.NewClient(&redis.Options{Addr: addr, Protocol: 2, DisableIdentity: true})
	t.Cleanup(func() { _ = rc.Close() })
	return rc
}

// credKey is a key as the plugin builds it: 8 namespace bytes ‖ SHA-256.
func credKey(namespace, credential string) string {
	sum := sha256.Sum256([]byte(credential))
	ns := (namespace + "\x00\x00\x00\x00\x00\x00\x00\x00")[:8]
	return ns + string(sum[:])
}

func bg(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// eventually polls f every 20 ms until it returns true or d passes.
func eventually(t testing.TB, d time.Duration, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitSubscribers waits until n clients subscribe to the revoke channel.
func waitSubscribers(t testing.TB, rc *redis.Client, channel string, n int64) {
	t.Helper()
	eventually(t, 30*time.Second, "subscribers on "+channel, func() bool {
		m, err := rc.PubSubNumSub(context.Background(), channel).Result()
		return err == nil && m[channel] == n
	})
}

// recorder collects revocations handed to a Subscribe handler.
type recorder struct {
	mu  sync.Mutex
	got []Revocation
	ch  chan Revocation
}

func newRecorder() *recorder { return &recorder{ch: make(chan Revocation, 100)} }

func (r *recorder) handle(rev Revocation) {
	r.mu.Lock()
	r.got = append(r.got, rev)
	r.mu.Unlock()
	r.ch <- rev
}

func (r *recorder) all() []Revocation {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Revocation(nil), r.got...)
}

// next waits up to d for the next revocation.
func (r *recorder) next(t testing.TB, d time.Duration) (Revocation, time.Duration) {
	t.Helper()
	start := time.Now()
	select {
	case rev := <-r.ch:
		return rev, time.Since(start)
	case <-time.After(d):
		t.Fatalf("no revocation within %s", d)
		return Revocation{}, 0
	}
}

// subscribe runs c.Subscribe on a goroutine until the test ends and waits
// for it to return then.
func subscribe(t testing.TB, c *Cache, h func(Revocation)) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); c.Subscribe(ctx, h) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Errorf("Subscribe did not return within 5s of cancel")
		}
	})
}
