// Package fakeidp is a Go stand-in for the demo's OpenID provider
// (test/oidc/server.js, node's oidc-provider), for machines without Node:
// the same issuer shape (http://HOST:PORT), the same clients, the same
// client_credentials token endpoint issuing RS256 JWT access tokens for one
// audience, and the keys at /jwks. It is a demo and test double, not an
// identity provider: no consent, no refresh tokens, an in-memory key.
package fakeidp

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Audience is the resource tokens are issued for (as test/oidc/server.js).
const Audience = "https://api.example"

// Client is a client_credentials client standing for one user: the token's
// sub is its id.
type Client struct {
	ID, Secret string
	Roles      []string
	Email      string
}

// Clients are the demo's users, the ids Rails has for them.
var Clients = []Client{
	{ID: "42", Secret: "alice-secret", Roles: []string{"admin", "editor"}, Email: "alice@example.com"},
	{ID: "7", Secret: "bob-secret"},
}

const kid = "fakeidp-1"

// Provider serves the discovery document, the keys and the token endpoint.
type Provider struct {
	Issuer string
	key    *rsa.PrivateKey
	ttl    time.Duration
	srv    *http.Server
	done   chan struct{}
}

// Serve runs the provider on ln until Close; the issuer is
// http://<ln's address>.
func Serve(ln net.Listener, ttl time.Duration) (*Provider, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("fakeidp: key: %w", err)
	}
	p := &Provider{Issuer: "http://" + ln.Addr().String(), key: key, ttl: ttl, done: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", p.discovery)
	mux.HandleFunc("GET /jwks", p.jwks)
	mux.HandleFunc("POST /token", p.token)
	p.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { defer close(p.done); _ = p.srv.Serve(ln) }()
	return p, nil
}

// Close stops the provider.
func (p *Provider) Close() {
	_ = p.srv.Close()
	<-p.done
}

// Mint signs an access token for c, as the token endpoint does.
func (p *Provider) Mint(c Client, now time.Time) (string, error) {
	claims := jwt.MapClaims{"iss": p.Issuer, "aud": Audience, "sub": c.ID, "client_id": c.ID, "scope": "api",
		"iat": now.Unix(), "exp": now.Add(p.ttl).Unix(), "roles": c.Roles}
	if c.Email != "" {
		claims["email"] = c.Email
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	tok.Header["kid"] = kid
	tok.Header["typ"] = "at+jwt"
	return tok.SignedString(p.key)
}

func (p *Provider) discovery(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"issuer": p.Issuer, "jwks_uri": p.Issuer + "/jwks",
		"token_endpoint": p.Issuer + "/token", "grant_types_supported": []string{"client_credentials"}})
}

func (p *Provider) jwks(w http.ResponseWriter, _ *http.Request) {
	b64 := base64.RawURLEncoding.EncodeToString
	writeJSON(w, http.StatusOK, map[string]any{"keys": []map[string]string{{
		"kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid,
		"n": b64(p.key.N.Bytes()), "e": b64(big.NewInt(int64(p.key.E)).Bytes()),
	}}})
}

func (p *Provider) token(w http.ResponseWriter, r *http.Request) {
	id, secret, ok := r.BasicAuth()
	if !ok {
		id, secret = r.PostFormValue("client_id"), r.PostFormValue("client_secret")
	}
	if r.PostFormValue("grant_type") != "client_credentials" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "unsupported_grant_type"})
		return
	}
	for _, c := range Clients {
		if c.ID == id && c.Secret == secret && secret != "" {
			tok, err := p.Mint(c, time.Now())
			if err != nil {
				writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "server_error"})
				return
			}
			writeJSON(w, http.StatusOK, map[string]any{"access_token": tok, "token_type": "Bearer",
				"expires_in": int(p.ttl.Seconds()), "scope": "api"})
			return
		}
	}
	writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client"})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
