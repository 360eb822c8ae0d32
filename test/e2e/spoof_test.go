package e2e

import (
	"fmt"
	"strings"
	"testing"

	"github.com/legacy-auth/legacy-auth/internal/echo"
	"github.com/legacy-auth/legacy-auth/internal/fakerails"
	"github.com/legacy-auth/legacy-auth/internal/kongsim"
)

// TestSpoofedIdentityHeaders sends client-made identity headers in every
// spelling nginx would fold together (case, '-' vs '_'), on a cache miss
// and on a hit, and checks that only the plugin's values reach the
// upstream, also when the user has no roles (the roles header must then be
// gone entirely, not left with the client's value).
func TestSpoofedIdentityHeaders(t *testing.T) {
	up := echo.New()
	t.Cleanup(up.Close)

	junk := make([]string, 0, 300)
	for i := range 150 {
		junk = append(junk, fmt.Sprintf("X-Filler-%03d", i), "x")
	}
	tests := []struct {
		name            string
		idHeader, roles string // configured names ("" = default)
		userRoles       []string
		spoofs          []string // name, value pairs sent by the client
	}{
		{
			name: "default names, every spelling", userRoles: []string{"viewer", "billing"},
			spoofs: []string{
				"X-User-ID", "evil-1", "x-user-id", "evil-2", "X_User_ID", "evil-3", "x_user_id", "evil-4", "X-USER-ID", "evil-5",
				"X-USER-ROLES", "spoof-admin", "x_user_roles", "spoof-root", "X_User_Roles", "spoof-god", "x-user-roles", "spoof-x",
			},
		},
		{
			name: "default names, user without roles",
			spoofs: []string{
				"X-User-ID", "evil-1", "X_USER_ID", "evil-2",
				"X-User-Roles", "spoof-admin", "X-USER-ROLES", "spoof-root", "x_user_roles", "spoof-god",
			},
		},
		{
			name: "repeated header lines", userRoles: []string{"viewer"},
			spoofs: []string{"X-User-ID", "evil-1", "X-User-ID", "evil-2", "x_user_id", "evil-3", "x_user_id", "evil-4",
				"X-User-Roles", "spoof-admin", "X-User-Roles", "spoof-root"},
		},
		{
			name: "hidden behind 150 other headers", userRoles: []string{"viewer"},
			spoofs: append(append([]string{}, junk...), "X_User_ID", "evil-1", "x_user_roles", "spoof-admin"),
		},
		{
			name: "custom names", idHeader: "X-Account-User", roles: "X-Account-Groups", userRoles: []string{"ops"},
			spoofs: []string{
				"X-Account-User", "evil-1", "x_account_user", "evil-2", "X-ACCOUNT-USER", "evil-3", "X_Account_User", "evil-4",
				"x-account-groups", "spoof-admin", "X_ACCOUNT_GROUPS", "spoof-root", "X_Account_Groups", "spoof-god",
			},
		},
		{
			name: "custom names, user without roles", idHeader: "X-Uid", roles: "X-Perms",
			spoofs: []string{"x_uid", "evil-1", "X-UID", "evil-2", "X-Perms", "spoof-admin", "x_perms", "spoof-root"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := newAuth(t)
			token := newToken("spoof")
			a.Set(token, fakerails.OK("u-7", tc.userRoles...))
			fields := map[string]any{"auth_url": a.url}
			idHeader, rolesHeader := "X-User-ID", "X-User-Roles"
			if tc.idHeader != "" {
				idHeader, rolesHeader = tc.idHeader, tc.roles
				fields["user_id_header"], fields["user_roles_header"] = tc.idHeader, tc.roles
			}
			cfg := config(t, fields)
			p := newPlugin()
			wantRoles := strings.Join(tc.userRoles, ",")
			spoofed := map[string]bool{}
			for i := 1; i < len(tc.spoofs); i += 2 {
				if strings.HasPrefix(tc.spoofs[i], "evil") || strings.HasPrefix(tc.spoofs[i], "spoof") {
					spoofed[tc.spoofs[i]] = true
				}
			}

			for _, phase := range []string{"miss", "hit"} {
				req := request(append([]string{"Authorization", token}, tc.spoofs...)...)
				res := access(t, shared, p, cfg, req)
				wantProxied(t, res, idHeader, "u-7", rolesHeader, wantRoles)
				leaked := leakedValues(res.Upstream, spoofed)
				if len(leaked) > 0 {
					t.Errorf("%s: spoofed values reached the upstream request: %v", phase, leaked)
				}
				got := sendUpstream(t, up, res)
				if v := got.Get(idHeader); len(v) != 1 || v[0] != "u-7" {
					t.Errorf("%s: echo upstream %s = %v, want [u-7]", phase, idHeader, v)
				}
				echoed := echoSpellings(got, idHeader, rolesHeader)
				t.Logf("%s: %d client spellings sent, upstream identity headers %v, spoofed values leaked: %d, auth calls so far %d, PDK calls %d",
					phase, len(spoofed), echoed, len(leaked), a.Calls(), len(res.Calls))
				for name, vals := range echoed {
					for _, v := range vals {
						if spoofed[v] {
							t.Errorf("%s: echo upstream received %s: %s", phase, name, v)
						}
					}
				}
			}
			if a.Calls() != 1 {
				t.Errorf("auth calls = %d, want 1 (miss, then hit)", a.Calls())
			}
		})
	}
}

// leakedValues are the spoofed values present in the upstream headers.
func leakedValues(h []kongsim.Header, spoofed map[string]bool) []string {
	var out []string
	for _, x := range h {
		if spoofed[x.Value] {
			out = append(out, x.Name+": "+x.Value)
		}
	}
	return out
}

// echoSpellings are the headers the echo upstream received, raw spelling
// kept, that fold to one of names.
func echoSpellings(r echo.Reply, names ...string) map[string][]string {
	out := map[string][]string{}
	for k, v := range r.Headers {
		for _, n := range names {
			if foldName(k, n) {
				out[k] = v
			}
		}
	}
	return out
}
