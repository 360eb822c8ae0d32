package e2e

import (
	"crypto/x509"
	"encoding/pem"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/legacy-auth/legacy-auth/internal/fakerails"
)

// sessionAuth is a verify service that also knows session cookies, which
// fakerails (keyed by the Authorization header only) does not: a request
// without Authorization is looked up in the fakerails table as
// "Cookie <its Cookie header>", so tests script sessions with
// Set("Cookie _app_session=...", ...). fakerails still records the Cookie
// header exactly as the plugin sent it; withAuthorization counts the
// requests that carried an Authorization header of their own.
type sessionAuth struct {
	*fakerails.Handler
	srv               *httptest.Server
	url               string
	withAuthorization atomic.Int32
}

func newSessionAuth(t *testing.T) *sessionAuth {
	t.Helper()
	s := &sessionAuth{Handler: fakerails.NewHandler()}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			s.withAuthorization.Add(1)
		} else if c := r.Header.Get("Cookie"); c != "" {
			r.Header.Set("Authorization", "Cookie "+c)
		}
		s.Handler.ServeHTTP(w, r)
	}))
	t.Cleanup(s.srv.Close)
	s.url = s.srv.URL + fakerails.VerifyPath + "?case=" + caseTag(t)
	return s
}

// tlsAuth is a fakerails Handler served over https by httptest (a
// certificate for 127.0.0.1 signed by its own CA), with that CA written to
// a PEM file for tls_ca_file.
type tlsAuth struct {
	*fakerails.Handler
	srv    *httptest.Server
	caFile string
}

func newTLSAuth(t *testing.T) *tlsAuth {
	t.Helper()
	a := &tlsAuth{Handler: fakerails.NewHandler()}
	a.srv = httptest.NewUnstartedServer(a.Handler)
	// The untrusted-certificate case makes the client abort handshakes:
	// expected, so not logged.
	a.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	a.srv.StartTLS()
	t.Cleanup(a.srv.Close)
	a.caFile = writePEM(t, "ca.pem", "CERTIFICATE", a.srv.Certificate().Raw)
	return a
}

// url is the https auth_url, with a tag naming the case.
func (a *tlsAuth) url(t *testing.T, label string) string {
	return a.srv.URL + fakerails.VerifyPath + "?case=" + caseTag(t) + "-" + label
}

// writePEM writes one PEM block to a new file in t's temp dir.
func writePEM(t *testing.T, name, typ string, der []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// writePKCS8 writes a private key as a PKCS#8 PEM file ("PRIVATE KEY").
func writePKCS8(t *testing.T, key any) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return writePEM(t, "jwt-key.pem", "PRIVATE KEY", der)
}
