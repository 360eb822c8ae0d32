package kongsim

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const (
	// readyTimeout bounds how long StartServer waits for the socket.
	readyTimeout = 10 * time.Second
	// stopGrace is how long Close waits after SIGTERM before SIGKILL.
	stopGrace = 5 * time.Second
	// unixPathMax is sizeof(sockaddr_un.sun_path) on Linux.
	unixPathMax = 108
)

// ServerOptions configures StartServer.
type ServerOptions struct {
	// Prefix is Kong's prefix directory; the plugin listens on
	// <Prefix>/<basename(bin)>.socket. Empty means a fresh temporary
	// directory, removed by Close.
	Prefix string
	// Env is appended to the plugin process environment.
	Env []string
	// CleanEnv starts the plugin with only TZ (if set) plus Env instead of
	// os.Environ() + Env. That is what a Kong-managed plugin server gets:
	// nginx clears the worker environment except TZ and variables named
	// in `env` directives (nginx_main_env), and ngx.pipe.spawn inherits it.
	CleanEnv bool
	// Output receives the plugin's merged stdout and stderr, one
	// "[name:pid] line" per line as process.lua grab_logs logs them, plus
	// the simulator's Kong-side log lines ("[kong] [level] ..."). Nil
	// discards.
	Output io.Writer
	// RespawnDelay is the minimum time between two spawns
	// (process.lua: next_spawn = ngx.now() + 1). Zero means 1 s.
	RespawnDelay time.Duration
	// RespawnAfter is the timer the supervisor waits on before a respawn;
	// nil means time.After. Tests pass their own channel to decide when
	// the respawn happens instead of racing RespawnDelay.
	RespawnAfter func(time.Duration) <-chan time.Time
}

// Server is a plugin server process managed the way Kong manages one
// (kong/runloop/plugin_servers/process.lua), plus Kong's per-worker state
// for talking to it (plugin.lua running_instances, the cosocket pool).
type Server struct {
	bin, name, prefix, socket string
	ownPrefix                 bool
	opts                      ServerOptions
	out                       *lineWriter
	nodeID                    string
	pool                      *connPool
	msgID                     atomic.Int64

	mu        sync.Mutex
	cur       *procHandle
	starts    int
	nextSpawn time.Time
	closing   bool
	fatal     error // the supervisor gave up (exit 127, spawn failure)
	closeCh   chan struct{}
	stopped   chan struct{}
	closeOnce sync.Once
	closeErr  error

	stateMu    sync.Mutex
	running    map[string]*instanceInfo
	plugins    map[string]*pluginState
	rebuildGen int
	seqCounter int
}

// procHandle is one spawned plugin process.
type procHandle struct {
	cmd  *exec.Cmd
	pid  int
	done chan struct{} // closed after the output is drained and Wait returned
	err  error         // Wait's result
}

// lineWriter serialises writes to the user's Output.
type lineWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lineWriter) line(s string) {
	if l == nil || l.w == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	_, _ = io.WriteString(l.w, s+"\n")
}

// kongLog writes a Kong-side log line to Output.
func (s *Server) kongLog(level, format string, args ...any) {
	s.out.line(fmt.Sprintf("[kong] [%s] ", level) + fmt.Sprintf(format, args...))
}

