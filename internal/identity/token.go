package identity

import (
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"fmt"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Signed identity for upstream services. The design documents ask what
// stops someone inside the network from calling a service directly with
// forged X-User-ID headers, and answer only mTLS or network isolation. A
// short-lived JWT signed by the gateway is a third, cheap answer: services
// verify it with any standard JWT library and the gateway's public key.
//
// Asymmetric keys only (EdDSA, ES256, RS256): with a shared HMAC secret
// every service that can verify could also forge identities for the others.
// github.com/golang-jwt/jwt/v5 is the maintained Go JWT implementation.

const (
	// staleJWTTTL bounds the lifetime of a token minted for an identity
	// served stale (stale_if_error, the auth service failing): such a token
	// lives at most min(jwt_ttl, cache_ttl, 10 s) and is minted again while
	// the outage lasts, so a service never holds one for long.
	staleJWTTTL = 10 * time.Second
)

// JWTSigner mints identity tokens for one configuration.
type JWTSigner struct {
	Header   string
	KeyFile  string
	key      *reloader[*signingKey] // process-wide per jwt_key_file path
	TTL      time.Duration
	CacheTTL time.Duration // the identity's freshness: no token outlives it
	Issuer   string
	Audience string
}

// signingKey is one key read from jwt_key_file.
type signingKey struct {
	signer crypto.Signer
	method jwt.SigningMethod
	kid    string
}

// identityClaims are the token's claims: the registered ones, auth_time,
// roles and the extra answer fields the configuration forwards.
type identityClaims struct {
	// AuthTime is when the auth service vouched for the credential (OIDC's
	// auth_time): a service can tell how old the identity is, and a token
	// minted for a stale identity shows it.
	AuthTime *jwt.NumericDate  `json:"auth_time,omitempty"`
	Roles    []string          `json:"roles,omitempty"`
	Extra    map[string]string `json:"ext,omitempty"`
	jwt.RegisteredClaims
}

// signingKeys holds one reloader per jwt_key_file path: every instance
// naming the file signs with the same, current key.
var signingKeys sync.Map // path → *reloader[*signingKey]

// loadSigningKey reads jwt_key_file now (a bad file is a configuration
// error) and returns the process-wide reloader of that path, which follows
// the file when it is replaced.
func loadSigningKey(path string) (*reloader[*signingKey], error) {
	v, ok := signingKeys.Load(path)
	if !ok {
		v, _ = signingKeys.LoadOrStore(path, newReloader([]keyFile{{"jwt_key_file", path}}, func(b [][]byte) (*signingKey, error) {
			return parseSigningKey(b[0])
		}))
	}
	r := v.(*reloader[*signingKey])
	if _, err := r.load(); err != nil {
		return nil, withField("jwt_key_file", err)
	}
	return r, nil
}

// parseSigningKey reads the first private key of a PEM file and picks its
// algorithm.
func parseSigningKey(b []byte) (*signingKey, error) {
	block, err := privateKeyBlock(b)
	if err != nil {
		return nil, err
	}
	var key any
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("unsupported PEM block %q: use an Ed25519, P-256 or RSA key in PKCS#8, SEC 1 or PKCS#1 form", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("parsing %s: %w", block.Type, err)
	}
	var k signingKey
	switch pk := key.(type) {
	case ed25519.PrivateKey:
		k.signer, k.method = pk, jwt.SigningMethodEdDSA
	case *ecdsa.PrivateKey:
		if pk.Curve != elliptic.P256() {
			return nil, fmt.Errorf("ECDSA key on %s: only P-256 (ES256) is supported", pk.Curve.Params().Name)
		}
		k.signer, k.method = pk, jwt.SigningMethodES256
	case *rsa.PrivateKey:
		if pk.N.BitLen() < 2048 {
			return nil, fmt.Errorf("RSA key of %d bits: RSA keys must have at least 2048 bits", pk.N.BitLen())
		}
		k.signer, k.method = pk, jwt.SigningMethodRS256
	default:
		return nil, fmt.Errorf("unsupported key type %s: use Ed25519 (EdDSA), ECDSA P-256 (ES256) or RSA >= 2048 bits (RS256)", keyTypeName(key))
	}
	if k.kid, err = keyID(k.signer.Public()); err != nil {
		return nil, err
	}
	return &k, nil
}

// keyTypeName names a parsed key's type for an error message.
func keyTypeName(key any) string {
	if k, ok := key.(*ecdh.PrivateKey); ok {
		return fmt.Sprintf("%v (an ECDH key cannot sign)", k.Curve())
	}
	return fmt.Sprintf("%T", key)
}

// keyID is a stable kid for the public key (first 16 hex of its SHA-256
// over the DER SubjectPublicKeyInfo), so services can pick the right key
// during a rotation.
func keyID(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("encoding public key: %w", err)
	}
	sum := sha256.Sum256(der)
	return fmt.Sprintf("%x", sum[:8]), nil
}

