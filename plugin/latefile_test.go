package plugin

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/legacy-auth/legacy-auth/internal/identity"
	"github.com/legacy-auth/legacy-auth/test/testutil"
)

// TestLateFilesArePickedUp (issue 18, item 3): a jwt_key_file or
// tls_ca_file missing when the instance first compiles fails its requests
// with 500, logged once, and the first request after the file appears is
// served, without a new instance (Kong replaces one only when its
// configuration changes).
func TestLateFilesArePickedUp(t *testing.T) {
	ca := testutil.NewCA(t)
	tlsSrv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"user_id":"u-tls"}`)
	}))
	tlsSrv.TLS = ca.ServerTLS(t)
	tlsSrv.StartTLS()
	t.Cleanup(tlsSrv.Close)
	plain := newAuthService(t, map[string]answer{"Bearer late": {status: 200, body: `{"user_id":"u-jwt"}`}})

	dir := t.TempDir()
	for _, tc := range []struct {
		name   string
		cfg    *Config
		write  func()
		wantID string
	}{
		{
			name: "jwt_key_file",
			cfg:  &Config{AuthURL: plain.URL + "/verify", JWTHeader: "X-Identity-Token", JWTKeyFile: filepath.Join(dir, "identity.pem")},
			write: func() {
				_, priv, _ := ed25519.GenerateKey(rand.Reader)
				der, _ := x509.MarshalPKCS8PrivateKey(priv)
				testutil.WritePEM(t, dir, "identity.pem", "PRIVATE KEY", der)
			},
			wantID: "u-jwt",
		},
		{
			name:   "tls_ca_file",
			cfg:    &Config{AuthURL: tlsSrv.URL + "/verify", TLSCAFile: filepath.Join(dir, "ca.pem")},
			write:  func() { testutil.WritePEM(t, dir, "ca.pem", "CERTIFICATE", ca.DER) },
			wantID: "u-tls",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logs := captureLogs(t)
			for i := 0; i < 3; i++ {
				if e := run(t, tc.cfg, http.Header{"Authorization": {"Bearer late"}}); e.ClientRes.Status != 500 {
					t.Fatalf("request %d without the file: %d, want 500", i, e.ClientRes.Status)
				}
			}
			if n := strings.Count(logs.String(), "key or certificate files do not load"); n != 1 {
				t.Errorf("%d log lines for one missing file over 3 requests, want 1:\n%s", n, logs.String())
			}
			tc.write()
			e := run(t, tc.cfg, http.Header{"Authorization": {"Bearer late"}})
			if got := e.ServiceReq.Headers.Get("X-User-ID"); got != tc.wantID {
				t.Fatalf("first request after the file appeared: status %d, X-User-ID %q; want %q", e.ClientRes.Status, got, tc.wantID)
			}
			if !strings.Contains(logs.String(), "files loaded; plugin instance serving") {
				t.Errorf("no log line for the recovery:\n%s", logs.String())
			}
		})
	}
}

// A file that stays broken is read again only after the backoff, or when
// it changes on disk.
func TestFileRetryBackoff(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := &identity.Settings{}
	s.TLS.CAFile = filepath.Join(dir, "ca.pem")
	var f fileRetry
	now := testutil.NewClock()
	if !f.due(s, now.Now()) {
		t.Fatal("first load not due")
	}
	f.failed(os.ErrNotExist, fileSignature(s), now.Now())
	if f.due(s, now.Now()) {
		t.Fatal("retry due at once with nothing changed")
	}
	now.Advance(fileRetryMin)
	if !f.due(s, now.Now()) {
		t.Fatal("retry not due after the backoff")
	}
	for range 10 {
		f.failed(os.ErrNotExist, fileSignature(s), now.Now())
	}
	if f.backoff != fileRetryMax {
		t.Errorf("backoff %s after 11 failures, want the bound %s", f.backoff, fileRetryMax)
	}
	if err := os.WriteFile(s.TLS.CAFile, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if !f.due(s, now.Now()) {
		t.Error("retry not due after the file appeared")
	}
}

// captureLogs sends the plugin's log lines to a buffer for the rest of the
// test (not parallel: the logger is process-wide).
func captureLogs(t *testing.T) *testutil.SyncBuffer {
	t.Helper()
	var buf testutil.SyncBuffer
	old := Logger()
	SetLogger(slog.New(slog.NewTextHandler(&buf, nil)))
	t.Cleanup(func() { SetLogger(old) })
	return &buf
}