// StartServer starts the plugin server as process.lua pluginserver_timer
// does (`exec <bin> -kong-prefix <prefix>`, stdout and stderr merged and
// logged line by line) and supervises it: when the process dies it is
// respawned, never sooner than RespawnDelay after the previous spawn, until
// Close; an exit status of 127 ("command not found") stops respawning, as
// in Kong. StartServer waits (at most 10 s, or until ctx ends) for
// <prefix>/<basename(bin)>.socket, where go-pdk listens (server/os.go), to
// accept connections. ctx only bounds that wait; the process lives until
// Close.
func StartServer(ctx context.Context, bin string, opts ServerOptions) (*Server, error) {
	if opts.RespawnDelay <= 0 {
		opts.RespawnDelay = time.Second
	}
	if opts.RespawnAfter == nil {
		opts.RespawnAfter = time.After
	}
	s := &Server{
		bin:     bin,
		name:    filepath.Base(bin),
		opts:    opts,
		out:     &lineWriter{w: opts.Output},
		closeCh: make(chan struct{}),
		stopped: make(chan struct{}),
		running: map[string]*instanceInfo{},
		plugins: map[string]*pluginState{},
		nodeID:  newUUID(),
	}
	s.prefix = opts.Prefix
	if s.prefix == "" {
		dir, err := os.MkdirTemp("", "kongsim-")
		if err != nil {
			return nil, fmt.Errorf("creating kong prefix: %w", err)
		}
		s.prefix, s.ownPrefix = dir, true
	}
	s.socket = filepath.Join(s.prefix, s.name+".socket")
	if len(s.socket) >= unixPathMax {
		s.cleanupPrefix()
		return nil, fmt.Errorf("socket path %q is longer than a unix socket allows (%d)", s.socket, unixPathMax-1)
	}
	s.pool = newConnPool(s.socket)

	s.mu.Lock()
	h, err := s.spawnLocked()
	s.mu.Unlock()
	if err != nil {
		close(s.stopped)
		s.cleanupPrefix()
		return nil, fmt.Errorf("starting plugin server %s: %w", bin, err)
	}
	go s.supervise(h)

	wctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	if err := s.WaitReady(wctx); err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("waiting for plugin server socket %s: %w", s.socket, err)
	}
	return s, nil
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// environ is the plugin process environment (see ServerOptions.CleanEnv).
func (s *Server) environ() []string {
	if !s.opts.CleanEnv {
		return append(os.Environ(), s.opts.Env...)
	}
	var env []string
	if tz, ok := os.LookupEnv("TZ"); ok {
		env = append(env, "TZ="+tz)
	}
	return append(env, s.opts.Env...)
}

// spawnLocked starts one process (process.lua: ngx_pipe.spawn("exec " ..
// start_command, { merge_stderr = true })). s.mu must be held.
func (s *Server) spawnLocked() (*procHandle, error) {
	s.kongLog("notice", "[pluginserver] starting pluginserver process for %s", s.name)
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("creating output pipe: %w", err)
	}
	cmd := exec.Command(s.bin, "-kong-prefix", s.prefix)
	cmd.Env = s.environ()
	cmd.Stdout = w
	cmd.Stderr = w
	if err := cmd.Start(); err != nil {
		r.Close()
		w.Close()
		return nil, err
	}
	w.Close()
	h := &procHandle{cmd: cmd, pid: cmd.Process.Pid, done: make(chan struct{})}
	s.cur = h
	s.starts++
	s.nextSpawn = time.Now().Add(s.opts.RespawnDelay)
	s.kongLog("notice", "[pluginserver] started, pid %d", h.pid)
	go func() {
		s.grabLogs(r, h.pid)
		r.Close()
		h.err = cmd.Wait()
		close(h.done)
	}()
	return h, nil
}

// grabLogs follows process.lua grab_logs: every non-empty line (or final
// partial line) is logged with the "[name:pid] " prefix.
func (s *Server) grabLogs(r io.Reader, pid int) {
	prefix := fmt.Sprintf("[%s:%d] ", s.name, pid)
	br := bufio.NewReader(r)
	for {
		line, err := br.ReadString('\n')
		if n := len(line); n > 0 && line[n-1] == '\n' {
			line = line[:n-1]
		}
		if line != "" {
			s.out.line(prefix + line)
		}
		if err != nil {
			return
		}
	}
}

