package kongsim

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/Kong/go-pdk/server/kong_plugin_protocol"
	"google.golang.org/protobuf/proto"
)

// maxFrame bounds a frame we are willing to allocate (Kong has no such
// limit; this only protects the test process from garbage).
const maxFrame = 64 << 20

// readFrame follows pb_rpc.lua read_frame: a little-endian uint32 length
// ("I" in lua_pack) followed by that many bytes.
func readFrame(c net.Conn) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.LittleEndian.Uint32(hdr[:])
	if n > maxFrame {
		return nil, fmt.Errorf("frame of %d bytes exceeds kongsim's limit", n)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(c, buf); err != nil {
		return nil, err
	}
	return buf, nil
}

// writeFrame follows pb_rpc.lua write_frame (length, then data).
func writeFrame(c net.Conn, b []byte) error {
	var hdr [4]byte
	binary.LittleEndian.PutUint32(hdr[:], uint32(len(b)))
	if _, err := c.Write(hdr[:]); err != nil {
		return err
	}
	if len(b) == 0 {
		return nil
	}
	_, err := c.Write(b)
	return err
}

// cosocketError is the error string an ngx cosocket reports for err:
// "closed" for EOF (the string pb_rpc.lua handle_event retries on),
// "timeout", and lowercased strerror otherwise.
func cosocketError(err error) string {
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		return "closed"
	case errors.Is(err, os.ErrDeadlineExceeded):
		return "timeout"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset by peer"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ENOENT):
		return "no such file or directory"
	case errors.Is(err, syscall.EPIPE):
		return "broken pipe"
	}
	return err.Error()
}

// connPool is the cosocket keepalive pool for the plugin socket
// (c:setkeepalive() in pb_rpc.lua Rpc:call; lua_socket_pool_size = 30,
// most recently used first). nginx closes idle pooled connections the
// peer closed (its keepalive close handler); get does the same check
// before handing one out.
type connPool struct {
	path string
	max  int

	mu     sync.Mutex
	idle   []net.Conn
	closed bool
}

func newConnPool(path string) *connPool { return &connPool{path: path, max: 30} }

// get returns a live pooled connection or dials a new one
// (ngx.socket.connect("unix:" .. socket)).
func (p *connPool) get(ctx context.Context) (net.Conn, error) {
	for {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return nil, net.ErrClosed
		}
		var c net.Conn
		if n := len(p.idle); n > 0 {
			c = p.idle[n-1]
			p.idle = p.idle[:n-1]
		}
		p.mu.Unlock()
		if c == nil {
			break
		}
		if idleConnAlive(c) {
			return c, nil
		}
		c.Close()
	}
	var d net.Dialer
	return d.DialContext(ctx, "unix", p.path)
}

// put returns a connection to the pool, closing the least recently used
// one when the pool is full.
func (p *connPool) put(c net.Conn) {
	_ = c.SetDeadline(time.Time{})
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		c.Close()
		return
	}
	if len(p.idle) >= p.max {
		p.idle[0].Close()
		p.idle = p.idle[1:]
	}
	p.idle = append(p.idle, c)
}

// flush closes every idle connection (the plugin server went away).
func (p *connPool) flush() {
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, c := range idle {
		c.Close()
	}
}

func (p *connPool) close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.flush()
}

// idleConnAlive peeks at an idle connection without blocking: EOF or
// unexpected data means nginx would already have dropped it.
func idleConnAlive(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	alive := false
	var buf [1]byte
	err = rc.Read(func(fd uintptr) bool {
		_, _, rerr := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		// nil error means pending data (n > 0) or EOF (n == 0): either way
		// nginx would have closed it; EAGAIN means idle and open.
		alive = errors.Is(rerr, syscall.EAGAIN)
		return true
	})
	return err == nil && alive
}

// rpcCall follows pb_rpc.lua Rpc:call. The RpcCall is sent on a pooled
// connection; with ev set, the bridge loop serves PDK calls until the
// empty frame; then the RpcReturn is read and the connection goes back to
// the pool. Failures Kong *returns* (connect/read errors, unknown PDK
// method) come back as errMsg with Kong's wording; failures Kong *raises*
// (assert on send or decode, Lua errors inside PDK functions, the exit
// yield) come back as thrown. The connection is abandoned (closed) on
// every failure, as it is never returned to the pool in Kong.
func (s *Server) rpcCall(ctx context.Context, call *kong_plugin_protocol.RpcCall, ev *event) (ret *kong_plugin_protocol.RpcReturn, errMsg string, thrown error) {
	seq := s.msgID.Add(1) + 1 // self.msg_id + 1, then msg_id + 1
	call.Sequence = seq

	c, err := s.pool.get(ctx)
	if err != nil {
		msg := cosocketError(err)
		if ctx.Err() != nil {
			msg = "timeout"
		}
		s.kongLog("err", "trying to connect: %s", msg)
		return nil, msg, nil
	}
	keep := false
	defer func() {
		if !keep {
			c.Close()
		}
	}()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	msg, err := proto.Marshal(call)
	if err != nil {
		return nil, "", throw("assertion failed! encoding RpcCall: %v", err)
	}
	if err := writeFrame(c, msg); err != nil {
		return nil, "", throw("%s", cosocketError(err)) // assert(c:send(...))
	}

	for ev != nil {
		name, err := readFrame(c)
		if err != nil {
			return nil, cosocketError(err), nil
		}
		if len(name) == 0 {
			break
		}
		args, err := readFrame(c)
		if err != nil {
			return nil, cosocketError(err), nil
		}
		ev.addCall(string(name))
		reply, errMsg, thrown := callPDK(ev, string(name), args)
		if thrown != nil {
			return nil, "", thrown
		}
		if errMsg != "" {
			return nil, errMsg, nil
		}
		if err := writeFrame(c, reply); err != nil {
			return nil, "", throw("%s", cosocketError(err)) // assert in write_frame
		}
	}

	data, err := readFrame(c)
	if err != nil {
		return nil, cosocketError(err), nil
	}
	if stop() { // the cancel hook did not touch the deadline: reusable
		keep = true
		s.pool.put(c) // c:setkeepalive()
	}

	var rr kong_plugin_protocol.RpcReturn
	if err := proto.Unmarshal(data, &rr); err != nil {
		return nil, "", throw("assertion failed! decoding RpcReturn: %v", err)
	}
	if rr.Sequence != seq {
		return nil, "", throw("assertion failed! (RpcReturn sequence %d, expected %d)", rr.Sequence, seq)
	}
	return &rr, "", nil
}
