package gateway

import (
	"testing"
)

func mustDeck(t *testing.T, y string) *Deck {
	t.Helper()
	d, err := ParseDeck([]byte(y), "test.yml")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestMatch(t *testing.T) {
	t.Parallel()
	d := mustDeck(t, `
_format_version: "3.0"
services:
  - name: s
    url: http://127.0.0.1:1
    routes:
      - {name: api, paths: [/api]}
      - {name: v1, paths: [/api/v1]}
      - {name: api-post, paths: [/api], methods: [POST]}
      - {name: delete-anything, methods: [DELETE]}
      - {name: twin-first, paths: [/twin]}
      - {name: twin-second, paths: [/twin]}
      - {name: multi, paths: [/m, /multi/long]}
`)
	tests := []struct {
		method, path string
		want         string // route name, "" for no match
		prefix       string
	}{
		{"GET", "/api", "api", "/api"},
		{"GET", "/api/x", "api", "/api"},
		{"GET", "/apiary", "api", "/api"}, // Kong paths are plain string prefixes
		{"GET", "/api/v1/x", "v1", "/api/v1"},
		// methods+paths outweighs a longer paths-only match, as in Kong.
		{"POST", "/api/v1/x", "api-post", "/api"},
		{"DELETE", "/anything", "delete-anything", ""},
		{"DELETE", "/api/x", "api", "/api"}, // same weight: longer prefix wins
		{"GET", "/twin", "twin-first", "/twin"},
		{"GET", "/multi/long/x", "multi", "/multi/long"},
		{"GET", "/m", "multi", "/m"},
		{"GET", "/nothing", "", ""},
		{"GET", "/", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			t.Parallel()
			m := d.Match(tc.method, tc.path)
			switch {
			case m == nil && tc.want != "":
				t.Fatalf("no match, want %s", tc.want)
			case m == nil:
				return
			case tc.want == "":
				t.Fatalf("matched %s, want none", m.Route.Name)
			case m.Route.Name != tc.want || m.Prefix != tc.prefix:
				t.Errorf("matched %s (prefix %q), want %s (prefix %q)", m.Route.Name, m.Prefix, tc.want, tc.prefix)
			}
		})
	}
}

func TestPluginPrecedence(t *testing.T) {
	t.Parallel()
	d := mustDeck(t, `
_format_version: "3.0"
services:
  - name: s
    url: http://127.0.0.1:1
    routes:
      - name: r-route
        paths: [/r]
        plugins:
          - {name: legacy-auth, config: {auth_url: "http://a/route"}}
      - name: r-route-service
        paths: [/rs]
        plugins:
          - {name: legacy-auth, config: {auth_url: "http://a/route-only"}}
      - name: r-service
        paths: [/s]
      - name: r-disabled
        paths: [/d]
        plugins:
          - {name: legacy-auth, enabled: false}
      - name: r-stream
        paths: [/st]
        plugins:
          - {name: legacy-auth, protocols: [tcp, tls]}
    plugins:
      - {name: legacy-auth, config: {auth_url: "http://a/service"}}
      - {name: legacy-auth, route: r-route-service, config: {auth_url: "http://a/route+service"}}
  - name: t
    url: http://127.0.0.1:2
    routes:
      - {name: r-global, paths: [/g]}
  - name: u
    url: http://127.0.0.1:3
routes:
  # route+service entry whose service is not the route's: never applies.
  - {name: r-mismatch, paths: [/x], service: u}
plugins:
  - {name: legacy-auth, config: {auth_url: "http://a/global"}}
  - {name: legacy-auth, service: t, route: r-mismatch, config: {auth_url: "http://a/mismatch"}}
  - {name: cors}
`)
	tests := []struct{ route, want string }{
		{"r-route", "http://a/route"},
		{"r-route-service", "http://a/route+service"},
		{"r-service", "http://a/service"},
		{"r-disabled", "http://a/service"}, // disabled entry skipped: next most specific
		{"r-stream", "http://a/service"},   // stream-only entry never runs on HTTP
		{"r-global", "http://a/global"},
		{"r-mismatch", "http://a/global"},
	}
	routes := map[string]*Route{}
	for _, r := range d.Routes {
		routes[r.Name] = r
	}
	for _, tc := range tests {
		t.Run(tc.route, func(t *testing.T) {
			t.Parallel()
			pl := d.PluginFor(LegacyAuth, routes[tc.route])
			if pl == nil {
				t.Fatal("no plugin")
			}
			if got := pl.Config["auth_url"]; got != tc.want {
				t.Errorf("picked %s (auth_url %v), want %s", pl.Where, got, tc.want)
			}
		})
	}
	if pl := d.PluginFor("rate-limiting", routes["r-route"]); pl != nil {
		t.Errorf("rate-limiting found at %s", pl.Where)
	}
}

func TestUpstreamPath(t *testing.T) {
	t.Parallel()
	// Kong 3 path_handling v0 (its default), from kong/router/utils.lua.
	tests := []struct {
		base  string
		strip bool
		path  string
		route string
		want  string
	}{
		{"", true, "/api", "/api", "/"},
		{"", true, "/api/x", "/api", "/x"},
		{"", true, "/api/", "/api", "/"},
		{"", false, "/api/x", "/api", "/api/x"},
		{"/s", true, "/fv0req", "/fv0", "/s/req"},
		{"/s", true, "/fv0/req", "/fv0", "/s/req"},
		{"/s/", true, "/fv0req", "/fv0", "/s/req"},
		{"/s/", true, "/fv0/req", "/fv0", "/s/req"},
		{"/s", true, "/fv0/req", "/fv0/", "/s/req"},
		{"/s/", true, "/fv0/req", "/fv0/", "/s/req"},
		{"/s", false, "/fv0req", "/fv0", "/s/fv0req"},
		{"/s/", false, "/fv0req", "/fv0", "/s/fv0req"},
		{"/s", true, "/api", "/api", "/s"},
		{"/s", true, "/api/", "/api", "/s/"},
		{"/s/", true, "/api", "/api", "/s"},
		{"/s/", true, "/api/", "/api/", "/s/"},
		{"/s", false, "/", "/", "/s"},
		{"/s", true, "/x/y", "", "/s/x/y"}, // methods-only route
		{"/s", true, "/api../x", "/api", "/s/x"},
	}
	for _, tc := range tests {
		if got := upstreamPath(tc.base, tc.strip, tc.path, tc.route); got != tc.want {
			t.Errorf("upstreamPath(%q, strip=%v, %q, route %q) = %q, want %q", tc.base, tc.strip, tc.path, tc.route, got, tc.want)
		}
	}
}

func TestNormalizePath(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"":               "/",
		"/":              "/",
		"/a/b":           "/a/b",
		"/a/b/":          "/a/b/",
		"//a///b":        "/a/b",
		"/public/../api": "/api",
		"/a/./b/.":       "/a/b/",
		"/../../etc":     "/etc",
		"/api/x/..":      "/api/",
	}
	for in, want := range tests {
		if got := normalizePath(in); got != want {
			t.Errorf("normalizePath(%q) = %q, want %q", in, got, want)
		}
	}
}
