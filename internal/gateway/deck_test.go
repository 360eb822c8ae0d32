package gateway

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

const fullDeck = `
_format_version: "3.0"
_transform: true
services:
  - name: api
    url: http://127.0.0.1:8081/base
    routes:
      - name: api-route
        paths: [/api]
        plugins:
          - name: legacy-auth
            config: {auth_url: "http://127.0.0.1:3000/verify", timeout: 500}
    plugins:
      - name: legacy-auth
        route: other
        config: {auth_url: "http://127.0.0.1:3000/verify"}
      - name: rate-limiting
        enabled: false
        config: {minute: 5}
  - name: plain
    protocol: http
    host: localhost
    port: 9000
    path: /p
routes:
  - name: other
    service: plain
    paths: [/other, /o]
    methods: [GET, POST]
    strip_path: false
  - name: orphan
    service: {name: api}
    paths: [/orphan]
plugins:
  - name: legacy-auth
    config: {auth_url: "http://127.0.0.1:3000/verify"}
  - name: cors
    protocols: [https]
    route: orphan
`

func TestParseDeckValid(t *testing.T) {
	t.Parallel()
	d, err := ParseDeck([]byte(fullDeck), "kong.yml")
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Services) != 2 || len(d.Routes) != 3 || len(d.Plugins) != 5 {
		t.Fatalf("got %d services, %d routes, %d plugins", len(d.Services), len(d.Routes), len(d.Plugins))
	}
	api, plain := d.Services[0], d.Services[1]
	if api.Protocol != "http" || api.Host != "127.0.0.1" || api.Port != 8081 || api.Path != "/base" {
		t.Errorf("api service = %+v", api)
	}
	if plain.Host != "localhost" || plain.Port != 9000 || plain.Path != "/p" {
		t.Errorf("plain service = %+v", plain)
	}
	byName := map[string]*Route{}
	for _, r := range d.Routes {
		byName[r.Name] = r
	}
	if r := byName["api-route"]; r.Service != api || !r.StripPath || r.Where != "services[0].routes[0]" {
		t.Errorf("api-route = %+v", r)
	}
	if r := byName["other"]; r.Service != plain || r.StripPath || !reflect.DeepEqual(r.Methods, []string{"GET", "POST"}) {
		t.Errorf("other = %+v", r)
	}
	if r := byName["orphan"]; r.Service != api {
		t.Errorf("orphan service = %v", r.Service)
	}

	type scope struct{ route, service string }
	got := map[string]scope{}
	for _, p := range d.Plugins {
		var s scope
		if p.Route != nil {
			s.route = p.Route.Name
		}
		if p.Service != nil {
			s.service = p.Service.Name
		}
		got[p.Name+"@"+p.Where] = s
	}
	want := map[string]scope{
		"legacy-auth@services[0].routes[0].plugins[0]": {route: "api-route"},
		"legacy-auth@services[0].plugins[0]":           {route: "other", service: "api"},
		"rate-limiting@services[0].plugins[1]":         {service: "api"},
		"legacy-auth@plugins[0]":                       {},
		"cors@plugins[1]":                              {route: "orphan"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("plugin scopes:\n got %v\nwant %v", got, want)
	}
	for _, p := range d.Plugins {
		if p.Name == "rate-limiting" && p.Enabled {
			t.Error("enabled: false ignored")
		}
		if p.Name == "legacy-auth" && p.Where == "services[0].routes[0].plugins[0]" {
			// JSON-shaped config: numbers are float64, as from Kong's Admin API.
			if p.Config["timeout"] != float64(500) {
				t.Errorf("config = %#v", p.Config)
			}
		}
	}
	// ids are UUID-shaped and stable across parses.
	d2, _ := ParseDeck([]byte(fullDeck), "kong.yml")
	for i := range d.Plugins {
		if d.Plugins[i].ID != d2.Plugins[i].ID || len(d.Plugins[i].ID) != 36 {
			t.Errorf("plugin id %q vs %q", d.Plugins[i].ID, d2.Plugins[i].ID)
		}
	}
}

