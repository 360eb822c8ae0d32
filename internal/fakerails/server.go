package fakerails

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"
)

// Server serves a Handler on a loopback address and can be taken Down and
// brought back Up on the same address. Its Handler's methods (Set, Calls,
// ...) are promoted, so tests script the server directly.
type Server struct {
	*Handler

	mu     sync.Mutex
	addr   string // host:port, fixed for the Server's life
	srv    *http.Server
	done   chan struct{} // closed when the current Serve returns
	closed bool
}

// New starts a Server on an ephemeral 127.0.0.1 port. Like httptest.NewServer
// it panics if it cannot listen, which only happens on a broken machine.
func New() *Server {
	s, err := Start("127.0.0.1:0", NewHandler())
	if err != nil {
		panic(fmt.Sprintf("fakerails: %v", err))
	}
	return s
}

// Start serves h (a new Handler if nil) on addr, which must be a loopback
// address (127.0.0.1:0 for an ephemeral port): the fake is never reachable
// from outside.
func Start(addr string, h *Handler) (*Server, error) {
	if h == nil {
		h = NewHandler()
	}
	if err := checkLoopback(addr); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", addr, err)
	}
	s := &Server{Handler: h, addr: ln.Addr().String()}
	s.serve(ln)
	return s, nil
}

// URL is the base URL, "http://127.0.0.1:PORT", without a path.
func (s *Server) URL() string { return "http://" + s.addr }

// VerifyURL is URL() + VerifyPath: the auth_url to configure.
func (s *Server) VerifyURL() string { return s.URL() + VerifyPath }

// Addr is the host:port the server listens on (also while Down).
func (s *Server) Addr() string { return s.addr }

// Down closes the listener and every open connection, so new connections
// are refused and in-flight requests fail, as when the Rails app is dead.
// It is a no-op if the server is already down.
func (s *Server) Down() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopLocked()
}

// Up listens again on the same address after Down. It is a no-op if the
// server is up. It fails if the port was taken meanwhile or after Close.
func (s *Server) Up() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("fakerails: Up after Close")
	}
	if s.srv != nil {
		return nil
	}
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return fmt.Errorf("fakerails: listening again on %s: %w", s.addr, err)
	}
	s.serveLocked(ln)
	return nil
}

// Close stops the server for good. It is safe to call more than once.
func (s *Server) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.stopLocked()
}

func (s *Server) serve(ln net.Listener) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.serveLocked(ln)
}

func (s *Server) serveLocked(ln net.Listener) {
	srv := &http.Server{Handler: s.Handler, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln) // returns http.ErrServerClosed on Close
	}()
	s.srv, s.done = srv, done
}

// stopLocked closes the current http.Server and waits for Serve to return,
// so that after Down the port is really free for Up.
func (s *Server) stopLocked() {
	if s.srv == nil {
		return
	}
	_ = s.srv.Close()
	<-s.done
	s.srv, s.done = nil, nil
}

// checkLoopback rejects addresses that would expose the fake beyond this
// machine.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("fakerails: bad address %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("fakerails: %q is not a loopback address", addr)
	}
	return nil
}
