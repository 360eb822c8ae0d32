package identity

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/legacy-auth/legacy-auth/internal/sharedcache"
	"github.com/legacy-auth/legacy-auth/test/redistest"
	"github.com/legacy-auth/legacy-auth/test/testutil"
	dto "github.com/prometheus/client_model/go"
)

// testKey is a provider signing key and how it is published.
type testKey struct {
	kid    string
	alg    string
	signer crypto.Signer
}

var (
	rsaOnce sync.Once
	rsaKeys [2]*rsa.PrivateKey
)

// providerKeys are an RSA, an EC P-256 and an Ed25519 key, plus a second
// RSA key (the forger's, or the next rotation's).
func providerKeys(t testing.TB) (rs, es, ed, other testKey) {
	t.Helper()
	rsaOnce.Do(func() {
		for i := range rsaKeys {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			rsaKeys[i] = k
		}
	})
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, edk, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return testKey{"rsa-1", "RS256", rsaKeys[0]}, testKey{"ec-1", "ES256", ec}, testKey{"ed-1", "EdDSA", edk},
		testKey{"rsa-2", "RS256", rsaKeys[1]}
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// jwk is k's public JWK.
func (k testKey) jwk() map[string]any {
	m := map[string]any{"kid": k.kid, "alg": k.alg, "use": "sig"}
	switch pub := k.signer.Public().(type) {
	case *rsa.PublicKey:
		m["kty"], m["n"], m["e"] = "RSA", b64(pub.N.Bytes()), b64(big.NewInt(int64(pub.E)).Bytes())
	case *ecdsa.PublicKey:
		b, _ := pub.Bytes() // uncompressed point: 0x04 || X || Y
		m["kty"], m["crv"], m["x"], m["y"] = "EC", "P-256", b64(b[1:33]), b64(b[33:])
	case ed25519.PublicKey:
		m["kty"], m["crv"], m["x"] = "OKP", "Ed25519", b64(pub)
	}
	return m
}

// jwksServer publishes keys and counts its fetches; set replaces the set,
// status makes it fail.
type jwksServer struct {
	*httptest.Server
	body    atomic.Pointer[[]byte]
	status  atomic.Int64
	fetches atomic.Int64
}

func newJWKSServer(t testing.TB, keys ...testKey) *jwksServer {
	t.Helper()
	j := &jwksServer{}
	j.set(keys...)
	j.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		j.fetches.Add(1)
		if s := j.status.Load(); s != 0 {
			w.WriteHeader(int(s))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(*j.body.Load())
	}))
	j.Start()
	// The assertions are counts and outcomes: an unknown kid's refetch
	// must not lose to a loaded machine's scheduling (the 100 ms bound is
	// the product's, tested with a server that never answers).
	jwksWaitFor.Store(j.URL, 20*time.Second)
	t.Cleanup(func() { closeJWKS(j.URL); jwksWaitFor.Delete(j.URL); j.Close() })
	return j
}

func (j *jwksServer) set(keys ...testKey) {
	set := map[string][]map[string]any{"keys": {}}
	for _, k := range keys {
		set["keys"] = append(set["keys"], k.jwk())
	}
	b, _ := json.Marshal(set)
	j.body.Store(&b)
}

const testIssuer = "https://idp.test/realms/main"

