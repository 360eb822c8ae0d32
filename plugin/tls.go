package plugin

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"sync"
)

// tlsSettings is the TLS side of the auth service connection.
type tlsSettings struct {
	verify   bool
	caFile   string
	certFile string
	keyFile  string
	config   *tls.Config // nil: the shared default transport is used
	// fingerprint identifies the TLS material by content, so a rotated
	// certificate gets a new transport on the next instance start.
	fingerprint string
}

// tlsSettings validates tls_* into s. Files are read once, when the
// instance compiles: a missing or bad file is a configuration error naming
// the field, not a failure of every request.
func (c *Config) tlsSettings(s *settings, problems []string) []string {
	t := tlsSettings{verify: c.TLSVerify == nil || *c.TLSVerify, caFile: c.TLSCAFile, certFile: c.TLSCertFile, keyFile: c.TLSKeyFile}
	if t.verify && t.caFile == "" && t.certFile == "" && t.keyFile == "" {
		s.tls = t
		return problems
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: !t.verify} //nolint:gosec // opt-in, documented
	fp := sha256.New()
	fmt.Fprintf(fp, "verify=%t\x00", t.verify)
	for _, f := range []string{t.caFile, t.certFile, t.keyFile} {
		if b, err := os.ReadFile(f); err == nil {
			fp.Write(b)
		}
		fp.Write([]byte{0})
	}
	t.fingerprint = string(fp.Sum(nil))
	if t.caFile != "" {
		pem, err := os.ReadFile(t.caFile)
		pool := x509.NewCertPool()
		switch {
		case err != nil:
			problems = append(problems, fmt.Sprintf("tls_ca_file: %v", err))
		case !pool.AppendCertsFromPEM(pem):
			problems = append(problems, "tls_ca_file: no PEM certificate found")
		default:
			cfg.RootCAs = pool
		}
	}
	switch {
	case (t.certFile == "") != (t.keyFile == ""):
		problems = append(problems, "tls_cert_file: tls_cert_file and tls_key_file go together")
	case t.certFile != "":
		pair, err := tls.LoadX509KeyPair(t.certFile, t.keyFile)
		if err != nil {
			problems = append(problems, fmt.Sprintf("tls_cert_file: loading client certificate: %v", err))
		} else {
			cfg.Certificates = []tls.Certificate{pair}
		}
	}
	if !t.verify && s.authURL != nil {
		logger.Warn("tls_verify is off: the auth service's certificate is not checked", "auth_url", redactURL(s.authURL))
	}
	t.config = cfg
	s.tls = t
	return problems
}

// transports holds one transport per distinct TLS configuration, for the
// life of the process (like the default one, so keep-alive pools survive
// instance restarts).
var transports sync.Map // string → *http.Transport

// httpClientFor returns the client for t: the shared default one unless
// the configuration asks for its own TLS.
func httpClientFor(t tlsSettings) *http.Client {
	if t.config == nil {
		return httpClient
	}
	tr, ok := transports.Load(t.fingerprint)
	if !ok {
		clone := transport.Clone()
		clone.TLSClientConfig = t.config
		tr, _ = transports.LoadOrStore(t.fingerprint, clone)
	}
	return &http.Client{Transport: tr.(*http.Transport), CheckRedirect: httpClient.CheckRedirect}
}
