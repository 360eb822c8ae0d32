package plugin

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/legacy-auth/legacy-auth/test/testutil"
)

// TestValidationIsPure: settings() reads no file and opens no Redis
// client; resolve() reads the files; only identity.Provision opens clients.
func TestValidationIsPure(t *testing.T) {
	prefix := fmt.Sprintf("pure-%d:", time.Now().UnixNano())
	cfg := &Config{AuthURL: "https://127.0.0.1:1/v", TLSCAFile: "/nonexistent/ca.pem",
		JWTHeader: "X-Token", JWTKeyFile: "/nonexistent/key.pem",
		RedisAddrs: []string{"127.0.0.1:1"}, RedisPrefix: prefix}
	if _, err := cfg.settings(); err != nil {
		t.Fatalf("settings read a file: %v", err)
	}
	if _, err := cfg.resolve(); err == nil || !strings.Contains(err.Error(), "tls_") || !strings.Contains(err.Error(), "jwt_key_file") {
		t.Fatalf("resolve: %v, want both missing files named", err)
	}
	// Only identity.Provision opens Redis clients, and compile provisions
	// nothing for a configuration whose files do not load.
	if _, err := cfg.compile(); err == nil || cfg.compiled.Load() != nil {
		t.Fatal("a configuration with bad files was provisioned")
	}
}

// TestTLSSettingsThatDoNothingAreRefused: TLS fields that would be ignored
// are configuration errors naming the field.
func TestTLSSettingsThatDoNothingAreRefused(t *testing.T) {
	t.Parallel()
	ca := testutil.NewCA(t)
	dir := t.TempDir()
	caFile := testutil.WritePEM(t, dir, "ca.pem", "CERTIFICATE", ca.DER)
	certDER, keyDER := ca.Issue(t, "client", false)
	certFile := testutil.WritePEM(t, dir, "client.pem", "CERTIFICATE", certDER)
	keyFile := testutil.WritePEM(t, dir, "client-key.pem", "PRIVATE KEY", keyDER)
	encKey := testutil.WritePEM(t, dir, "enc-key.pem", "ENCRYPTED PRIVATE KEY", []byte{0x30, 0x00})

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

// TestJWTNeedsCacheTTL: with caching off an identity has no freshness to
// lend a token, so the configuration is refused.
func TestJWTNeedsCacheTTL(t *testing.T) {
	t.Parallel()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(priv)
	keyFile := testutil.WritePEM(t, t.TempDir(), "k.pem", "PRIVATE KEY", der)
	_, err := (&Config{AuthURL: "http://127.0.0.1:1/v", CacheTTL: ptr(0.0), JWTHeader: "X-Identity-Token", JWTKeyFile: keyFile}).settings()
	if err == nil || !strings.Contains(err.Error(), "cache_ttl") {
		t.Errorf("cache_ttl 0 with jwt_header: %v, want a refusal naming cache_ttl", err)
	}
}
