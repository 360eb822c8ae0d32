package fakeidp

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
)

// The stand-in's token endpoint issues tokens its /jwks verifies, for the
// demo's clients only.
func TestTokenEndpoint(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p, err := Serve(ln, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	c := http.Client{Timeout: 10 * time.Second}
	get := func(path string) []byte {
		res, err := c.Get(p.Issuer + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return b
	}
	kf, err := keyfunc.NewJWKSetJSON(get("/jwks"))
	if err != nil {
		t.Fatal(err)
	}
	token := func(id, secret string) (int, string) {
		form := url.Values{"grant_type": {"client_credentials"}, "resource": {Audience}}
		req, _ := http.NewRequest(http.MethodPost, p.Issuer+"/token", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(id, secret)
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var body struct {
			AccessToken string `json:"access_token"`
		}
		_ = json.NewDecoder(res.Body).Decode(&body)
		return res.StatusCode, body.AccessToken
	}
	status, tok := token("42", "alice-secret")
	if status != 200 {
		t.Fatalf("alice: %d", status)
	}
	claims := jwt.MapClaims{}
	if _, err := jwt.ParseWithClaims(tok, claims, kf.Keyfunc, jwt.WithIssuer(p.Issuer), jwt.WithAudience(Audience),
		jwt.WithValidMethods([]string{"RS256"}), jwt.WithExpirationRequired()); err != nil {
		t.Fatalf("token does not verify against /jwks: %v", err)
	}
	if claims["sub"] != "42" || claims["email"] != "alice@example.com" {
		t.Errorf("claims %v", claims)
	}
	if status, _ := token("42", "wrong"); status != 401 {
		t.Errorf("wrong secret: %d, want 401", status)
	}
	if !strings.Contains(string(get("/.well-known/openid-configuration")), `"jwks_uri":"`+p.Issuer+`/jwks"`) {
		t.Error("discovery document lacks jwks_uri")
	}
}