// supervise follows process.lua pluginserver_timer's respawn loop.
func (s *Server) supervise(h *procHandle) {
	defer close(s.stopped)
	for {
		<-h.done
		s.pool.flush() // nginx drops pooled connections the peer closed
		code := -1
		var ee *exec.ExitError
		if errors.As(h.err, &ee) {
			code = ee.ExitCode()
		} else if h.err == nil {
			code = 0
		}
		s.kongLog("notice", "external pluginserver '%s' terminated: %v", s.name, h.err)
		s.mu.Lock()
		if code == 127 {
			s.fatal = fmt.Errorf("pluginserver %q start command exited with \"command not found\"", s.name)
			s.kongLog("err", "[pluginserver] %v", s.fatal)
		}
		if s.closing || s.fatal != nil {
			s.mu.Unlock()
			s.kongLog("notice", "[pluginserver] exiting: pluginserver '%s' not respawned.", s.name)
			return
		}
		wait := time.Until(s.nextSpawn)
		s.mu.Unlock()
		select {
		case <-s.opts.RespawnAfter(max(wait, 0)):
		case <-s.closeCh:
			return
		}
		s.mu.Lock()
		if s.closing {
			s.mu.Unlock()
			return
		}
		next, err := s.spawnLocked()
		if err != nil {
			s.fatal = fmt.Errorf("respawning plugin server: %w", err)
			s.kongLog("err", "[pluginserver] %v", s.fatal)
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
		h = next
	}
}

// SocketPath is where Kong connects: <prefix>/<basename(bin)>.socket.
func (s *Server) SocketPath() string { return s.socket }

// Prefix is the Kong prefix directory the plugin was started with.
func (s *Server) Prefix() string { return s.prefix }

// PID is the pid of the current plugin process.
func (s *Server) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur == nil {
		return 0
	}
	return s.cur.pid
}

// Starts is how many times the plugin process was spawned.
func (s *Server) Starts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.starts
}

// Kill sends SIGKILL to the current plugin process and waits (up to 10 s)
// until it has exited; the supervisor then respawns it like Kong would.
func (s *Server) Kill() error {
	s.mu.Lock()
	h := s.cur
	s.mu.Unlock()
	if h == nil {
		return fmt.Errorf("kill: no plugin process")
	}
	select {
	case <-h.done:
		return fmt.Errorf("kill: process %d already exited", h.pid)
	default:
	}
	if err := h.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		return fmt.Errorf("kill %d: %w", h.pid, err)
	}
	select {
	case <-h.done:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("kill: process %d did not exit", h.pid)
	}
}

// WaitReady waits until the plugin socket accepts connections (e.g. after
// Kill, once the respawned process listens), until ctx ends, or until the
// supervisor gave up.
func (s *Server) WaitReady(ctx context.Context) error {
	for {
		s.mu.Lock()
		fatal, closing := s.fatal, s.closing
		s.mu.Unlock()
		if fatal != nil {
			return fatal
		}
		if closing {
			return fmt.Errorf("server closed")
		}
		d := net.Dialer{Timeout: time.Second}
		c, err := d.DialContext(ctx, "unix", s.socket)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("socket not ready (%s): %w", cosocketError(err), ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// Close stops respawning, sends SIGTERM to the plugin process (as
// process.lua stop_pluginservers does), SIGKILLs it if it is still alive
// after 5 s, drops pooled connections and removes the prefix directory if
// StartServer created it. It is safe to call more than once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closing = true
		h := s.cur
		s.mu.Unlock()
		close(s.closeCh)
		if h != nil {
			select {
			case <-h.done:
			default:
				_ = h.cmd.Process.Signal(syscall.SIGTERM)
				select {
				case <-h.done:
				case <-time.After(stopGrace):
					_ = h.cmd.Process.Signal(syscall.SIGKILL)
					select {
					case <-h.done:
					case <-time.After(stopGrace):
						s.closeErr = fmt.Errorf("plugin process %d did not exit", h.pid)
					}
				}
			}
		}
		select {
		case <-s.stopped:
		case <-time.After(stopGrace):
		}
		s.pool.close()
		if err := s.cleanupPrefix(); err != nil && s.closeErr == nil {
			s.closeErr = err
		}
	})
	return s.closeErr
}

func (s *Server) cleanupPrefix() error {
	if !s.ownPrefix {
		return nil
	}
	if err := os.RemoveAll(s.prefix); err != nil {
		return fmt.Errorf("removing prefix %s: %w", s.prefix, err)
	}
	return nil
}