// sign makes a token of k with claims (iss, aud, sub, iat, exp filled in
// unless given; a nil value removes a claim).
func sign(t testing.TB, k testKey, claims jwt.MapClaims) string {
	t.Helper()
	now := time.Now()
	full := jwt.MapClaims{"iss": testIssuer, "aud": "api", "sub": "u-42", "iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix()}
	for name, v := range claims {
		if v == nil {
			delete(full, name)
		} else {
			full[name] = v
		}
	}
	method := jwt.GetSigningMethod(k.alg)
	tok := jwt.NewWithClaims(method, full)
	tok.Header["kid"] = k.kid
	s, err := tok.SignedString(k.signer)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// railsCounting is a Rails stand-in counting its calls: "Bearer opaque" is
// user 7, anything else 401.
func railsCounting(t testing.TB) (*httptest.Server, *atomic.Int64) {
	return flakyService(t, func(_ int64, w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "Bearer opaque" {
			fmt.Fprint(w, `{"user_id":7,"roles":["legacy"],"email":"bob@rails"}`)
			return
		}
		w.WriteHeader(http.StatusUnauthorized)
	})
}

func testIssuerSettings(jwksURI string) Issuer {
	return Issuer{Issuer: testIssuer, JWKSURI: jwksURI, Audiences: []string{"api", "other-api"},
		Algorithms: []string{"RS256", "ES256", "EdDSA"}, UserIDClaim: "sub", RolesClaim: "realm_access.roles",
		ClaimHeaders: []ClaimHeader{{Claim: "email", Header: "X-User-Email"}, {Claim: "tenant", Header: "X-Tenant"}},
		ClockSkew:    30 * time.Second}
}

// providerEngine compiles an engine trusting jwks's issuer and waits until
// its first key fetch ended (an event, not a sleep).
func providerEngine(t testing.TB, railsURL string, jwks *jwksServer, edit func(*Config)) *Engine {
	t.Helper()
	cfg := &Config{AuthURL: railsURL, Issuers: []Issuer{testIssuerSettings(jwks.URL)},
		ExtraHeaders: map[string]string{"email": "X-User-Email"}}
	if edit != nil {
		edit(cfg)
	}
	rt := mustCompile(t, cfg)
	for _, v := range rt.providers {
		select {
		case <-v.keys.ready:
		case <-time.After(10 * time.Second):
			t.Fatal("the key set's first fetch did not end")
		}
	}
	return rt
}

// Every refusal of the issue: 401, Rails never called.
func TestProviderRefusals(t *testing.T) {
	t.Parallel()
	rs, es, ed, forger := providerKeys(t)
	jwks := newJWKSServer(t, rs, es, ed)
	rails, calls := railsCounting(t)
	rt := providerEngine(t, rails.URL, jwks, nil)
	now := time.Now()

	forged := forger
	forged.kid = rs.kid // the published kid, another key
	psKey := testKey{"rsa-1", "PS256", rs.signer}
	hsToken := func() string { // HS256 keyed with the published RSA modulus: key confusion
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"iss": testIssuer, "aud": "api", "sub": "x", "exp": now.Add(time.Minute).Unix()})
		tok.Header["kid"] = rs.kid
		s, _ := tok.SignedString(rs.signer.Public().(*rsa.PublicKey).N.Bytes())
		return s
	}()
	noneToken := func() string {
		tok := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"iss": testIssuer, "aud": "api", "sub": "x", "exp": now.Add(time.Minute).Unix()})
		s, _ := tok.SignedString(jwt.UnsafeAllowNoneSignatureType)
		return s
	}()
	valid := sign(t, rs, nil)
	parts := strings.Split(valid, ".")
	tampered := parts[0] + "." + b64([]byte(`{"iss":"`+testIssuer+`","aud":"api","sub":"admin","exp":9999999999}`)) + "." + parts[2]

	for _, tc := range []struct{ name, token string }{
		{"signature of another key", sign(t, forged, nil)},
		{"payload changed", tampered},
		{"algorithm not allowed", sign(t, psKey, nil)},
		{"alg none", noneToken},
		{"HS256 with the public key", hsToken},
		{"no exp", sign(t, rs, jwt.MapClaims{"exp": nil})},
		{"expired", sign(t, rs, jwt.MapClaims{"exp": now.Add(-time.Minute).Unix()})},
		{"not yet valid", sign(t, rs, jwt.MapClaims{"nbf": now.Add(time.Hour).Unix()})},
		{"issued in the future", sign(t, rs, jwt.MapClaims{"iat": now.Add(time.Hour).Unix()})},
		{"wrong audience", sign(t, rs, jwt.MapClaims{"aud": "someone-else"})},
		{"no audience", sign(t, rs, jwt.MapClaims{"aud": nil})},
		{"no sub", sign(t, rs, jwt.MapClaims{"sub": nil})},
		{"sub with a newline", sign(t, rs, jwt.MapClaims{"sub": "a\nb"})},
		{"roles not a list", sign(t, rs, jwt.MapClaims{"realm_access": map[string]any{"roles": map[string]any{"a": 1}}})},
		{"lives longer than a revocation is kept", sign(t, rs, jwt.MapClaims{"exp": now.Add(48 * time.Hour).Unix()})},
		{"unknown kid", sign(t, testKey{"nobody", "RS256", forger.signer}, nil)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := rt.Authenticate(context.Background(), authRequest("Bearer "+tc.token))
			var rejected *RejectedError
			if !errors.As(err, &rejected) || rejected.Status != http.StatusUnauthorized {
				t.Fatalf("got %v, want a 401", err)
			}
		})
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("Rails called %d times for tokens of a configured issuer", n)
	}
	// The start's fetch, and one for the unknown kid: forged tokens cost
	// no other fetch.
	if n := jwks.fetches.Load(); n != 2 {
		t.Errorf("%d JWKS fetches, want 2 (the start, one unknown kid)", n)
	}
}