// currentKey is the key to sign with now. It also lets at most one request
// per reloadInterval start a background look at the key file.
func (j *JWTSigner) currentKey(now time.Time) *signingKey {
	j.key.poll(now)
	return j.key.current()
}

// lifetime is when a token minted now for an identity fetched at fetched
// expires, and until when that token may be handed out again (the memo).
//
// While the identity is fresh (fetched + cache_ttl not reached) the token
// expires after jwt_ttl but never after the identity stops being fresh;
// a token cut short by that bound is reused until it expires, since a new
// one could not live longer. For an identity served stale during an outage
// the token lives min(jwt_ttl, cache_ttl, 10 s) and its auth_time shows the
// identity's age. An uncut token is replaced when a fifth of its lifetime
// is left, so a service never receives one about to expire in flight.
//
// A provider identity's freshness also ends at its token's exp: no minted
// token outlives the token it stands for.
func (j *JWTSigner) lifetime(id *Identity, now time.Time) (exp, reuseUntil time.Time) {
	freshUntil := id.fetched.Add(j.CacheTTL)
	if x := id.expires(); !x.IsZero() && x.Before(freshUntil) {
		freshUntil = x
	}
	if now.Before(freshUntil) {
		exp = now.Add(j.TTL)
		if !exp.Before(freshUntil) {
			return freshUntil, freshUntil
		}
		return exp, exp.Add(-j.TTL / 5)
	}
	ttl := min(j.TTL, j.CacheTTL, staleJWTTTL)
	if x := id.expires(); !x.IsZero() {
		ttl = min(ttl, x.Sub(now))
	}
	exp = now.Add(ttl)
	return exp, exp.Add(-ttl / 5)
}

// mint signs a token for id, valid from now until lifetime's exp; it
// returns the token, until when it may be reused, and the key it was signed
// with.
func (j *JWTSigner) mint(id *Identity, extras []ExtraHeader, key *signingKey, now time.Time) (string, time.Time, error) {
	exp, reuseUntil := j.lifetime(id, now)
	authTime := id.fetched
	if id.token != nil && !id.token.authTime.IsZero() {
		authTime = id.token.authTime // the provider token's auth_time or iat
	}
	claims := identityClaims{
		AuthTime: jwt.NewNumericDate(authTime),
		Roles:    id.Roles,
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    j.Issuer,
			Subject:   id.UserID,
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now.Add(-5 * time.Second)), // clock skew between hosts
			// NumericDate truncates to the second: never later than exp.
			ExpiresAt: jwt.NewNumericDate(exp),
		},
	}
	if j.Audience != "" {
		claims.Audience = jwt.ClaimStrings{j.Audience}
	}
	for i, e := range extras {
		if i < len(id.Extra) && id.Extra[i] != "" {
			if claims.Extra == nil {
				claims.Extra = map[string]string{}
			}
			claims.Extra[e.Field] = id.Extra[i]
		}
	}
	tok := jwt.NewWithClaims(key.method, claims)
	tok.Header["kid"] = key.kid
	signed, err := tok.SignedString(key.signer)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("signing identity token: %w", err)
	}
	return signed, reuseUntil, nil
}
