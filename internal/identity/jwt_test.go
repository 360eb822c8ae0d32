package identity

import (
	"context"
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/legacy-auth/legacy-auth/test/testutil"
)

// jwtFixture is a compiled configuration with an Ed25519 signing key.
type jwtFixture struct {
	rt      *Engine
	pubs    map[string]ed25519.PublicKey // by kid
	keyFile string
}

func newJWTFixture(t *testing.T, cfg *Config) jwtFixture {
	t.Helper()
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(priv)
	keyFile := testutil.WritePEM(t, t.TempDir(), "identity.pem", "PRIVATE KEY", der)
	cfg.AuthURL = "http://127.0.0.1:1/verify"
	cfg.JWTHeader = "X-Identity-Token"
	cfg.JWTKeyFile = keyFile
	f := jwtFixture{rt: mustCompile(t, cfg), pubs: map[string]ed25519.PublicKey{}, keyFile: keyFile}
	f.trust(pub)
	// The test decides when the key file is looked at again (poll).
	f.rt.headers.jwt.key.next.Store(math.MaxInt64)
	return f
}

func (f jwtFixture) trust(pub ed25519.PublicKey) string {
	kid, _ := keyID(pub)
	f.pubs[kid] = pub
	return kid
}

// token plans the headers for id at now and returns the token's claims and kid.
func (f jwtFixture) token(t *testing.T, id *Identity, now time.Time) (string, identityClaims, string) {
	t.Helper()
	h, err := f.rt.headers.plan(id, nil, now)
	if err != nil {
		t.Fatal(err)
	}
	raw := h["X-Identity-Token"][0]
	var c identityClaims
	tok, err := jwt.ParseWithClaims(raw, &c, func(tok *jwt.Token) (any, error) {
		kid, _ := tok.Header["kid"].(string)
		return f.pubs[kid], nil
	}, jwt.WithValidMethods([]string{"EdDSA"}), jwt.WithoutClaimsValidation())
	if err != nil {
		t.Fatalf("token does not verify: %v", err)
	}
	kid, _ := tok.Header["kid"].(string)
	return raw, c, kid
}

// TestTokenNeverOutlivesIdentity: exp is never later than the moment the
// identity stops being fresh (fetched + cache_ttl); a token for a stale
// identity is short and its auth_time shows the identity's age.
func TestTokenNeverOutlivesIdentity(t *testing.T) {
	t.Parallel()
	fetched := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name    string
		cfg     *Config
		age     time.Duration // identity age when the token is minted
		wantExp time.Time
	}{
		{"defaults, new identity: jwt_ttl", &Config{}, 0, fetched.Add(300 * time.Second)},
		{"defaults, identity 299 s old: cut at cache_ttl", &Config{}, 299 * time.Second, fetched.Add(300 * time.Second)},
		{"jwt_ttl 86400 beyond cache_ttl 60: capped", &Config{CacheTTL: ptr(60.0), JWTTTL: ptr(86400.0)}, 59 * time.Second, fetched.Add(60 * time.Second)},
		{"jwt_ttl shorter than what is left: jwt_ttl", &Config{CacheTTL: ptr(3600.0), JWTTTL: ptr(60.0)}, 100 * time.Second, fetched.Add(160 * time.Second)},
		{"stale identity 50 min old: 10 s", &Config{}, 50 * time.Minute, fetched.Add(50*time.Minute + staleJWTTTL)},
		{"stale identity, jwt_ttl below 10 s cap", &Config{CacheTTL: ptr(5.0), JWTTTL: ptr(10.0)}, time.Minute, fetched.Add(time.Minute + 5*time.Second)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newJWTFixture(t, tc.cfg)
			id := newIdentity("42", []string{"admin"}, nil, fetched)
			now := fetched.Add(tc.age)
			_, c, _ := f.token(t, id, now)
			if !c.ExpiresAt.Time.Equal(tc.wantExp) {
				t.Errorf("exp = %v, want %v (minted at %v)", c.ExpiresAt.Time, tc.wantExp, now)
			}
			if c.AuthTime == nil || !c.AuthTime.Time.Equal(fetched) {
				t.Errorf("auth_time = %v, want the fetch time %v", c.AuthTime, fetched)
			}
			if !c.IssuedAt.Time.Equal(now) {
				t.Errorf("iat = %v, want %v", c.IssuedAt.Time, now)
			}
		})
	}
}

