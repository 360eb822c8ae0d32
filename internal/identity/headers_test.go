package identity

import (
	"slices"
	"testing"
	"time"
)

func TestOtherSpellings(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		want []string
	}{
		{"X-User-ID", []string{"X_User-ID", "X-User_ID", "X_User_ID"}},
		{"X_User_ID", []string{"X-User-ID", "X_User-ID", "X-User_ID"}},
		{"Token", []string{}},
	} {
		got := otherSpellings(tc.name)
		slices.Sort(got)
		want := slices.Clone(tc.want)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("otherSpellings(%q) = %v, want %v", tc.name, got, want)
		}
	}
}

// TestHeaderPlanReads: which read a configuration gets, and that the
// set_headers map clears every other spelling of every managed name.
func TestHeaderPlanReads(t *testing.T) {
	t.Parallel()
	base := Settings{UserIDHeader: "X-User-ID", UserRolesHeader: "X-User-Roles"}
	withCookies := base
	withCookies.CookieNames = []string{"_s"}
	longName := base
	longName.Extras = []ExtraHeader{{Field: "email", Header: "X-A-B-C-D-E"}} // 5 separators: 32 spellings

	p := newHeaderPlan(base)
	if p.readAll || len(p.clears) != 6 {
		t.Fatalf("default plan: readAll %v, %d clears (%v), want the credential read and 6 clears", p.readAll, len(p.clears), p.clears)
	}
	h, err := p.plan(&Identity{UserID: "7"}, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"X_User-ID", "X-User_ID", "X_User_ID", "X_User-Roles", "X-User_Roles", "X_User_Roles"} {
		if v, ok := h[name]; !ok || len(v) != 0 {
			t.Errorf("set_headers[%q] = %v, %v: want cleared", name, v, ok)
		}
	}
	if got := h["X-User-ID"]; len(got) != 1 || got[0] != "7" {
		t.Errorf("set_headers[X-User-ID] = %v, want [7]", got)
	}
	a := p.anonymous(nil)
	if len(a) != 8 {
		t.Errorf("anonymous set_headers has %d names (%v), want 8: both names in their 4 spellings", len(a), a)
	}

	for name, s := range map[string]Settings{"session cookies": withCookies, "a name with 5 separators": longName} {
		if p := newHeaderPlan(s); !p.readAll || p.clears != nil {
			t.Errorf("%s: readAll %v, clears %v; want the list read and no blind clears", name, p.readAll, p.clears)
		}
	}
}
