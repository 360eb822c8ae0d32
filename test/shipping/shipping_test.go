// Package shipping checks that the ways users meet the plugin agree with
// each other and with the binary: the Dockerfile, kong/kong.conf, the deck
// file kong/kong.yml and the compose stack. No Docker engine runs where
// these tests run, so they check the contract instead of building images.
package shipping

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/legacy-auth/legacy-auth/internal/gateway"
	"github.com/legacy-auth/legacy-auth/internal/kongsim"
	"go.yaml.in/yaml/v3"
)

func root(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Dir(strings.TrimSpace(string(out)))
}

// build compiles the plugin as the Dockerfile does and returns its path.
func build(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "legacy-auth")
	cmd := exec.Command("go", "build", "-trimpath", "-o", bin, "./cmd/legacy-auth")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// dockerEnv reads the ENV instructions of a Dockerfile (KEY=VALUE form,
// continuation lines joined).
func dockerEnv(t *testing.T, path string) (env map[string]string, text string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text = strings.ReplaceAll(string(b), "\\\n", " ")
	env = map[string]string{}
	pair := regexp.MustCompile(`([A-Z_][A-Z0-9_]*)=("([^"]*)"|\S+)`)
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "ENV ") {
			continue
		}
		for _, m := range pair.FindAllStringSubmatch(line, -1) {
			v := m[2]
			if m[3] != "" || strings.HasPrefix(v, `"`) {
				v = m[3]
			}
			env[m[1]] = v
		}
	}
	return env, text
}