// A provider token's identity: the same headers as a Rails answer, roles
// from a dotted path, claims in the extra headers (one slot shared with
// extra_headers), cached (no second verification) and counted by source.
func TestProviderIdentity(t *testing.T) {
	t.Parallel()
	rs, es, ed, _ := providerKeys(t)
	jwks := newJWKSServer(t, rs, es, ed)
	rails, calls := railsCounting(t)
	rt := providerEngine(t, rails.URL, jwks, nil)

	for _, tc := range []struct {
		name   string
		key    testKey
		claims jwt.MapClaims
		want   map[string]string
	}{
		{"RS256, nested roles, claims", rs, jwt.MapClaims{"sub": "u-42", "realm_access": map[string]any{"roles": []string{"admin", "editor"}}, "email": "alice@idp", "tenant": 12},
			map[string]string{"X-User-ID": "u-42", "X-User-Roles": "admin,editor", "X-User-Email": "alice@idp", "X-Tenant": "12"}},
		{"ES256, a numeric id keeps its digits, roles as a string", es, jwt.MapClaims{"sub": json.Number("9007199254740993"), "realm_access": map[string]any{"roles": "viewer, auditor"}},
			map[string]string{"X-User-ID": "9007199254740993", "X-User-Roles": "viewer,auditor", "X-User-Email": "", "X-Tenant": ""}},
		{"EdDSA, no roles, second audience", ed, jwt.MapClaims{"sub": "u-9", "aud": []string{"x", "other-api"}},
			map[string]string{"X-User-ID": "u-9", "X-User-Roles": "", "X-User-Email": "", "X-Tenant": ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok := "Bearer " + sign(t, tc.key, tc.claims)
			before := providerVerifiedCount()
			bySource := counterValue(identitiesBySource[SourceProvider])
			for i := range 3 {
				d, err := rt.Authenticate(context.Background(), authRequest(tok))
				if err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
				for h, v := range tc.want {
					got := d.Set[h]
					if (v == "" && len(got) != 0) || (v != "" && (len(got) != 1 || got[0] != v)) {
						t.Errorf("%s = %q, want %q", h, got, v)
					}
				}
				if want := map[bool]Outcome{true: OutcomeMiss, false: OutcomeHit}[i == 0]; d.Outcome != want {
					t.Errorf("request %d: outcome %s, want %s", i, d.Outcome, want)
				}
			}
			if n := providerVerifiedCount() - before; n != 1 {
				t.Errorf("%g verifications for 3 requests, want 1 (then the cache)", n)
			}
			if n := counterValue(identitiesBySource[SourceProvider]) - bySource; n < 3 {
				t.Errorf("legacy_auth_identities_total{source=provider} grew by %g for 3 requests", n)
			}
		})
	}
	// An opaque token and a JWT of another issuer go to Rails, whose answer
	// fills the shared X-User-Email slot and clears X-Tenant.
	other := sign(t, rs, jwt.MapClaims{"iss": "https://someone-else"})
	for _, tok := range []string{"opaque", other} {
		d, err := rt.Authenticate(context.Background(), authRequest("Bearer "+tok))
		if tok == "opaque" {
			if err != nil || d.Set["X-User-ID"][0] != "7" || d.Set["X-User-Email"][0] != "bob@rails" || len(d.Set["X-Tenant"]) != 0 {
				t.Errorf("opaque token: %v %v", d.Set, err)
			}
		} else if !errors.As(err, new(*RejectedError)) {
			t.Errorf("other issuer's JWT: %v, want Rails' 401", err)
		}
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("Rails called %d times, want 2 (the opaque token, the other issuer's JWT)", n)
	}
	if n := jwks.fetches.Load(); n != 1 {
		t.Errorf("%d JWKS fetches, want 1 (the start): valid tokens never fetch", n)
	}
}

