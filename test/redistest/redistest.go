// Package redistest runs throwaway redis-server processes on loopback for
// tests: a plain server (Start), a one-node Redis Cluster (StartCluster) and
// a sentinel watching a server (StartSentinel).
//
// redis-server is looked up in PATH, /usr/bin and /usr/local/bin; tests
// never install it (.ci/run does). Without it the test is skipped with a
// message saying so, except when the environment variable CI is "true":
// there it fails.
//
// Each server runs in the foreground with no persistence (--save "",
// --appendonly no), bound to 127.0.0.1 on a free port, its files in a
// t.TempDir, and is killed by t.Cleanup.
package redistest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Bounds on the slow steps.
const (
	readyTimeout = 15 * time.Second
	stopTimeout  = 10 * time.Second
)

// Server is one redis-server (or sentinel) process.
type Server struct {
	t    testing.TB
	bin  string
	dir  string
	port int
	kind kind

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	out    *tailBuffer
}

type kind int

const (
	plain kind = iota
	cluster
	sentinel
)

// Start runs a plain redis-server on a free 127.0.0.1 port and waits until
// it answers PING.
func Start(t testing.TB) *Server {
	t.Helper()
	return start(t, plain, "")
}

// StartCluster runs a redis-server with cluster mode on, owning all 16384
// slots: a one-node Redis Cluster. Cluster rules (CROSSSLOT, db 0 only)
// apply as on a real cluster. It survives Restart with its slots.
func StartCluster(t testing.TB) *Server {
	t.Helper()
	return start(t, cluster, "")
}

// StartSentinel runs a sentinel (redis-server --sentinel) that monitors
// master under masterName, and waits until the sentinel knows the master.
func StartSentinel(t testing.TB, master *Server, masterName string) *Server {
	t.Helper()
	conf := fmt.Sprintf("sentinel monitor %s 127.0.0.1 %d 1\nsentinel down-after-milliseconds %s 60000\n",
		masterName, master.port, masterName)
	s := start(t, sentinel, conf)
	deadline := time.Now().Add(readyTimeout)
	for {
		reply, err := s.do("SENTINEL", "GET-MASTER-ADDR-BY-NAME", masterName)
		if err == nil && strings.Contains(reply, strconv.Itoa(master.port)) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("redistest: sentinel does not know master %q: %q %v\n%s", masterName, reply, err, s.out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func start(t testing.TB, k kind, sentinelConf string) *Server {
	t.Helper()
	bin, err := binary()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("redistest: redis-server is required in CI: %v", err)
		}
		t.Skipf("redistest: skipping: %v", err)
	}
	dir := t.TempDir()
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port, err := freePort()
		if err != nil {
			t.Fatalf("redistest: no free port: %v", err)
		}
		s := &Server{t: t, bin: bin, dir: dir, port: port, kind: k}
		if k == sentinel {
			conf := fmt.Sprintf("port %d\nbind 127.0.0.1\ndaemonize no\ndir %s\n%s", port, dir, sentinelConf)
			if err := os.WriteFile(s.sentinelConf(), []byte(conf), 0o600); err != nil {
				t.Fatalf("redistest: %v", err)
			}
		}
		if err := s.launch(); err != nil {
			lastErr = err // most likely the port was taken meanwhile
			continue
		}
		t.Cleanup(s.Stop)
		if k == cluster {
			s.initCluster()
		}
		return s
	}
	t.Fatalf("redistest: redis-server would not start: %v", lastErr)
	return nil
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// Port is the server's port.
func (s *Server) Port() int { return s.port }

// Output is the tail of the server's log (stdout and stderr).
func (s *Server) Output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.out == nil {
		return ""
	}
	return s.out.String()
}

// Stop kills the server (SIGKILL: no goodbye to clients, as in a crash) and
// waits for it to exit. Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	select {
	case <-s.exited:
	case <-time.After(stopTimeout):
		s.t.Errorf("redistest: redis-server pid %d did not exit %s after SIGKILL", s.cmd.Process.Pid, stopTimeout)
	}
	s.cmd = nil
}

// Restart stops the server if it runs and starts it again on the same port
// (empty, but a cluster node keeps its slots). It must be called from the
// test's goroutine: it fails the test if the server does not come back.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	var err error
	for attempt := 0; attempt < 20; attempt++ {
		if err = s.launch(); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		s.t.Fatalf("redistest: restart on port %d: %v", s.port, err)
	}
	if s.kind == cluster {
		s.waitClusterOK()
	}
}

