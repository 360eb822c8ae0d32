package identity

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"testing"
)

// BenchmarkAccessCacheHitJWTSpoofed is a cache hit with an RSA-2048
// identity token while the client sends spoofed spellings of the managed
// headers (x_user_id, x_identity_token): the token must come from the memo,
// not from a signature per request.
func BenchmarkAccessCacheHitJWTSpoofed(b *testing.B) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		b.Fatal(err)
	}
	keyFile := writeBenchPEM(b, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(key))
	rt := benchRuntime(b, &Config{AuthURL: benchService(b, 200).URL + "/jwt-spoofed", JWTHeader: "X-Identity-Token", JWTKeyFile: keyFile})
	h := typicalHeaders("Bearer bench-jwt-spoofed")
	h["x_user_id"] = []string{"1"}
	h["x_identity_token"] = []string{"forged"}
	if _, err := rt.Authenticate(context.Background(), h); err != nil {
		b.Fatal(err)
	}
	benchAccess(b, rt, h, true)
}

func writeBenchPEM(b *testing.B, typ string, der []byte) string {
	b.Helper()
	p := b.TempDir() + "/key.pem"
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		b.Fatal(err)
	}
	return p
}