func providerVerifiedCount() float64 { return counterValue(providerVerified) }

// legacy_fallback false: anything but a provider token is refused without
// calling Rails.
func TestProviderOnly(t *testing.T) {
	t.Parallel()
	rs, _, _, _ := providerKeys(t)
	jwks := newJWKSServer(t, rs)
	rails, calls := railsCounting(t)
	rt := providerEngine(t, rails.URL, jwks, func(c *Config) { c.ProviderOnly = true })
	for _, tok := range []string{"opaque", sign(t, rs, jwt.MapClaims{"iss": "https://someone-else"}), "a.b.c"} {
		_, err := rt.Authenticate(context.Background(), authRequest("Bearer "+tok))
		var rejected *RejectedError
		if !errors.As(err, &rejected) || rejected.Status != 401 {
			t.Errorf("%.20s: %v, want 401", tok, err)
		}
	}
	if _, err := rt.Authenticate(context.Background(), authRequest("Bearer "+sign(t, rs, nil))); err != nil {
		t.Errorf("provider token refused: %v", err)
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("Rails called %d times with legacy_fallback off", n)
	}
}

// Keys: an unknown kid refetches at most once per interval, whatever
// the number of random kids; a rotated-in key is found by that refetch; a
// provider that never answered is 503, not 401; an oversized set is
// refused.
func TestProviderKeys(t *testing.T) {
	t.Parallel()
	rs, _, _, next := providerKeys(t)
	t.Run("random kids cost one fetch", func(t *testing.T) {
		jwks := newJWKSServer(t, rs)
		rails, _ := railsCounting(t)
		rt := providerEngine(t, rails.URL, jwks, nil)
		start := jwks.fetches.Load()
		for i := range 50 {
			k := testKey{fmt.Sprintf("random-%d", i), "RS256", next.signer}
			if _, err := rt.Authenticate(context.Background(), authRequest("Bearer "+sign(t, k, nil))); !errors.As(err, new(*RejectedError)) {
				t.Fatalf("random kid %d: %v, want 401", i, err)
			}
		}
		if n := jwks.fetches.Load() - start; n != 1 {
			t.Errorf("50 random kids made %d JWKS fetches, want 1", n)
		}
	})
	t.Run("rotation", func(t *testing.T) {
		jwks := newJWKSServer(t, rs)
		rails, _ := railsCounting(t)
		rt := providerEngine(t, rails.URL, jwks, nil)
		jwks.set(rs, next) // the provider rotates in rsa-2
		if _, err := rt.Authenticate(context.Background(), authRequest("Bearer "+sign(t, next, nil))); err != nil {
			t.Fatalf("token of the rotated-in key: %v", err)
		}
		jwks.status.Store(http.StatusInternalServerError) // then goes down: the last good set stays
		if _, err := rt.Authenticate(context.Background(), authRequest("Bearer "+sign(t, rs, jwt.MapClaims{"sub": "other"}))); err != nil {
			t.Fatalf("with the provider down: %v", err)
		}
	})
	t.Run("never loaded is unavailable", func(t *testing.T) {
		jwks := newJWKSServer(t, rs)
		jwks.status.Store(http.StatusServiceUnavailable)
		rails, calls := railsCounting(t)
		rt := providerEngine(t, rails.URL, jwks, nil)
		_, err := rt.Authenticate(context.Background(), authRequest("Bearer "+sign(t, rs, nil)))
		if !errors.Is(err, ErrUnavailable) {
			t.Fatalf("got %v, want unavailable (503)", err)
		}
		if calls.Load() != 0 {
			t.Error("Rails called while the provider is down")
		}
	})
	t.Run("oversized set refused", func(t *testing.T) {
		jwks := newJWKSServer(t, rs)
		huge := []byte(`{"keys":[` + strings.Repeat(`{"kty":"oct","k":"`+strings.Repeat("A", 1000)+`"},`, 300) + `{}]}`)
		jwks.body.Store(&huge)
		rails, _ := railsCounting(t)
		rt := providerEngine(t, rails.URL, jwks, nil)
		if _, err := rt.Authenticate(context.Background(), authRequest("Bearer "+sign(t, rs, nil))); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("got %v, want unavailable: the oversized set must not load", err)
		}
	})
}