func TestParseDeckErrors(t *testing.T) {
	t.Parallel()
	const svc = "_format_version: \"3.0\"\nservices:\n  - name: s\n    url: http://127.0.0.1:1\n"
	tests := []struct {
		name string
		yaml string
		want []string // substrings of the error
	}{
		{"empty", "", []string{"empty"}},
		{"not yaml", "a: [", []string{"invalid YAML"}},
		{"not a mapping", "- a", []string{"top-level: expected a mapping"}},
		{"missing format", "services: []", []string{"_format_version is required"}},
		{"old format", `_format_version: "1.1"`, []string{`only "3.0"`}},
		{"unknown top key", "_format_version: \"3.0\"\nfoo: 1", []string{`kong.yml:2:`, `unknown top-level key "foo"`}},
		{"consumers", "_format_version: \"3.0\"\nconsumers: []", []string{`"consumers"`, "not supported by the local gateway"}},
		{"upstreams", "_format_version: \"3.0\"\nupstreams: []", []string{`"upstreams"`, "not supported"}},
		{"transform type", "_format_version: \"3.0\"\n_transform: yes please", []string{"_transform: expected a boolean"}},
		{"unknown service key", svc + "    retries: 3\n", []string{"services[0]", `"retries"`}},
		{"url and host", svc + "    host: x\n", []string{"url and host are mutually exclusive"}},
		{"grpc service", "_format_version: \"3.0\"\nservices:\n  - name: s\n    url: grpc://x:1\n", []string{`protocol not supported by the local gateway "grpc"`}},
		{"no host", "_format_version: \"3.0\"\nservices:\n  - name: s\n    port: 80\n", []string{"host is required"}},
		{"bad port", "_format_version: \"3.0\"\nservices:\n  - name: s\n    host: x\n    port: 70000\n", []string{"port must be between"}},
		{"port type", "_format_version: \"3.0\"\nservices:\n  - name: s\n    host: x\n    port: eighty\n", []string{"port: expected an integer"}},
		{"duplicate service", svc + "  - name: s\n    url: http://x\n", []string{`service name "s" already used by services[0]`}},
		{"duplicate key", svc + "    name: t\n", []string{`duplicate key "name"`}},
		{"unknown route key", svc + "    routes:\n      - name: r\n        paths: [/a]\n        hosts: [x]\n", []string{"services[0].routes[0]", `"hosts"`, "not supported"}},
		{"regex path", svc + "    routes:\n      - paths: [\"~/a/\\\\d+\"]\n", []string{"regex path", "not supported"}},
		{"relative path", svc + "    routes:\n      - paths: [a]\n", []string{"must start with /"}},
		{"bad method", svc + "    routes:\n      - paths: [/a]\n        methods: [get]\n", []string{`invalid method "get"`}},
		{"empty route", svc + "    routes:\n      - name: r\n", []string{"at least one of paths, methods"}},
		{"nested route with service", svc + "    routes:\n      - paths: [/a]\n        service: s\n", []string{`"service"`}},
		{"route to unknown service", svc + "routes:\n  - paths: [/a]\n    service: nope\n", []string{`no service named "nope"`}},
		{"duplicate route", svc + "routes:\n  - {name: r, paths: [/a], service: s}\n  - {name: r, paths: [/b], service: s}\n", []string{`route name "r" already used`}},
		{"strip_path type", svc + "    routes:\n      - paths: [/a]\n        strip_path: \"no\"\n", []string{"strip_path: expected a boolean"}},
		{"unknown plugin", svc + "plugins:\n  - name: legacy-authh\n", []string{`unknown plugin "legacy-authh"`, "rate-limiting"}},
		{"plugin without name", svc + "plugins:\n  - config: {}\n", []string{"plugin name is required"}},
		{"consumer plugin", svc + "plugins:\n  - name: acl\n    consumer: bob\n", []string{`"consumer"`, "not supported"}},
		{"plugin config type", svc + "plugins:\n  - name: cors\n    config: [1]\n", []string{"config: expected a mapping"}},
		{"plugin protocol", svc + "plugins:\n  - name: cors\n    protocols: [gopher]\n", []string{`unknown protocol "gopher"`}},
		{"plugin unknown route", svc + "plugins:\n  - name: cors\n    route: nope\n", []string{`no route named "nope"`}},
		{"duplicate plugin", svc + "    plugins:\n      - name: cors\nplugins:\n  - name: cors\n    service: s\n", []string{`plugin "cors" is already configured on service "s"`}},
		{"route plugin with route", svc + "    routes:\n      - paths: [/a]\n        plugins:\n          - name: cors\n            route: x\n", []string{`"route"`}},
		{"two documents", "_format_version: \"3.0\"\n---\na: 1\n", []string{"single YAML document"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseDeck([]byte(tc.yaml), "kong.yml")
			if err == nil {
				t.Fatal("no error")
			}
			var de *DeckError
			if !errors.As(err, &de) {
				t.Errorf("error %T is not a *DeckError", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// One auth_url for every plugin entry: YAML anchors, aliases and merge keys
// in plugin configs, as kong/kong.yml uses them (Kong's parser and deck's
// resolve them the same way).
func TestParseDeckAnchors(t *testing.T) {
	t.Parallel()
	const y = `_format_version: "3.0"
plugins:
  - name: legacy-auth
    config: &auth
      auth_url: http://rails:3000/internal/auth/verify
      cache_ttl: 300
services:
  - name: a
    url: http://127.0.0.1:1
    plugins:
      - name: legacy-auth
        config: *auth
  - name: b
    url: http://127.0.0.1:2
    plugins:
      - name: legacy-auth
        config:
          <<: *auth
          allow_anonymous: true
          cache_ttl: 60
`
	d, err := ParseDeck([]byte(y), "kong.yml")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string]any{
		"plugins[0]":             {"auth_url": "http://rails:3000/internal/auth/verify", "cache_ttl": float64(300)},
		"services[0].plugins[0]": {"auth_url": "http://rails:3000/internal/auth/verify", "cache_ttl": float64(300)},
		"services[1].plugins[0]": {"auth_url": "http://rails:3000/internal/auth/verify", "cache_ttl": float64(60), "allow_anonymous": true},
	}
	if len(d.Plugins) != len(want) {
		t.Fatalf("%d plugins, want %d", len(d.Plugins), len(want))
	}
	for _, p := range d.Plugins {
		if !reflect.DeepEqual(p.Config, want[p.Where]) {
			t.Errorf("%s config = %v, want %v", p.Where, p.Config, want[p.Where])
		}
	}
}

func TestLoadDeckMissingFile(t *testing.T) {
	t.Parallel()
	_, err := LoadDeck(filepath.Join(t.TempDir(), "nope.yml"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("err = %v", err)
	}
}

func TestDemoConfigParses(t *testing.T) {
	t.Parallel()
	d, err := LoadDeck("../../examples/demo/kong.yml")
	if err != nil {
		t.Fatal(err)
	}
	auth := 0
	for _, p := range d.Plugins {
		if p.Name == LegacyAuth {
			auth++
		}
	}
	if auth != 4 || len(d.Routes) != 4 {
		t.Errorf("demo config: %d legacy-auth entries, %d routes", auth, len(d.Routes))
	}
	// No route without legacy-auth: public ones take allow_anonymous.
	for _, r := range d.Routes {
		pl := d.PluginFor(LegacyAuth, r)
		if pl == nil {
			t.Errorf("route %s runs no legacy-auth", r.Name)
			continue
		}
		if anon := pl.Config["allow_anonymous"] == true; anon != (r.Name == "public") {
			t.Errorf("route %s: allow_anonymous %v", r.Name, anon)
		}
	}
}

// TestProductionConfigParses keeps the repository's kong/kong.yml (the
// command's default -config) inside the subset the gateway understands.
func TestProductionConfigParses(t *testing.T) {
	t.Parallel()
	const path = "../../kong/kong.yml"
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		t.Skip("no kong/kong.yml in this checkout")
	}
	if _, err := LoadDeck(path); err != nil {
		t.Fatal(err)
	}
}
