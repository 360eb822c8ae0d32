package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// The surge against the real Rails demo app (examples/rails) served by
// Puma (Debian's puma package) with a fixed thread count: a fresh Rails
// per configuration, each verify holding its thread DEMO_VERIFY_WORK_MS
// (the heavier monolith), the users seeded in bulk
// (DEMO_BULK_USERS). What Rails worked on for callers already gone is its
// own count of verify calls served (GET /__calls, once its queues have
// drained) less the answers the gateway used; what waited at Rails is the
// listening socket's accept queue, sampled every 5 ms from /proc/net/tcp.

// railsPuma is one run-demo under Puma.
type railsPuma struct {
	cmd    *exec.Cmd
	port   int
	url    string
	exited chan struct{}
}

// railsScript is examples/rails/run-demo, found from the working
// directory (make bench runs at the module root).
func railsScript() (string, error) {
	p, err := filepath.Abs(filepath.Join("examples", "rails", "run-demo"))
	if err != nil {
		return "", err
	}
	if err := exec.Command(p, "--check").Run(); err != nil {
		return "", errors.New("the Rails demo app needs Ruby with Rails and sqlite3 (apt-get install ruby-rails ruby-sqlite3)")
	}
	if err := exec.Command("ruby", "-e", `require "puma"`).Run(); err != nil {
		return "", errors.New("the surge against Rails needs Puma (apt-get install puma)")
	}
	return p, nil
}

func startRailsPuma(ctx context.Context, script string, threads int, work time.Duration, users int) (*railsPuma, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close() // Puma binds it itself (bench only: the demo hands its socket over instead)
	cmd := exec.Command(script, strconv.Itoa(port))
	cmd.Env = append(os.Environ(), fmt.Sprintf("PUMA_THREADS=%d", threads), fmt.Sprintf("DEMO_VERIFY_WORK_MS=%d", work.Milliseconds()),
		fmt.Sprintf("DEMO_BULK_USERS=%d", users), "DEMO_LOG_LEVEL=warn")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	r := &railsPuma{cmd: cmd, port: port, url: fmt.Sprintf("http://127.0.0.1:%d", port), exited: make(chan struct{})}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		once := sync.Once{}
		for sc.Scan() {
			if strings.Contains(sc.Text(), "listening on") {
				once.Do(func() { close(ready) })
			}
		}
	}()
	go func() { _ = cmd.Wait(); close(r.exited) }()
	select {
	case <-ready:
	case <-r.exited:
		return nil, errors.New("the Rails demo app exited before it was ready (its output is above)")
	case <-time.After(2 * time.Minute):
		r.stop()
		return nil, errors.New("the Rails demo app was not ready in 2 minutes")
	case <-ctx.Done():
		r.stop()
		return nil, ctx.Err()
	}
	// Puma says it listens before the first request is served: wait for
	// one answer (bounded).
	c := http.Client{Timeout: 5 * time.Second}
	for range 100 {
		if res, err := c.Get(r.url + "/health"); err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return r, nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	r.stop()
	return nil, errors.New("the Rails demo app never answered /health")
}

func (r *railsPuma) stop() {
	_ = syscall.Kill(-r.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-r.exited:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-r.cmd.Process.Pid, syscall.SIGKILL)
		<-r.exited
	}
}

// calls is Rails' count of verify calls it served.
func (r *railsPuma) calls(ctx context.Context) (int64, error) {
	c := http.Client{Timeout: 60 * time.Second} // it waits its turn behind the queue
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, r.url+"/__calls", nil)
	res, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	var v struct{ Calls int64 }
	if err := json.NewDecoder(res.Body).Decode(&v); err != nil {
		return 0, err
	}
	return v.Calls, nil
}

// drained waits until Rails' count stops growing for a second (its queues
// are empty: the work for callers gone is done), at most 3 minutes.
func (r *railsPuma) drained(ctx context.Context) (int64, error) {
	last, stable := int64(-1), 0
	for deadline := time.Now().Add(3 * time.Minute); time.Now().Before(deadline); {
		n, err := r.calls(ctx)
		if err != nil {
			return 0, err
		}
		if n == last {
			if stable++; stable == 2 {
				return n, nil
			}
		} else {
			stable = 0
		}
		last = n
		time.Sleep(500 * time.Millisecond)
	}
	return last, errors.New("the verify count of Rails kept growing for 3 minutes")
}