// The first fetch does not block: a request waits for it about jwksWait,
// then is answered unavailable.
func TestProviderFirstFetchBounded(t *testing.T) {
	t.Parallel()
	rs, _, _, _ := providerKeys(t)
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release); closeJWKS(slow.URL); slow.Close() })
	rails, _ := railsCounting(t)
	rt := mustCompile(t, &Config{AuthURL: rails.URL, Issuers: []Issuer{testIssuerSettings(slow.URL)}})
	_, err := rt.Authenticate(context.Background(), authRequest("Bearer "+sign(t, rs, nil)))
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("got %v, want unavailable while the keys load", err)
	}
}

// A provider identity never outlives its token: not served past exp (from
// the cache or stale), and a minted identity token ends at exp too, with
// auth_time from the token.
func TestProviderIdentityEndsWithToken(t *testing.T) {
	t.Parallel()
	rs, _, _, _ := providerKeys(t)
	jwks := newJWKSServer(t, rs)
	rails, _ := railsCounting(t)
	keyFile := writeSigningKey(t)
	rt := providerEngine(t, rails.URL, jwks, func(c *Config) {
		c.JWTHeader, c.JWTKeyFile, c.JWTTTL = "X-Identity", keyFile, ptr(3600.0)
		c.CacheTTL = ptr(600.0)
	})
	clock := testutil.NewClock()
	clock.Advance(time.Since(clock.Now())) // now, moved by hand from here
	rt.now = clock.Now
	now := clock.Now()
	authTime := now.Add(-time.Hour).Unix()
	tok := "Bearer " + sign(t, rs, jwt.MapClaims{"iat": now.Unix(), "exp": now.Add(2 * time.Minute).Unix(), "auth_time": authTime})
	d, err := rt.Authenticate(context.Background(), authRequest(tok))
	if err != nil {
		t.Fatal(err)
	}
	var claims identityClaims
	if _, _, err := jwt.NewParser().ParseUnverified(d.Set["X-Identity"][0], &claims); err != nil {
		t.Fatal(err)
	}
	if claims.ExpiresAt.Unix() > now.Add(2*time.Minute).Unix() || claims.AuthTime.Unix() != authTime {
		t.Errorf("minted token: exp %v (token's exp %v), auth_time %v (want %d)", claims.ExpiresAt, now.Add(2*time.Minute), claims.AuthTime, authTime)
	}
	clock.Advance(2*time.Minute + time.Second) // past exp, well inside cache_ttl
	if d, err := rt.Authenticate(context.Background(), authRequest(tok)); err != nil || d.Outcome != OutcomeMiss {
		t.Errorf("past exp, inside clock_skew: %v %v, want verified again (not served from the cache)", d.Outcome, err)
	}
	clock.Advance(30 * time.Second) // past exp + clock_skew
	if _, err = rt.Authenticate(context.Background(), authRequest(tok)); !errors.As(err, new(*RejectedError)) {
		t.Errorf("past exp + clock_skew: %v, want 401", err)
	}
}

