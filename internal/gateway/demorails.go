package gateway

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"
)

// Bounds on the Rails demo's process: Rails boots in seconds, but a cold
// machine loading gems from disk can take longer.
const (
	railsReadyTimeout = 2 * time.Minute
	railsStopTimeout  = 10 * time.Second
)

// railsDemo is examples/rails/run-demo running as the demo's auth service:
// the real Rails engine instead of the Go stand-in.
type railsDemo struct {
	cmd    *exec.Cmd
	exited chan struct{}
}

// startRails runs script (run-demo) on addr's port, bound to addr's host,
// and waits until it answers GET /health. It returns the address it
// listens on (a free port when addr's port is 0).
func startRails(script, addr string, env []string, out io.Writer, log *slog.Logger) (*railsDemo, string, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, "", fmt.Errorf("rails demo address %q: %w", addr, err)
	}
	// A free port (or the port asked for, checked free: a Rails left
	// running from an earlier demo would otherwise pass for this one).
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", fmt.Errorf("rails demo on %s: %w", addr, err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	addr = net.JoinHostPort(host, port)
	if out == nil {
		out = os.Stderr
	}
	cmd := exec.Command(script, port)
	cmd.Env = append(append(os.Environ(), "BIND="+host), env...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return nil, "", fmt.Errorf("starting the rails demo: %w", err)
	}
	r := &railsDemo{cmd: cmd, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(r.exited) }()
	log.Info("starting the Rails demo app (examples/rails)", "script", script, "addr", addr)

	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(railsReadyTimeout)
	for {
		select {
		case <-r.exited:
			return nil, "", errors.New("the rails demo exited during startup (see its output above)")
		default:
		}
		if resp, err := client.Get("http://" + addr + "/health"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return r, addr, nil
			}
		}
		if time.Now().After(deadline) {
			r.stop()
			return nil, "", fmt.Errorf("the rails demo did not answer on %s within %v", addr, railsReadyTimeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stop asks Rails to shut down (SIGTERM, as Ctrl-C would) and kills it if
// it has not within railsStopTimeout. It reports whether it had to kill.
func (r *railsDemo) stop() (killed bool) {
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.exited:
		return false
	case <-time.After(railsStopTimeout):
		_ = r.cmd.Process.Kill()
		<-r.exited
		return true
	}
}