// acceptQueue samples the listening socket's accept queue on port until
// stop is closed and returns the largest seen.
func acceptQueue(port int, stop <-chan struct{}) func() int64 {
	var most atomic.Int64
	done := make(chan struct{})
	local := fmt.Sprintf(":%04X", port)
	go func() {
		defer close(done)
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			b, err := os.ReadFile("/proc/net/tcp")
			if err != nil {
				return
			}
			for _, line := range strings.Split(string(b), "\n") {
				f := strings.Fields(line)
				// sl local rem st tx_queue:rx_queue ...; st 0A is LISTEN, whose
				// rx_queue is the accept queue's length.
				if len(f) < 5 || f[3] != "0A" || !strings.HasSuffix(f[1], local) {
					continue
				}
				_, rx, _ := strings.Cut(f[4], ":")
				if n, err := strconv.ParseInt(rx, 16, 64); err == nil && n > most.Load() {
					most.Store(n)
				}
			}
		}
	}()
	return func() int64 { <-done; return most.Load() }
}

// railsSurges runs the cold surge against the Rails demo app under Puma,
// admission control off and on, a fresh Rails each.
func (e *benchEnv) railsSurges(ctx context.Context, script string, users int) ([]surgeRow, error) {
	var rows []surgeRow
	for i, c := range []struct {
		name string
		max  int
	}{
		{"admission control off (max_concurrent_calls 0)", 0},
		{"admission control on (default max_concurrent_calls 64)", 64},
	} {
		rails, err := startRailsPuma(ctx, script, surgeThreads, surgeWork, users+1)
		if err != nil {
			return nil, err
		}
		conf := map[string]any{"auth_url": rails.url + "/internal/auth/verify", "timeout": surgeTimeout, "max_concurrent_calls": c.max}
		stop := make(chan struct{})
		mostQueued := acceptQueue(rails.port, stop)
		row := e.surgeOnce(ctx, fmt.Sprintf("rails-surge-%d", i), conf, c.name, users, func(u int) string {
			return fmt.Sprintf("Bearer tok-bulk-%d", u+1)
		})
		afterServed := 0
		if res, err := e.access(ctx, fmt.Sprintf("rails-surge-%d", i), conf, fmt.Sprintf("Bearer tok-bulk-%d", users+1)); err == nil && res.Exit == nil {
			row.After, afterServed = "served", 1
		} else if err == nil {
			row.After = strconv.Itoa(res.Exit.Status)
		}
		calls, err := rails.drained(ctx)
		close(stop)
		row.MaxQueued = mostQueued()
		rails.stop()
		if err != nil {
			return nil, err
		}
		row.RailsCalls = calls
		// Every user's token is valid: each answer the gateway used served
		// one request; every other verify Rails served was for a caller gone.
		row.GoneWork = calls - int64(row.Served) - int64(afterServed)
		rows = append(rows, row)
	}
	return rows, nil
}

// railsExpiryThreads is Puma's thread count for the mass expiry (the
// stand-in's 64: the scenario is about waiting, not saturation).
const railsExpiryThreads = 64

// railsExpiry runs the mass expiry against the Rails demo app under Puma.
func (e *benchEnv) railsExpiry(ctx context.Context, script string, users int) (expiryRow, error) {
	rails, err := startRailsPuma(ctx, script, railsExpiryThreads, 100*time.Millisecond, users)
	if err != nil {
		return expiryRow{}, err
	}
	defer rails.stop()
	return e.expiryOnce(ctx, "rails-expiry", rails.url+"/internal/auth/verify", users,
		func(u int) string { return fmt.Sprintf("Bearer tok-bulk-%d", u+1) },
		func() int64 { n, _ := rails.calls(ctx); return n })
}