// TestTokenMemoAcrossFreshness: a token cut at the end of freshness is
// reused until then (a new one could not live longer, so no signature per
// request near the end), and an identity served stale gets short tokens,
// renewed as they near expiry.
func TestTokenMemoAcrossFreshness(t *testing.T) {
	t.Parallel()
	f := newJWTFixture(t, &Config{})
	fetched := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	id := newIdentity("42", nil, nil, fetched)

	first, _, _ := f.token(t, id, fetched.Add(100*time.Second)) // exp = fetched+300 (cut)
	for _, age := range []time.Duration{150 * time.Second, 299 * time.Second} {
		if again, _, _ := f.token(t, id, fetched.Add(age)); again != first {
			t.Errorf("at %v a new token was signed; the cut one is still the longest possible", age)
		}
	}
	stale, c, _ := f.token(t, id, fetched.Add(300*time.Second))
	if stale == first || !c.ExpiresAt.Time.Equal(fetched.Add(310*time.Second)) {
		t.Fatalf("stale identity: exp %v, want a new 10 s token", c.ExpiresAt.Time)
	}
	if again, _, _ := f.token(t, id, fetched.Add(307*time.Second)); again != stale {
		t.Errorf("stale token re-signed before a fifth of its life was left")
	}
	if again, _, _ := f.token(t, id, fetched.Add(308*time.Second)); again == stale {
		t.Errorf("stale token not renewed with 2 s left")
	}
}

// countingSigner counts signatures.
type countingSigner struct {
	crypto.Signer
	n *atomic.Int64
}

func (s countingSigner) Sign(r io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	s.n.Add(1)
	return s.Signer.Sign(r, digest, opts)
}

// TestTokenMemoIgnoresSpoofedSpellings: a client sending variant spellings
// of the managed headers gets them cleared, and costs no signature.
func TestTokenMemoIgnoresSpoofedSpellings(t *testing.T) {
	t.Parallel()
	f := newJWTFixture(t, &Config{})
	var signs atomic.Int64
	r := f.rt.headers.jwt.key
	k := *r.current()
	k.signer = countingSigner{k.signer, &signs}
	r.cur.Store(&loaded[*signingKey]{value: &k, sum: r.cur.Load().sum})

	now := time.Now()
	id := newIdentity("42", nil, nil, now)
	spoofed := [][]string{nil, {"x_user_id"}, {"x_identity_token", "X_User_Roles"}, {"x_user_id"}}
	var tok string
	for _, sp := range spoofed {
		h, err := f.rt.headers.plan(id, sp, now)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range sp {
			if v, ok := h[name]; !ok || len(v) != 0 {
				t.Errorf("spoofed %s not cleared: %v", name, h)
			}
		}
		if tok == "" {
			tok = h["X-Identity-Token"][0]
		} else if h["X-Identity-Token"][0] != tok {
			t.Errorf("spoofed %v: another token", sp)
		}
	}
	if n := signs.Load(); n != 1 {
		t.Errorf("%d signatures for one identity, want 1", n)
	}
	// The memo holds the three managed headers and the clears of their
	// other spellings, never a client's spelling.
	if base, _ := f.rt.headers.plan(id, nil, now); len(base) != 3+len(f.rt.headers.clears) {
		t.Errorf("the memoized map was changed by a spoofed request: %v", base)
	}
}

