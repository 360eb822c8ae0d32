package identity

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// TLSSettings is the TLS side of the auth service connection.
type TLSSettings struct {
	Verify   bool
	CAFile   string
	CertFile string
	KeyFile  string
	// files follows the CA, certificate and key files; nil when the shared
	// default transport is used (verification on, no files).
	files *reloader[*tls.Config]
	// fingerprint identifies the TLS configuration (verification and file
	// paths; the files' content is followed by files): one transport per
	// fingerprint for the life of the process.
	Fingerprint string
}

// tlsFiles holds one reloader per TLS configuration (fingerprint).
var tlsFiles sync.Map // fingerprint → *reloader[*tls.Config]

// loadTLSMaterial reads the CA bundle and the client certificate and key
// now, and returns the process-wide reloader that follows them. Its errors
// name the field.
func loadTLSMaterial(t TLSSettings) (*reloader[*tls.Config], error) {
	v, ok := tlsFiles.Load(t.Fingerprint)
	if !ok {
		var files []keyFile
		for _, f := range []keyFile{{"tls_ca_file", t.CAFile}, {"tls_cert_file", t.CertFile}, {"tls_key_file", t.KeyFile}} {
			if f.path != "" {
				files = append(files, f)
			}
		}
		v, _ = tlsFiles.LoadOrStore(t.Fingerprint, newReloader(files, func(b [][]byte) (*tls.Config, error) {
			return parseTLSMaterial(t, b)
		}))
	}
	r := v.(*reloader[*tls.Config])
	if _, err := r.load(); err != nil {
		return nil, withField("tls_cert_file", err)
	}
	return r, nil
}

// parseTLSMaterial builds the client TLS configuration from the contents
// of the files named in t, in the order ca, cert, key (absent ones skipped).
func parseTLSMaterial(t TLSSettings, contents [][]byte) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: !t.Verify} //nolint:gosec // opt-in, documented
	next := func() []byte { b := contents[0]; contents = contents[1:]; return b }
	if t.CAFile != "" {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(next()) {
			return nil, &fieldError{"tls_ca_file", errors.New("no PEM certificate found")}
		}
		cfg.RootCAs = pool
	}
	if t.CertFile != "" && t.KeyFile != "" {
		certPEM, keyPEM := next(), next()
		if _, err := privateKeyBlock(keyPEM); err != nil {
			return nil, &fieldError{"tls_key_file", err}
		}
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return nil, &fieldError{"tls_cert_file", fmt.Errorf("loading client certificate: %w", err)}
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

// transports holds one transport per distinct TLS configuration, for the
// life of the process (like the default one, so keep-alive pools survive
// instance restarts).
var transports sync.Map // fingerprint → *reloadingTransport

// httpClientFor returns the client for t: the shared default one unless
// the configuration asks for its own TLS.
func httpClientFor(t TLSSettings) *http.Client {
	if t.files == nil {
		return httpClient
	}
	tr, ok := transports.Load(t.Fingerprint)
	if !ok {
		tr, _ = transports.LoadOrStore(t.Fingerprint, &reloadingTransport{files: t.files})
	}
	return &http.Client{Transport: tr.(*reloadingTransport), CheckRedirect: httpClient.CheckRedirect}
}

// closeTLS forgets the TLS files and transport of fingerprint and closes
// the transport's idle connections (its last engine let go). A request
// still in flight on it finishes; its connection then idles out.
func closeTLS(fingerprint string) {
	tlsFiles.Delete(fingerprint)
	if tr, ok := transports.LoadAndDelete(fingerprint); ok {
		tr.(*reloadingTransport).CloseIdleConnections()
	}
}

// reloadingTransport sends each request through a transport built from the
// TLS files' current content. When they change, new requests go through a
// new transport (new connections, with the new certificate or CA) and the
// old one's idle connections are closed; requests in flight finish on it.
type reloadingTransport struct {
	files *reloader[*tls.Config]
	cur   atomic.Pointer[tlsTransport]
	mu    sync.Mutex
}

// tlsTransport is a transport and the TLS configuration it was built with.
type tlsTransport struct {
	config    *tls.Config
	transport *http.Transport
}

// RoundTrip implements http.RoundTripper.
func (r *reloadingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	r.files.poll(time.Now())
	return r.transport().RoundTrip(req)
}

// transport is the transport for the current TLS configuration.
func (r *reloadingTransport) transport() *http.Transport {
	cfg := r.files.current()
	if t := r.cur.Load(); t != nil && t.config == cfg {
		return t.transport
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.cur.Load()
	if old != nil && old.config == cfg {
		return old.transport
	}
	tr := newTransport()
	tr.TLSClientConfig = cfg
	r.cur.Store(&tlsTransport{config: cfg, transport: tr})
	if old != nil {
		old.transport.CloseIdleConnections()
	}
	return tr
}

// CloseIdleConnections lets http.Client.CloseIdleConnections reach the
// transport in use.
func (r *reloadingTransport) CloseIdleConnections() {
	if t := r.cur.Load(); t != nil {
		t.transport.CloseIdleConnections()
	}
}