// Revocation by user id reaches provider identities: the cached one is
// dropped, and the token (still validly signed) stays refused, while a
// token issued after the revocation is accepted. With Redis, a node that
// never received the revocation refuses it too.
func TestProviderRevocation(t *testing.T) {
	rs, _, _, _ := providerKeys(t)
	jwks := newJWKSServer(t, rs)
	rails, _ := railsCounting(t)
	rt := providerEngine(t, rails.URL, jwks, nil)
	user := fmt.Sprintf("revoked-user-%d", time.Now().UnixNano()) // revocations are process-wide: -count=N
	issued := time.Now().Add(-time.Minute)
	tok := "Bearer " + sign(t, rs, jwt.MapClaims{"sub": user, "iat": issued.Unix()})
	if _, err := rt.Authenticate(context.Background(), authRequest(tok)); err != nil {
		t.Fatal(err)
	}
	if n := revokeLocal(sharedcache.Revocation{UserID: user}, time.Now()); n != 1 {
		t.Errorf("revocation dropped %d cached identities, want 1", n)
	}
	if _, err := rt.Authenticate(context.Background(), authRequest(tok)); !errors.As(err, new(*RejectedError)) {
		t.Errorf("revoked user's token: %v, want 401", err)
	}
	later := "Bearer " + sign(t, rs, jwt.MapClaims{"sub": user, "iat": time.Now().Add(2 * time.Second).Unix()})
	if _, err := rt.Authenticate(context.Background(), authRequest(later)); err != nil {
		t.Errorf("token issued after the revocation: %v", err)
	}
	if keep := revocationKeep(); keep < maxProviderTokenLifetime {
		t.Errorf("revocations kept %s with provider tokens in use, want at least %s", keep, maxProviderTokenLifetime)
	}
}

// writeSigningKey writes an Ed25519 identity-token key.
func writeSigningKey(t *testing.T) string {
	t.Helper()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(priv)
	return testutil.WritePEM(t, t.TempDir(), "identity.pem", "PRIVATE KEY", der)
}

// A node that never received a revocation (it was published while the
// node was not subscribed) still refuses the provider tokens it beats:
// the mark in Redis is read on every provider verification.
func TestProviderRevocationMarkInRedis(t *testing.T) {
	rds := redistest.Start(t)
	rs, _, _, _ := providerKeys(t)
	jwks := newJWKSServer(t, rs)
	rails, _ := railsCounting(t)
	rt := providerEngine(t, rails.URL, jwks, func(c *Config) { c.RedisAddrs = []string{rds.Addr()}; c.RedisPrefix = "prov:" })
	other, err := sharedcache.New(sharedcache.Options{Mode: sharedcache.ModeStandalone, Addrs: []string{rds.Addr()}, Prefix: "prov:", Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = other.Close() })
	marked := fmt.Sprintf("marked-user-%d", time.Now().UnixNano())
	if err := other.MarkRevoked(context.Background(), sharedcache.Revocation{UserID: marked}, time.Now(), time.Hour); err != nil {
		t.Fatal(err)
	}
	old := "Bearer " + sign(t, rs, jwt.MapClaims{"sub": marked, "iat": time.Now().Add(-time.Minute).Unix()})
	if _, err := rt.Authenticate(context.Background(), authRequest(old)); !errors.As(err, new(*RejectedError)) {
		t.Errorf("token issued before the mark: %v, want 401", err)
	}
	fresh := "Bearer " + sign(t, rs, jwt.MapClaims{"sub": marked, "iat": time.Now().Add(5 * time.Second).Unix()})
	if _, err := rt.Authenticate(context.Background(), authRequest(fresh)); err != nil {
		t.Errorf("token issued after the mark: %v", err)
	}
	// Redis down: the verification goes on (this node's revocations hold).
	rds.Stop()
	another := "Bearer " + sign(t, rs, jwt.MapClaims{"sub": "someone"})
	if _, err := rt.Authenticate(context.Background(), authRequest(another)); err != nil {
		t.Errorf("with Redis down: %v", err)
	}
}

func counterValue(c interface{ Write(*dto.Metric) error }) float64 {
	var m dto.Metric
	_ = c.Write(&m)
	return m.GetCounter().GetValue()
}
