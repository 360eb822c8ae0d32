package echo

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

const (
	// maxHeaderBytes bounds the request line plus headers; larger requests
	// get 431, like most servers.
	maxHeaderBytes = 64 << 10
	// maxBodyBytes bounds how much request body is drained to keep a
	// connection reusable; beyond that the connection is closed.
	maxBodyBytes = 16 << 20
	// idleTimeout closes keep-alive connections nobody uses.
	idleTimeout = 60 * time.Second
)

// Server is an echo upstream on a loopback address that reports header
// names exactly as received (see the package comment). It speaks HTTP/1.1
// with keep-alive, Content-Length and chunked request bodies; it has no TLS
// and no HTTP/2, which the gateway never uses towards upstreams.
type Server struct {
	ln    net.Listener
	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
	once  sync.Once
}

// New starts a Server on an ephemeral 127.0.0.1 port. Like
// httptest.NewServer it panics if it cannot listen.
func New() *Server {
	s, err := Start("127.0.0.1:0")
	if err != nil {
		panic(fmt.Sprintf("echo: %v", err))
	}
	return s
}

// Start serves the echo on addr, which must be a loopback address.
func Start(addr string) (*Server, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("echo: bad address %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("echo: %q is not a loopback address", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("echo: listening on %s: %w", addr, err)
	}
	s := &Server{ln: ln, conns: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// URL is the base URL, "http://127.0.0.1:PORT".
func (s *Server) URL() string { return "http://" + s.ln.Addr().String() }

// Addr is the host:port the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops accepting, closes every connection and waits for the
// connection goroutines. It is safe to call more than once.
func (s *Server) Close() {
	s.once.Do(func() {
		_ = s.ln.Close()
		s.mu.Lock()
		for c := range s.conns {
			_ = c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return // listener closed
		}
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			defer s.forget(c)
			serveConn(c)
		}()
	}
}

func (s *Server) forget(c net.Conn) {
	_ = c.Close()
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// serveConn answers the requests of one connection until the client closes
// it, asks to, or sends something unparseable.
func serveConn(c net.Conn) {
	br := bufio.NewReaderSize(c, maxHeaderBytes)
	for {
		_ = c.SetReadDeadline(time.Now().Add(idleTimeout))
		// Peek (not read) the header block to learn the raw names, then let
		// net/http parse the same bytes for framing (Content-Length, chunked).
		block, err := peekHeaderBlock(br)
		if err != nil {
			if errors.Is(err, bufio.ErrBufferFull) {
				writeStatus(c, http.StatusRequestHeaderFieldsTooLarge)
			}
			return
		}
		names := rawHeaders(block)
		target := requestTarget(block)
		req, err := http.ReadRequest(br)
		if err != nil {
			writeStatus(c, http.StatusBadRequest)
			return
		}
		if strings.EqualFold(req.Header.Get("Expect"), "100-continue") {
			_, _ = io.WriteString(c, "HTTP/1.1 100 Continue\r\n\r\n")
		}
		n, _ := io.Copy(io.Discard, io.LimitReader(req.Body, maxBodyBytes+1))
		_ = req.Body.Close()

		path, query, _ := strings.Cut(target, "?")
		body, _ := json.Marshal(Reply{Method: req.Method, Path: path, Query: query, Headers: names})
		body = append(body, '\n') // so curl's output ends its line
		closeAfter := req.Close || n > maxBodyBytes
		if err := writeReply(c, req.Method, body, closeAfter); err != nil || closeAfter {
			return
		}
	}
}

// peekHeaderBlock returns the bytes up to and including the empty line that
// ends the headers, without consuming them. It accepts CRLF and bare LF
// line ends, as net/http does.
func peekHeaderBlock(br *bufio.Reader) ([]byte, error) {
	for {
		if n := br.Buffered(); n > 0 {
			buf, _ := br.Peek(n) // cannot fail: n bytes are buffered
			if end := headerEnd(buf); end > 0 {
				return buf[:end], nil
			}
		}
		// Nothing complete yet: ask for one byte more than is buffered, so
		// Peek blocks until the client sends more (or the buffer is full).
		if _, err := br.Peek(br.Buffered() + 1); err != nil {
			return nil, err
		}
	}
}

// headerEnd is the length of the header block in buf, or 0 if incomplete.
func headerEnd(buf []byte) int {
	for i := 0; i < len(buf); i++ {
		if buf[i] != '\n' {
			continue
		}
		rest := buf[i+1:]
		switch {
		case bytes.HasPrefix(rest, []byte("\r\n")):
			return i + 3
		case bytes.HasPrefix(rest, []byte("\n")):
			return i + 2
		}
	}
	return 0
}

// requestTarget is the second word of the request line.
func requestTarget(block []byte) string {
	line, _, _ := bytes.Cut(block, []byte("\n"))
	fields := strings.Fields(string(line))
	if len(fields) < 2 {
		return ""
	}
	return fields[1]
}

// rawHeaders parses the header lines of block keeping each name's spelling.
func rawHeaders(block []byte) map[string][]string {
	out := map[string][]string{}
	lines := strings.Split(strings.ReplaceAll(string(block), "\r\n", "\n"), "\n")
	for _, line := range lines[1:] { // lines[0] is the request line
		name, value, ok := strings.Cut(line, ":")
		if !ok || name == "" {
			continue
		}
		out[name] = append(out[name], strings.Trim(value, " \t"))
	}
	return out
}

func writeReply(w io.Writer, method string, body []byte, closeAfter bool) error {
	var b bytes.Buffer
	b.WriteString("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
	fmt.Fprintf(&b, "Content-Length: %d\r\n", len(body))
	if closeAfter {
		b.WriteString("Connection: close\r\n")
	}
	b.WriteString("\r\n")
	if method != http.MethodHead {
		b.Write(body)
	}
	_, err := w.Write(b.Bytes())
	return err
}

func writeStatus(w io.Writer, status int) {
	_, _ = fmt.Fprintf(w, "HTTP/1.1 %d %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", status, http.StatusText(status))
}
