package plugin

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// testCA issues certificates for the TLS tests.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	der  []byte
}

func newTestCA(t *testing.T) testCA {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return testCA{cert: cert, key: key, der: der}
}

// issue returns a certificate for cn (a server certificate for 127.0.0.1
// when server) and its key, as DER.
func (ca testCA) issue(t *testing.T, cn string, server bool) (certDER, keyDER []byte) {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature}
	if server {
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	} else {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &k.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ = x509.MarshalPKCS8PrivateKey(k)
	return der, keyDER
}

func (ca testCA) serverTLS(t *testing.T) *tls.Config {
	t.Helper()
	der, keyDER := ca.issue(t, "auth", true)
	key, _ := x509.ParsePKCS8PrivateKey(keyDER)
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, ClientCAs: pool}
}

// TestTLSSettingsThatDoNothingAreRefused: TLS fields that would be ignored
// are configuration errors naming the field.
func TestTLSSettingsThatDoNothingAreRefused(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t)
	dir := t.TempDir()
	caFile := writePEM(t, dir, "ca.pem", "CERTIFICATE", ca.der)
	certDER, keyDER := ca.issue(t, "client", false)
	certFile := writePEM(t, dir, "client.pem", "CERTIFICATE", certDER)
	keyFile := writePEM(t, dir, "client-key.pem", "PRIVATE KEY", keyDER)
	encKey := writePEM(t, dir, "enc-key.pem", "ENCRYPTED PRIVATE KEY", []byte{0x30, 0x00})

	tests := []struct {
		name   string
		cfg    *Config
		fields []string // each must be named
		msg    string
	}{
		{"tls_verify false with tls_ca_file", &Config{AuthURL: "https://127.0.0.1/v", TLSVerify: ptr(false), TLSCAFile: caFile}, []string{"tls_verify"}, "tls_ca_file"},
		{"tls_ca_file on http", &Config{AuthURL: "http://127.0.0.1/v", TLSCAFile: caFile}, []string{"tls_ca_file"}, "http://"},
		{"client certificate on http", &Config{AuthURL: "http://127.0.0.1/v", TLSCertFile: certFile, TLSKeyFile: keyFile}, []string{"tls_cert_file", "tls_key_file"}, "http://"},
		{"tls_verify false on http", &Config{AuthURL: "http://127.0.0.1/v", TLSVerify: ptr(false)}, []string{"tls_verify"}, "http://"},
		{"encrypted client key", &Config{AuthURL: "https://127.0.0.1/v", TLSCertFile: certFile, TLSKeyFile: encKey}, []string{"tls_key_file"}, "encrypted"},
		{"missing CA file", &Config{AuthURL: "https://127.0.0.1/v", TLSCAFile: filepath.Join(dir, "nope.pem")}, []string{"tls_ca_file"}, "no such file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.cfg.resolve()
			if err == nil {
				t.Fatal("accepted")
			}
			for _, f := range tc.fields {
				if !strings.Contains(err.Error(), f+": ") {
					t.Errorf("error does not name %s: %v", f, err)
				}
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %v, want it to mention %q", err, tc.msg)
			}
		})
	}
	for name, cfg := range map[string]*Config{
		"plain http":             {AuthURL: "http://127.0.0.1/v"},
		"https with a CA":        {AuthURL: "https://127.0.0.1/v", TLSCAFile: caFile},
		"https without checking": {AuthURL: "https://127.0.0.1/v", TLSVerify: ptr(false)},
	} {
		if _, err := cfg.resolve(); err != nil {
			t.Errorf("%s refused: %v", name, err)
		}
	}
}

// TestTLSFilesRotation: a replaced client certificate and key are
// presented on the connections made after the next check, and a pair
// caught half-written keeps the previous one in use.
func TestTLSFilesRotation(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"user_id":%q}`, r.TLS.PeerCertificates[0].Subject.CommonName)
	}))
	srv.TLS = ca.serverTLS(t)
	srv.TLS.ClientAuth = tls.RequireAndVerifyClientCert
	srv.StartTLS()
	t.Cleanup(srv.Close)

	dir := t.TempDir()
	caFile := writePEM(t, dir, "ca.pem", "CERTIFICATE", ca.der)
	certDER, keyDER := ca.issue(t, "client-1", false)
	certFile := writePEM(t, dir, "client.pem", "CERTIFICATE", certDER)
	keyFile := writePEM(t, dir, "client-key.pem", "PRIVATE KEY", keyDER)
	rt := mustCompile(t, &Config{AuthURL: srv.URL, TLSCAFile: caFile, TLSCertFile: certFile, TLSKeyFile: keyFile, CacheTTL: ptr(0.0)})
	files := rt.tls.files
	files.next.Store(1 << 62) // the test decides when the files are looked at again

	who := func() string {
		t.Helper()
		id, err := rt.auth.verify(context.Background(), credential{authorization: "Bearer x"})
		if err != nil {
			t.Fatalf("verify: %v", err)
		}
		return id.UserID
	}
	if got := who(); got != "client-1" {
		t.Fatalf("presented %q, want client-1", got)
	}

	// Half-written: the new certificate is in place, its key is not yet.
	certDER2, keyDER2 := ca.issue(t, "client-2", false)
	writePEM(t, dir, "client.pem", "CERTIFICATE", certDER2)
	if changed, err := files.check(); changed || err == nil {
		t.Errorf("a certificate that does not match its key was taken: changed=%v err=%v", changed, err)
	}
	if got := who(); got != "client-1" {
		t.Errorf("presented %q during a half-written rotation, want client-1 kept", got)
	}

	writePEM(t, dir, "client-key.pem", "PRIVATE KEY", keyDER2)
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
	ca := newTestCA(t)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"user_id":%q}`, r.Proto)
	}))
	srv.EnableHTTP2 = true
	srv.TLS = ca.serverTLS(t)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	proxy := newFreezableProxy(t, srv.Listener.Addr().String())

	caFile := writePEM(t, t.TempDir(), "ca.pem", "CERTIFICATE", ca.der)
	_, port, _ := net.SplitHostPort(proxy.ln.Addr().String())
	rt := mustCompile(t, &Config{AuthURL: "https://127.0.0.1:" + port + "/verify", TLSCAFile: caFile, CacheTTL: ptr(0.0),
		Retries: ptr(0), BreakerThreshold: ptr(0), Timeout: ptr(2000.0)})
	tr := rt.auth.client.HTTPClient.Transport.(*reloadingTransport).transport()
	if tr.HTTP2 == nil || tr.HTTP2.SendPingTimeout <= 0 || tr.HTTP2.PingTimeout <= 0 {
		t.Fatalf("auth-service transport without HTTP/2 ping health checks: %+v", tr.HTTP2)
	}
	// The production intervals (tens of seconds) scaled down for the test.
	tr.HTTP2.SendPingTimeout = 100 * time.Millisecond
	tr.HTTP2.PingTimeout = 200 * time.Millisecond

	call := func() (string, error) {
		id, err := rt.auth.verify(context.Background(), credential{authorization: "Bearer x"})
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