// Pause freezes the server (SIGSTOP): connections stay open and new ones are
// accepted by the kernel, but nothing is answered, so clients see timeouts
// rather than refused connections. Resume undoes it; Stop works on a paused
// server.
func (s *Server) Pause() { s.signal(syscall.SIGSTOP) }

// Resume continues a paused server (SIGCONT).
func (s *Server) Resume() { s.signal(syscall.SIGCONT) }

func (s *Server) signal(sig syscall.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		s.t.Errorf("redistest: %v to a server that is not running", sig)
		return
	}
	if err := s.cmd.Process.Signal(sig); err != nil {
		s.t.Errorf("redistest: %v: %v", sig, err)
	}
}

func (s *Server) sentinelConf() string { return filepath.Join(s.dir, "sentinel.conf") }

// launch starts the process and waits until it answers PING.
func (s *Server) launch() error {
	var args []string
	switch s.kind {
	case sentinel:
		args = []string{s.sentinelConf(), "--sentinel"}
	default:
		args = []string{
			"--port", strconv.Itoa(s.port),
			"--bind", "127.0.0.1",
			"--save", "",
			"--appendonly", "no",
			"--daemonize", "no",
			"--dir", s.dir,
		}
		if s.kind == cluster {
			args = append(args,
				"--cluster-enabled", "yes",
				"--cluster-config-file", filepath.Join(s.dir, "nodes.conf"),
				"--cluster-node-timeout", "5000")
		}
	}
	out := &tailBuffer{max: 64 << 10}
	cmd := exec.Command(s.bin, args...)
	cmd.Dir = s.dir
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()

	deadline := time.Now().Add(readyTimeout)
	for {
		select {
		case <-exited:
			return fmt.Errorf("redis-server exited at start:\n%s", out)
		default:
		}
		if reply, err := s.do("PING"); err == nil && reply == "PONG" {
			break
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-exited
			return fmt.Errorf("no PONG within %s:\n%s", readyTimeout, out)
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.mu.Lock()
	s.cmd, s.exited, s.out = cmd, exited, out
	s.mu.Unlock()
	return nil
}

func (s *Server) initCluster() {
	s.t.Helper()
	args := []string{"CLUSTER", "ADDSLOTS"}
	for i := 0; i < 16384; i++ {
		args = append(args, strconv.Itoa(i))
	}
	if reply, err := s.do(args...); err != nil || reply != "OK" {
		s.t.Fatalf("redistest: CLUSTER ADDSLOTS: %q %v", reply, err)
	}
	s.waitClusterOK()
}

func (s *Server) waitClusterOK() {
	s.t.Helper()
	deadline := time.Now().Add(readyTimeout)
	for {
		reply, err := s.do("CLUSTER", "INFO")
		if err == nil && strings.Contains(reply, "cluster_state:ok") {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("redistest: cluster not ok within %s: %q %v", readyTimeout, reply, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// do sends one command over a fresh connection and returns a simple string,
// bulk string or integer reply as text; an array reply is returned as its
// elements joined by newlines (one level deep).
func (s *Server) do(args ...string) (string, error) {
	conn, err := net.DialTimeout("tcp", s.Addr(), time.Second)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	var b bytes.Buffer
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := conn.Write(b.Bytes()); err != nil {
		return "", err
	}
	return readReply(bufio.NewReader(conn), true)
}

func readReply(r *bufio.Reader, top bool) (string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("empty reply line")
	}
	switch line[0] {
	case '+', ':':
		return line[1:], nil
	case '-':
		return "", errors.New(line[1:])
	case '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 {
			return "", err
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", err
		}
		return string(buf[:n]), nil
	case '*':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 || !top {
			return "", fmt.Errorf("unsupported reply %q", line)
		}
		parts := make([]string, n)
		for i := range parts {
			if parts[i], err = readReply(r, false); err != nil {
				return "", err
			}
		}
		return strings.Join(parts, "\n"), nil
	}
	return "", fmt.Errorf("unexpected reply %q", line)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// binary finds redis-server. A variable so that tests can pretend it is
// missing.
var binary = func() (string, error) {
	if p := lookup(); p != "" {
		return p, nil
	}
	return "", errors.New("redis-server is not in PATH, /usr/bin or /usr/local/bin: install the redis-server package (apt-get install redis-server; .ci/run does)")
}

func lookup() string {
	if p, err := exec.LookPath("redis-server"); err == nil {
		return p
	}
	for _, p := range []string{"/usr/bin/redis-server", "/usr/local/bin/redis-server"} {
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	return ""
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if len(b.buf) > b.max {
		b.buf = append(b.buf[:0], b.buf[len(b.buf)-b.max:]...)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}
