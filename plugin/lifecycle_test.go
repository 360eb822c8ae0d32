package plugin

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"

	"github.com/legacy-auth/legacy-auth/internal/identity"
)

// An instance go-pdk drops without a successor (no plugin id) is
// released when it is collected.
func TestCollectedInstanceIsReleased(t *testing.T) {
	svc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, `{"user_id":"u"}`) }))
	t.Cleanup(svc.Close)
	rt := func() *identity.Engine {
		cfg := &Config{AuthURL: svc.URL + "/verify?gc=1"}
		rt, err := cfg.compile()
		if err != nil {
			t.Fatal(err)
		}
		return rt
	}()
	if rt.Released() {
		t.Fatal("released while its instance lives")
	}
	for deadline := time.Now().Add(20 * time.Second); !rt.Released() && time.Now().Before(deadline); {
		runtime.GC() // the cleanup runs after a collection finds the Config unreachable
		time.Sleep(10 * time.Millisecond)
	}
	if !rt.Released() {
		t.Fatal("a collected instance still holds what it used")
	}
}