// TestTokenMemoPerPlan: two routes (two instances) sharing a cached
// identity each keep their token instead of re-signing in turns.
func TestTokenMemoPerPlan(t *testing.T) {
	t.Parallel()
	f := newJWTFixture(t, &Config{})
	other := mustCompile(t, &Config{AuthURL: "http://127.0.0.1:1/verify", JWTHeader: "X-Identity-Token", JWTKeyFile: f.keyFile, JWTAudience: "b"})
	now := time.Now()
	id := newIdentity("42", nil, nil, now)
	a1, _ := f.rt.headers.plan(id, nil, now)
	b1, _ := other.headers.plan(id, nil, now.Add(time.Second))
	a2, _ := f.rt.headers.plan(id, nil, now.Add(2*time.Second))
	b2, _ := other.headers.plan(id, nil, now.Add(3*time.Second))
	if a1["X-Identity-Token"][0] != a2["X-Identity-Token"][0] || b1["X-Identity-Token"][0] != b2["X-Identity-Token"][0] {
		t.Errorf("alternating plans re-signed the identity's token")
	}
}

// TestSigningKeyFiles: PEM files as openssl and certificate tooling write
// them are read up to the first private key; unusable ones get an error
// that says why.
func TestSigningKeyFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	enc := func(typ string, der []byte, headers map[string]string) []byte {
		return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der, Headers: headers})
	}
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalECPrivateKey(ec)
	ecParams := []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07} // OID prime256v1
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p384DER, _ := x509.MarshalECPrivateKey(p384)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	edDER, _ := x509.MarshalPKCS8PrivateKey(ed)
	edPubDER, _ := x509.MarshalPKIXPublicKey(ed.Public())
	x, _ := ecdh.X25519().GenerateKey(rand.Reader)
	xDER, _ := x509.MarshalPKCS8PrivateKey(x)
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	certDER, _ := testutil.NewCA(t).Issue(t, "leaf", false)
	cert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certDER})

	tests := []struct {
		name    string
		content []byte
		wantAlg string // "" → an error containing wantErr
		wantErr string
	}{
		{"openssl ecparam -genkey (EC PARAMETERS first)", append(enc("EC PARAMETERS", ecParams, nil), enc("EC PRIVATE KEY", ecDER, nil)...), "ES256", ""},
		{"certificate + key bundle", append(cert, enc("PRIVATE KEY", edDER, nil)...), "EdDSA", ""},
		{"PKCS#8 encrypted", enc("ENCRYPTED PRIVATE KEY", []byte{0x30, 0x00}, nil), "", "encrypted"},
		{"legacy encrypted PEM", enc("RSA PRIVATE KEY", []byte{0x30, 0x00}, map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-128-CBC,00"}), "", "encrypted"},
		{"public key", enc("PUBLIC KEY", edPubDER, nil), "", "public key"},
		{"certificate only", cert, "", "give the private key"},
		{"not PEM", []byte("hello"), "", "no PEM block"},
		{"P-384", enc("EC PRIVATE KEY", p384DER, nil), "", "P-384"},
		{"X25519", enc("PRIVATE KEY", xDER, nil), "", "cannot sign"},
		{"RSA 1024", enc("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(small), nil), "", "1024 bits"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, string(rune('a'+i))+".pem")
			if err := os.WriteFile(p, tc.content, 0o600); err != nil {
				t.Fatal(err)
			}
			r, err := loadSigningKey(p)
			if tc.wantAlg != "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if alg := r.current().method.Alg(); alg != tc.wantAlg {
					t.Errorf("alg %s, want %s", alg, tc.wantAlg)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.HasPrefix(err.Error(), "jwt_key_file: ") {
				t.Errorf("error %v, want one naming jwt_key_file and containing %q", err, tc.wantErr)
			}
		})
	}
}

// captureLogs sends the plugin's log lines to a buffer for the rest of the
// test (not parallel: the logger is process-wide).
func captureLogs(t *testing.T) *testutil.SyncBuffer {
	t.Helper()
	var buf testutil.SyncBuffer
	old := logger
	SetLogger(slog.New(slog.NewTextHandler(&buf, nil)))
	t.Cleanup(func() { SetLogger(old) })
	return &buf
}

// TestWritableKeyFileWarnsOnce: a signing key others may write is used,
// with one warning per file however often it is read.
func TestWritableKeyFileWarnsOnce(t *testing.T) {
	logs := captureLogs(t)
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(priv)
	p := testutil.WritePEM(t, t.TempDir(), "k.pem", "PRIVATE KEY", der)
	if err := os.Chmod(p, 0o666); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		r, err := loadSigningKey(p)
		if err != nil {
			t.Fatal(err)
		}
		r.check()
	}
	if n := strings.Count(logs.String(), "writable by group or others"); n != 1 {
		t.Errorf("%d warnings, want 1:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "field=jwt_key_file") {
		t.Errorf("warning does not name the field:\n%s", logs.String())
	}
}

// TestSigningKeyRotation: a replaced jwt_key_file is signing within
// reloadInterval, at the first request after it; a half-written file
// leaves the previous key in use.
func TestSigningKeyRotation(t *testing.T) {
	t.Parallel()
	f := newJWTFixture(t, &Config{})
	r := f.rt.headers.jwt.key
	t0 := time.Now()
	id := newIdentity("42", nil, nil, t0)
	r.next.Store(0)
	if done := r.poll(t0); done != nil { // the first look, as the first request makes it
		<-done
	}
	_, _, kidA := f.token(t, id, t0)

	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(priv)
	kidB := f.trust(pub)
	tmp := testutil.WritePEM(t, t.TempDir(), "new.pem", "PRIVATE KEY", der)
	if err := os.Rename(tmp, f.keyFile); err != nil { // how rotation tools replace a file
		t.Fatal(err)
	}

	if done := r.poll(t0.Add(reloadInterval - time.Millisecond)); done != nil {
		t.Fatalf("the file was looked at again before reloadInterval")
	}
	if _, _, kid := f.token(t, id, t0.Add(reloadInterval-time.Millisecond)); kid != kidA {
		t.Fatalf("kid changed without a check")
	}
	done := r.poll(t0.Add(reloadInterval))
	if done == nil {
		t.Fatalf("no check reloadInterval after the last one")
	}
	<-done
	if _, _, kid := f.token(t, id, t0.Add(reloadInterval)); kid != kidB || kid == kidA {
		t.Errorf("kid %s after rotation, want the new key's %s", kid, kidB)
	}

	// A broken file keeps the current key.
	if err := os.WriteFile(f.keyFile, []byte("-----BEGIN PRIVATE KEY-----\ntruncated"), 0o600); err != nil {
		t.Fatal(err)
	}
	if changed, err := r.check(); changed || err == nil {
		t.Errorf("a broken key file was taken: changed=%v err=%v", changed, err)
	}
	if _, _, kid := f.token(t, id, t0.Add(2*reloadInterval)); kid != kidB {
		t.Errorf("kid %s after a broken rotation, want %s kept", kid, kidB)
	}
}

// TestTokenRefreshedBeforeExpiry: shortly before its expiry, a new token
// replaces the memoized one.
func TestTokenRefreshedBeforeExpiry(t *testing.T) {
	t.Parallel()
	svc := newAuthService(t, map[string]string{"Bearer jwt": `{"user_id":"42"}`})
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(priv)
	keyFile := testutil.WritePEM(t, t.TempDir(), "identity.pem", "PRIVATE KEY", der)
	rt := mustCompile(t, &Config{AuthURL: svc.URL, JWTHeader: "X-Identity-Token", JWTKeyFile: keyFile})
	d, err := rt.Authenticate(context.Background(), authRequest("Bearer jwt"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	first := d.Set["X-Identity-Token"][0]
	a := rt.fromRoute(rt.partition(now), credentialKey(rt.scope, credential{authorization: "Bearer jwt"}), now)
	if a.id == nil {
		t.Fatal("identity not cached")
	}
	later, _ := rt.headers.plan(a.id, nil, now.Add(time.Duration(300-30)*time.Second))
	if later["X-Identity-Token"][0] == first {
		t.Errorf("token not refreshed 30 s before expiry")
	}
}