// kongConf reads key = value lines of a kong.conf.
func kongConf(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	conf := map[string]string{}
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := strings.TrimSpace(s.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Errorf("kong.conf: not a key = value line: %q", line)
			continue
		}
		conf[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return conf
}

func TestDockerfileAgreesWithKongConfAndBinary(t *testing.T) {
	dir := root(t)
	env, text := dockerEnv(t, filepath.Join(dir, "Dockerfile"))
	conf := kongConf(t, filepath.Join(dir, "kong", "kong.conf"))
	bin := build(t, dir)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dump, err := kongsim.QueryDump(ctx, bin, "-kong-prefix", "/usr/local/kong")
	if err != nil {
		t.Fatal(err)
	}
	info, err := dump.Plugin("legacy-auth")
	if err != nil {
		t.Fatal(err)
	}
	name := info.Name

	// Kong's conf loader (kong/conf_loader/init.lua) derives the property
	// prefix from each pluginserver name: "pluginserver_" .. name:gsub("-", "_").
	prefix := "pluginserver_" + strings.ReplaceAll(name, "-", "_")
	for _, key := range []string{"plugins", "pluginserver_names", prefix + "_socket", prefix + "_start_cmd", prefix + "_query_cmd"} {
		envKey := "KONG_" + strings.ToUpper(key)
		if conf[key] == "" {
			t.Errorf("kong.conf lacks %s", key)
		}
		if env[envKey] != conf[key] {
			t.Errorf("Dockerfile %s=%q but kong.conf %s = %q", envKey, env[envKey], key, conf[key])
		}
	}
	if !strings.Contains(","+conf["plugins"]+",", ","+name+",") || !strings.Contains(conf["plugins"], "bundled") {
		t.Errorf("plugins = %q, want bundled and %s", conf["plugins"], name)
	}
	if conf["pluginserver_names"] != name {
		t.Errorf("pluginserver_names = %q, binary reports %q", conf["pluginserver_names"], name)
	}

	// The start command runs the copied binary with the prefix whose socket
	// Kong connects to; the query command is the same binary with -dump.
	start := strings.Fields(conf[prefix+"_start_cmd"])
	query := strings.Fields(conf[prefix+"_query_cmd"])
	if len(query) != 2 || query[1] != "-dump" || query[0] != start[0] {
		t.Errorf("query_cmd %q must be %q -dump", conf[prefix+"_query_cmd"], start[0])
	}
	if filepath.Base(start[0]) != name {
		t.Errorf("the binary must be named %s (go-pdk names the plugin after it), start_cmd runs %s", name, start[0])
	}
	if !regexp.MustCompile(`COPY --from=\S+ \S+ ` + regexp.QuoteMeta(start[0]) + `\n`).MatchString(text) {
		t.Errorf("the Dockerfile does not COPY the binary to %s", start[0])
	}
	if len(start) < 3 || start[1] != "-kong-prefix" {
		t.Fatalf("start_cmd %q: want <binary> -kong-prefix <dir> [flags]", conf[prefix+"_start_cmd"])
	}
	// Settings reach the plugin server as flags of start_cmd (Kong spawns
	// it from an nginx worker, whose environment nginx clears): the binary
	// must accept every one of them.
	if out, err := exec.CommandContext(ctx, bin, append(start[1:], "-version")...).CombinedOutput(); err != nil {
		t.Errorf("the binary refuses start_cmd's flags %q: %v\n%s", start[1:], err, out)
	}
	if !strings.Contains(conf[prefix+"_start_cmd"], "-log-level") {
		t.Errorf("start_cmd %q sets no -log-level: show where the plugin's settings go", conf[prefix+"_start_cmd"])
	}
	for key := range env {
		if strings.HasPrefix(key, "LEGACY_AUTH_") {
			t.Errorf("Dockerfile sets %s: nginx clears its workers' environment, so it never reaches the plugin server (use a flag in start_cmd)", key)
		}
	}
	if want := filepath.Join(start[2], name+".socket"); conf[prefix+"_socket"] != want || dump.SocketPath != want {
		t.Errorf("socket: kong.conf %q, binary with -kong-prefix %s listens on %q, want %q", conf[prefix+"_socket"], start[2], dump.SocketPath, want)
	}

	// Build and image conventions of the issue: static, trimmed, stamped, non-root.
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "-X github.com/legacy-auth/legacy-auth/plugin.Version=", "ARG KONG_VERSION=3.", "FROM kong:${KONG_VERSION}"} {
		if !strings.Contains(text, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	users := regexp.MustCompile(`(?m)^USER\s+(\S+)`).FindAllStringSubmatch(text, -1)
	if len(users) == 0 || users[len(users)-1][1] != "kong" {
		t.Errorf("the image must end on Kong's non-root user (USER kong), got %v", users)
	}
	if _, err := os.Stat(filepath.Join(dir, ".dockerignore")); err != nil {
		t.Errorf(".dockerignore: %v", err)
	}
}

// TestDeckFile validates every legacy-auth config of kong/kong.yml against
// the schema the binary dumps, as Kong's declarative loader would, and
// checks the rate-limiting plugin limits by the header legacy-auth sets.
// TestDeckFile checks kong/kong.yml is safe to copy: every legacy-auth
// config passes the plugin's schema, every route runs legacy-auth (public
// ones with allow_anonymous, so forged identity headers never reach an
// upstream), Rails' verify endpoint is blocked, auth_url is written once,
// and rate-limiting limits by the header legacy-auth injects.
func TestDeckFile(t *testing.T) {
	dir := root(t)
	bin := build(t, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dump, err := kongsim.QueryDump(ctx, bin)
	if err != nil {
		t.Fatal(err)
	}
	info, err := dump.Plugin("legacy-auth")
	if err != nil {
		t.Fatal(err)
	}
	deck, err := gateway.LoadDeck(filepath.Join(dir, "kong", "kong.yml"))
	if err != nil {
		t.Fatal(err)
	}

	processed := map[*gateway.Plugin]map[string]any{}
	authURLs := map[string]bool{}
	for _, pl := range deck.Plugins {
		if pl.Name != gateway.LegacyAuth {
			continue
		}
		conf, err := kongsim.ProcessConfig(info.Schema, pl.Config)
		if err != nil {
			t.Errorf("%s: %v", pl.Where, err)
			continue
		}
		processed[pl] = conf
		authURLs[conf["auth_url"].(string)] = true
	}
	if len(authURLs) != 1 {
		t.Errorf("legacy-auth entries use %d auth_urls, want one: %v", len(authURLs), authURLs)
	}
	for u := range authURLs {
		if n := strings.Count(deckText(t, dir), u); n != 1 {
			t.Errorf("auth_url %s is written %d times in kong.yml, want once (an anchor)", u, n)
		}
	}

	public := map[string]bool{"rails-route": true, "rails-internal-blocked": true, "bff-health-route": true}
	authenticated := 0
	for _, r := range deck.Routes {
		pl := deck.PluginFor(gateway.LegacyAuth, r)
		if pl == nil {
			t.Errorf("route %s runs no legacy-auth: client-sent X-User-ID would reach its upstream", r.Name)
			continue
		}
		anonymous := processed[pl]["allow_anonymous"] == true
		if anonymous != public[r.Name] {
			t.Errorf("route %s: allow_anonymous %v, want %v", r.Name, anonymous, public[r.Name])
		}
		if !anonymous {
			authenticated++
		}
		if rl := deck.PluginFor("rate-limiting", r); rl != nil {
			want := processed[pl]["user_id_header"].(string)
			if anonymous || rl.Config["limit_by"] != "header" || !strings.EqualFold(rl.Config["header_name"].(string), want) {
				t.Errorf("route %s: rate-limiting must limit authenticated users by the injected %s header, config %v", r.Name, want, rl.Config)
			}
		}
	}
	if authenticated < 3 {
		t.Errorf("%d authenticated routes, want one per new service (3)", authenticated)
	}

	// Every way to ask for the verify endpoint through the Rails route
	// lands on a route that request-termination closes.
	for _, p := range []string{"/rails/internal/auth/verify", "/rails/internal/auth/verify.json", "/rails//internal/auth/verify",
		"/rails/./internal/auth/verify", "/rails/x/../internal/auth/verify", "/rails/%69nternal/auth/verify"} {
		for _, method := range []string{"GET", "POST"} {
			r := deck.RouteFor(method, p)
			if r == nil {
				continue // no route: Kong answers 404
			}
			term := deck.PluginFor(gateway.RequestTermination, r)
			if term == nil {
				t.Errorf("%s %s reaches route %s without request-termination", method, p, r.Name)
				continue
			}
			if code, _ := term.Config["status_code"].(float64); code < 400 || code > 499 {
				t.Errorf("%s %s: request-termination answers %v, want a 4xx", method, p, term.Config["status_code"])
			}
		}
	}
	if !strings.Contains(deckText(t, dir), "_format_version: \"3.0\"") {
		t.Errorf("kong.yml must declare _format_version \"3.0\"")
	}
}

func deckText(t *testing.T, dir string) string {
	b, err := os.ReadFile(filepath.Join(dir, "kong", "kong.yml"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestComposeStack checks the compose file runs Kong DB-less on kong/kong.yml
// with the image built from the Dockerfile.
func TestComposeStack(t *testing.T) {
	dir := root(t)
	b, err := os.ReadFile(filepath.Join(dir, "examples", "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Services map[string]struct {
			Build struct {
				Context    string `yaml:"context"`
				Dockerfile string `yaml:"dockerfile"`
			} `yaml:"build"`
			Environment map[string]string `yaml:"environment"`
			Volumes     []string          `yaml:"volumes"`
			Ports       []string          `yaml:"ports"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	kong, ok := c.Services["kong"]
	if !ok {
		t.Fatal("no kong service")
	}
	// DB-less Kong's Admin API accepts POST /config (a whole new
	// configuration): listened on inside the container only, never
	// published (issue 18, item 8).
	admin := kong.Environment["KONG_ADMIN_LISTEN"]
	for _, l := range strings.Split(admin, ",") {
		if l = strings.TrimSpace(l); !strings.HasPrefix(l, "127.0.0.1:") && l != "off" {
			t.Errorf("KONG_ADMIN_LISTEN %q listens beyond the container's loopback", admin)
		}
	}
	for _, p := range kong.Ports {
		if strings.HasSuffix(p, ":8001") || strings.HasSuffix(p, ":8444") {
			t.Errorf("the Admin API port is published: %q", p)
		}
	}
	if filepath.Join("examples", kong.Build.Context, kong.Build.Dockerfile) != "Dockerfile" {
		t.Errorf("kong is not built from the top-level Dockerfile: %+v", kong.Build)
	}
	if kong.Environment["KONG_DATABASE"] != "off" {
		t.Errorf("KONG_DATABASE = %q, want off (DB-less)", kong.Environment["KONG_DATABASE"])
	}
	decl := kong.Environment["KONG_DECLARATIVE_CONFIG"]
	mounted := false
	for _, v := range kong.Volumes {
		if strings.HasPrefix(v, "../kong/kong.yml:"+decl) {
			mounted = true
		}
	}
	if !mounted {
		t.Errorf("KONG_DECLARATIVE_CONFIG %q is not ../kong/kong.yml mounted: %v", decl, kong.Volumes)
	}
	for _, name := range []string{"rails-app", "axum-app", "quarkus-app", "fastify-bff"} {
		if _, ok := c.Services[name]; !ok {
			t.Errorf("compose lacks %s, which kong/kong.yml routes to", name)
		}
	}
}

// TestComposeRailsApp checks the compose stack's rails-app is the Rails
// demo app of examples/rails, built from its Dockerfile and started by
// run-demo on the port kong/kong.yml's auth_url names, listening beyond
// the container's loopback.
func TestComposeRailsApp(t *testing.T) {
	dir := root(t)
	b, err := os.ReadFile(filepath.Join(dir, "examples", "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Services map[string]struct {
			Build struct {
				Context string `yaml:"context"`
			} `yaml:"build"`
			Image  string   `yaml:"image"`
			Expose []string `yaml:"expose"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	rails := c.Services["rails-app"]
	if rails.Build.Context != "./rails" {
		t.Fatalf("rails-app is not built from examples/rails: %+v", rails)
	}
	docker, err := os.ReadFile(filepath.Join(dir, "examples", "rails", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(docker)
	for _, want := range []string{"FROM ruby:", `CMD ["./run-demo", "3000"]`, "BIND=0.0.0.0"} {
		if !strings.Contains(text, want) {
			t.Errorf("examples/rails/Dockerfile lacks %q", want)
		}
	}
	if !strings.Contains(deckText(t, dir), "http://rails-app:3000/internal/auth/verify") || len(rails.Expose) != 1 || rails.Expose[0] != "3000" {
		t.Errorf("kong/kong.yml's auth_url and rails-app's port 3000 disagree (expose %v)", rails.Expose)
	}
	if _, err := os.Stat(filepath.Join(dir, "examples", "rails", "run-demo")); err != nil {
		t.Error(err)
	}
}
