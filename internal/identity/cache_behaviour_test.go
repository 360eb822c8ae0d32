package identity

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/legacy-auth/legacy-auth/test/testutil"
)

// authService is a scriptable Rails verify endpoint: answers by token,
// counting calls.
type authService struct {
	*httptest.Server
	calls atomic.Int64
}

func newAuthService(t *testing.T, answers map[string]string) *authService {
	t.Helper()
	a := &authService{}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.calls.Add(1)
		body, ok := answers[r.Header.Get("Authorization")]
		if !ok {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		fmt.Fprint(w, body)
	}))
	t.Cleanup(a.Close)
	return a
}

func TestCacheExpires(t *testing.T) {
	t.Parallel()
	svc := newAuthService(t, map[string]string{"Bearer dave": `{"user_id":"d"}`})
	rt := mustCompile(t, &Config{AuthURL: svc.URL, CacheTTL: ptr(1.0)})
	clock := testutil.NewClock()
	rt.now = clock.Now
	h := authRequest("Bearer dave")
	for range 2 {
		if _, err := rt.Authenticate(context.Background(), h); err != nil {
			t.Fatal(err)
		}
	}
	clock.Advance(1100 * time.Millisecond)
	if _, err := rt.Authenticate(context.Background(), h); err != nil {
		t.Fatal(err)
	}
	if n := svc.calls.Load(); n != 2 {
		t.Fatalf("auth calls = %d, want 2 (one before, one after expiry)", n)
	}
}

// TestCacheKeysAreHashed: the raw credential is never a cache key; the
// identity is cached under scope ‖ SHA-256 of the encoded credential.
func TestCacheKeysAreHashed(t *testing.T) {
	t.Parallel()
	const token = "Bearer s3cr3t-token"
	svc := newAuthService(t, map[string]string{token: `{"user_id":"1"}`})
	rt := mustCompile(t, &Config{AuthURL: svc.URL})
	if _, err := rt.Authenticate(context.Background(), authRequest(token)); err != nil {
		t.Fatal(err)
	}
	for _, key := range rt.part.Load().ids.keys() {
		if strings.Contains(key, "s3cr3t") {
			t.Errorf("raw token used as a cache key")
		}
	}
	if lookupIdentity(rt.part.Load(), credentialKey(rt.scope, credential{authorization: token})) == nil {
		t.Errorf("identity not cached under its hashed key")
	}
}
