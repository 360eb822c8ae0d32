package identity

import (
	"encoding/json"
	"os"
	"testing"
)

// canonicalFixture is test/fixtures/canonical.json, which the Rails
// engine's tests check too: both sides must produce the same forms.
type canonicalFixture struct {
	Authorization []struct {
		In        string  `json:"in"`
		Canonical *string `json:"canonical"`
	} `json:"authorization"`
	CookieValues []struct {
		In        string  `json:"in"`
		Canonical *string `json:"canonical"`
	} `json:"cookie_values"`
}

func loadCanonicalFixture(t *testing.T) canonicalFixture {
	t.Helper()
	b, err := os.ReadFile("../../test/fixtures/canonical.json")
	if err != nil {
		t.Fatal(err)
	}
	var f canonicalFixture
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Authorization) == 0 || len(f.CookieValues) == 0 {
		t.Fatal("empty fixture")
	}
	return f
}

func TestCanonicalAuthorizationFixture(t *testing.T) {
	t.Parallel()
	for _, tc := range loadCanonicalFixture(t).Authorization {
		got, ok := canonicalAuthorization(tc.In)
		switch {
		case tc.Canonical == nil && ok:
			t.Errorf("%q: got %q, want refused", tc.In, got)
		case tc.Canonical != nil && (!ok || got != *tc.Canonical):
			t.Errorf("%q: got %q (ok %t), want %q", tc.In, got, ok, *tc.Canonical)
		}
	}
}

func TestCanonicalCookieValueFixture(t *testing.T) {
	t.Parallel()
	for _, tc := range loadCanonicalFixture(t).CookieValues {
		got, ok := canonicalCookieValue(tc.In)
		switch {
		case tc.Canonical == nil && ok:
			t.Errorf("%q: got %q, want refused", tc.In, got)
		case tc.Canonical != nil && (!ok || got != *tc.Canonical):
			t.Errorf("%q: got %q (ok %t), want %q", tc.In, got, ok, *tc.Canonical)
		}
	}
}

// Every spelling of one token is one cache key and one revocation target.
func TestSpellingsShareOneKey(t *testing.T) {
	t.Parallel()
	plan := &headerPlan{cookies: []string{"s"}, readAll: true}
	spellings := [][2]string{
		{"Bearer X", ""}, {"bearer X", ""}, {"Bearer  X", ""}, {"Bearer\tX", ""},
		{"Bearer X, x=1", ""}, {"Token X", ""}, {`Token token="X"`, ""},
	}
	var sc scope
	keys := map[string]bool{}
	parts := map[[32]byte]bool{}
	for _, sp := range spellings {
		in, err := plan.inspect(map[string][]string{"Authorization": {sp[0]}})
		if err != nil {
			t.Fatalf("%q: %v", sp[0], err)
		}
		keys[credentialKey(sc, in.cred)] = true
		for _, p := range credentialParts(in.cred) {
			parts[p] = true
		}
	}
	if len(keys) != 1 || len(parts) != 1 {
		t.Fatalf("%d spellings gave %d keys and %d revocation parts, want 1 and 1", len(spellings), len(keys), len(parts))
	}
	cookieKeys := map[string]bool{}
	for _, lines := range [][]string{{"s=DEF"}, {"s=%44EF"}, {"s=%44%45%46"}, {"s=DEF; s=other"}, {"x=1; s=DEF"}, {"s=DEF", "s=other"}} {
		in, err := plan.inspect(map[string][]string{"Cookie": lines})
		if err != nil {
			t.Fatalf("%q: %v", lines, err)
		}
		if in.cred.cookie != "s=DEF" {
			t.Errorf("%q forwarded as %q, want s=DEF", lines, in.cred.cookie)
		}
		cookieKeys[credentialKey(sc, in.cred)] = true
	}
	if len(cookieKeys) != 1 {
		t.Fatalf("cookie spellings gave %d keys, want 1", len(cookieKeys))
	}
}

func TestUnreadableAuthorizationRefused(t *testing.T) {
	t.Parallel()
	plan := &headerPlan{}
	for _, v := range []string{"Basic dXNlcjpwYXNz", "Bearer token=token=X", "Bearer ,", "tok-alice"} {
		_, err := plan.inspect(map[string][]string{"Authorization": {v}})
		if err != ErrUnreadableCredential {
			t.Errorf("%q: err %v, want ErrUnreadableCredential", v, err)
		}
	}
}
