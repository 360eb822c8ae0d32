package plugin

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
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
	DefaultJWTTTL    = 300
	DefaultJWTIssuer = "kong-legacy-auth"
	MinJWTTTL        = 10
	MaxJWTTTL        = 86400
)

// jwtSigner mints identity tokens for one configuration.
type jwtSigner struct {
	header   string
	method   jwt.SigningMethod
	key      crypto.Signer
	keyID    string
	ttl      time.Duration
	issuer   string
	audience string
}

// identityClaims are the token's claims: the registered ones plus roles and
// the extra answer fields the configuration forwards.
type identityClaims struct {
	Roles []string          `json:"roles,omitempty"`
	Extra map[string]string `json:"ext,omitempty"`
	jwt.RegisteredClaims
}

func (c *Config) jwtSettings(s *settings, problems []string) []string {
	if c.JWTHeader == "" {
		if c.JWTKeyFile != "" {
			problems = append(problems, "jwt_header: required when jwt_key_file is set")
		}
		return problems
	}
	var bad []string
	var ttl time.Duration
	ttl, bad = seconds(bad, "jwt_ttl", c.JWTTTL, DefaultJWTTTL, MinJWTTTL, MaxJWTTTL)
	problems = append(problems, bad...)
	switch {
	case !isToken(c.JWTHeader):
		problems = append(problems, "jwt_header: not a valid header name")
	case reservedHeaders[strings.ToLower(c.JWTHeader)]:
		problems = append(problems, "jwt_header: "+c.JWTHeader+" is reserved")
	case containsHeader([]string{s.userIDHeader, s.userRolesHeader}, c.JWTHeader):
		problems = append(problems, "jwt_header: must differ from the other identity headers")
	}
	if c.JWTKeyFile == "" {
		return append(problems, "jwt_key_file: required when jwt_header is set")
	}
	key, method, err := loadSigningKey(c.JWTKeyFile)
	if err != nil {
		return append(problems, "jwt_key_file: "+err.Error())
	}
	kid, err := keyID(key.Public())
	if err != nil {
		return append(problems, "jwt_key_file: "+err.Error())
	}
	s.jwt = &jwtSigner{
		header: c.JWTHeader, method: method, key: key, keyID: kid, ttl: ttl,
		issuer: orDefault(c.JWTIssuer, DefaultJWTIssuer), audience: c.JWTAudience,
	}
	return problems
}

// loadSigningKey reads a PEM private key and picks its algorithm.
func loadSigningKey(path string) (crypto.Signer, jwt.SigningMethod, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, nil, errors.New("no PEM block found")
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
		return nil, nil, fmt.Errorf("unsupported PEM block %q", block.Type)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("parsing key: %w", err)
	}
	switch k := key.(type) {
	case ed25519.PrivateKey:
		return k, jwt.SigningMethodEdDSA, nil
	case *ecdsa.PrivateKey:
		if k.Curve != elliptic.P256() {
			return nil, nil, errors.New("ECDSA keys must use P-256 (ES256)")
		}
		return k, jwt.SigningMethodES256, nil
	case *rsa.PrivateKey:
		if k.N.BitLen() < 2048 {
			return nil, nil, errors.New("RSA keys must have at least 2048 bits")
		}
		return k, jwt.SigningMethodRS256, nil
	}
	return nil, nil, fmt.Errorf("unsupported key type %T", key)
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

// mint signs a token for id valid from now for the signer's ttl.
func (j *jwtSigner) mint(id *Identity, extras []extraHeader, now time.Time) (string, time.Time, error) {
	exp := now.Add(j.ttl)
	claims := identityClaims{
		Roles: id.Roles,
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    j.issuer,
			Subject:   id.UserID,
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now.Add(-5 * time.Second)), // clock skew between hosts
			ExpiresAt: jwt.NewNumericDate(exp),
		},
	}
	if j.audience != "" {
		claims.Audience = jwt.ClaimStrings{j.audience}
	}
	for i, e := range extras {
		if i < len(id.Extra) && id.Extra[i] != "" {
			if claims.Extra == nil {
				claims.Extra = map[string]string{}
			}
			claims.Extra[e.field] = id.Extra[i]
		}
	}
	tok := jwt.NewWithClaims(j.method, claims)
	tok.Header["kid"] = j.keyID
	signed, err := tok.SignedString(j.key)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("signing identity token: %w", err)
	}
	return signed, exp, nil
}

// refreshBefore is how long before expiry a memoized token is replaced, so
// a service never receives a token about to expire in flight.
func (j *jwtSigner) refreshBefore() time.Duration { return j.ttl / 5 }
