package identity

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/legacy-auth/legacy-auth/test/testutil"
)

// TestTLSFilesRotation: a replaced client certificate and key are
// presented on the connections made after the next check, and a pair
// caught half-written keeps the previous one in use.
func TestTLSFilesRotation(t *testing.T) {
	t.Parallel()
	ca := testutil.NewCA(t)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"user_id":%q}`, r.TLS.PeerCertificates[0].Subject.CommonName)
	}))
	srv.TLS = ca.ServerTLS(t)
	srv.TLS.ClientAuth = tls.RequireAndVerifyClientCert
	srv.StartTLS()
	t.Cleanup(srv.Close)

	dir := t.TempDir()
	caFile := testutil.WritePEM(t, dir, "ca.pem", "CERTIFICATE", ca.DER)
	certDER, keyDER := ca.Issue(t, "client-1", false)
	certFile := testutil.WritePEM(t, dir, "client.pem", "CERTIFICATE", certDER)
	keyFile := testutil.WritePEM(t, dir, "client-key.pem", "PRIVATE KEY", keyDER)
	rt := mustCompile(t, &Config{AuthURL: srv.URL, TLSCAFile: caFile, TLSCertFile: certFile, TLSKeyFile: keyFile, CacheTTL: ptr(0.0)})
	files := rt.TLS.files
	files.next.Store(1 << 62) // the test decides when the files are looked at again

	who := func() string {
		t.Helper()
		id, err := rt.verifier.Verify(context.Background(), credential{authorization: "Bearer x"})
		if err != nil {
			t.Fatalf("verify: %v", err)
		}
		return id.UserID
	}
	if got := who(); got != "client-1" {
		t.Fatalf("presented %q, want client-1", got)
	}

	// Half-written: the new certificate is in place, its key is not yet.
	certDER2, keyDER2 := ca.Issue(t, "client-2", false)
	testutil.WritePEM(t, dir, "client.pem", "CERTIFICATE", certDER2)
	if changed, err := files.check(); changed || err == nil {
		t.Errorf("a certificate that does not match its key was taken: changed=%v err=%v", changed, err)
	}
	if got := who(); got != "client-1" {
		t.Errorf("presented %q during a half-written rotation, want client-1 kept", got)
	}

	testutil.WritePEM(t, dir, "client-key.pem", "PRIVATE KEY", keyDER2)
	if changed, err := files.check(); !changed || err != nil {
		t.Fatalf("rotation not taken: changed=%v err=%v", changed, err)
	}
	if got := who(); got != "client-2" {
		t.Errorf("presented %q after rotation, want client-2", got)
	}
}

// freezableProxy forwards loopback TCP connections to target. freeze
// blackholes the connections open at that moment: they swallow every byte
// in both directions and stay open, like a peer behind a firewall that
// started dropping the flow. Later connections are forwarded.
type freezableProxy struct {
	ln     net.Listener
	target string

	mu       sync.Mutex
	frozenTo int // connections numbered up to this one are blackholed
	conns    int
	closed   chan int // the number of each client connection as the client closes it
}

func newFreezableProxy(t *testing.T, target string) *freezableProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &freezableProxy{ln: ln, target: target, closed: make(chan int, 16)}
	t.Cleanup(func() { ln.Close() })
	go p.serve(t)
	return p
}

func (p *freezableProxy) serve(t *testing.T) {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.DialTimeout("tcp", p.target, 5*time.Second)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns++
		n := p.conns
		p.mu.Unlock()
		t.Cleanup(func() { c.Close(); up.Close() })
		go p.pipe(c, up, n, false) // server → client
		go p.pipe(up, c, n, true)  // client → server; reports the client's close
	}
}

// pipe copies src to dst until connection n is frozen, then discards.
func (p *freezableProxy) pipe(dst, src net.Conn, n int, report bool) {
	buf := make([]byte, 32<<10)
	for {
		k, err := src.Read(buf)
		if k > 0 {
			p.mu.Lock()
			frozen := n <= p.frozenTo
			p.mu.Unlock()
			if !frozen {
				dst.Write(buf[:k])
			}
		}
		if err != nil {
			if report {
				p.closed <- n
			}
			return
		}
	}
}

// freeze blackholes every connection open now.
func (p *freezableProxy) freeze() {
	p.mu.Lock()
	p.frozenTo = p.conns
	p.mu.Unlock()
}

// TestHTTP2BlackholedConnection: an HTTP/2 connection to the auth service
// that silently stops answering is found dead by the ping health check
// and closed, so later verify calls dial a new connection instead of each
// waiting out its timeout on the dead one.
func TestHTTP2BlackholedConnection(t *testing.T) {
	t.Parallel()
	ca := testutil.NewCA(t)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"user_id":%q}`, r.Proto)
	}))
	srv.EnableHTTP2 = true
	srv.TLS = ca.ServerTLS(t)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	proxy := newFreezableProxy(t, srv.Listener.Addr().String())

	caFile := testutil.WritePEM(t, t.TempDir(), "ca.pem", "CERTIFICATE", ca.DER)
	_, port, _ := net.SplitHostPort(proxy.ln.Addr().String())
	rt := mustCompile(t, &Config{AuthURL: "https://127.0.0.1:" + port + "/verify", TLSCAFile: caFile, CacheTTL: ptr(0.0),
		Retries: ptr(0), BreakerThreshold: ptr(0), Timeout: ptr(2000.0)})
	tr := railsOf(rt).client.HTTPClient.Transport.(*reloadingTransport).transport()
	if tr.HTTP2 == nil || tr.HTTP2.SendPingTimeout <= 0 || tr.HTTP2.PingTimeout <= 0 {
		t.Fatalf("auth-service transport without HTTP/2 ping health checks: %+v", tr.HTTP2)
	}
	// The production intervals (tens of seconds) scaled down for the test.
	tr.HTTP2.SendPingTimeout = 100 * time.Millisecond
	tr.HTTP2.PingTimeout = 200 * time.Millisecond

	call := func() (string, error) {
		id, err := rt.verifier.Verify(context.Background(), credential{authorization: "Bearer x"})
		if err != nil {
			return "", err
		}
		return id.UserID, nil
	}
	if proto, err := call(); err != nil || proto != "HTTP/2.0" {
		t.Fatalf("first call: %q %v, want HTTP/2.0", proto, err)
	}

	proxy.freeze()
	select {
	case n := <-proxy.closed:
		if n != 1 {
			t.Fatalf("connection %d closed, want the blackholed first one", n)
		}
	case <-time.After(20 * time.Second): // a failure bound, not a measurement
		t.Fatal("the blackholed connection was never closed: no HTTP/2 health check")
	}
	if proto, err := call(); err != nil || proto != "HTTP/2.0" {
		t.Errorf("call after the dead connection was dropped: %q %v", proto, err)
	}
}

// railsOf is the engine's Rails verifier, behind its breaker or not.
func railsOf(rt *Engine) *authClient {
	if b, ok := rt.verifier.(*breakerVerifier); ok {
		return b.next.(*authClient)
	}
	return rt.verifier.(*authClient)
}
