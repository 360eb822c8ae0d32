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
	ln     net.Listener // the port, bound by the gateway for as long as Rails runs
	exited chan struct{}
}

// railsListenFD is the descriptor the listening socket is handed to Rails
// on (the first of exec.Cmd.ExtraFiles); run-demo's serve.rb serves on it
// when LISTEN_FD is set.
const railsListenFD = 3

// startRails binds addr (a free port when its port is 0), runs script
// (run-demo) with that listening socket handed over as descriptor 3, and
// waits until it answers GET /health. The gateway binds the port itself
// and keeps it bound until Rails is stopped, so no other process can take
// it between a check and Rails' own bind, or after Rails dies, and receive
// the users' credentials: whatever answers on the port is the child.
func startRails(script, addr string, env []string, out io.Writer, log *slog.Logger) (*railsDemo, string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", fmt.Errorf("rails demo on %s: %w", addr, err)
	}
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		ln.Close()
		return nil, "", fmt.Errorf("rails demo socket: %w", err)
	}
	defer f.Close() // the child has its own copy
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	addr = ln.Addr().String()
	if out == nil {
		out = os.Stderr
	}
	cmd := exec.Command(script, port)
	cmd.Env = append(append(os.Environ(), "BIND="+host, "LISTEN_FD="+strconv.Itoa(railsListenFD)), env...)
	cmd.ExtraFiles = []*os.File{f}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		ln.Close()
		return nil, "", fmt.Errorf("starting the rails demo: %w", err)
	}
	r := &railsDemo{cmd: cmd, ln: ln, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(r.exited) }()
	log.Info("starting the Rails demo app (examples/rails)", "script", script, "addr", addr)

	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(railsReadyTimeout)
	for {
		select {
		case <-r.exited:
			ln.Close()
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
	defer r.ln.Close()
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
