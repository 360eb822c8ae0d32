// Package konglua runs a go-pdk plugin server behind Kong's own Lua code in
// a real nginx, through the kong-lua tool that sits beside the repository
// (../shared/kong-lua, or $KONG_LUA_DIR): Kong's plugin-server RPC, PDK,
// schema processing and Kong.access, unchanged, with nginx and
// lua-nginx-module from Debian's packages. Its tests (konglua_test.go) are
// the tier that shows the plugin as Kong's Lua drives it; test/bench uses
// the same helpers to measure the plugin's price inside Kong's runloop.
//
// The tool is not part of this repository: a user's clone has no
// ../shared, so Find reports it absent and the tests skip (they fail when
// CI=true, where the tool must be present).
package konglua

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// DirEnv overrides where the kong-lua tool is.
const DirEnv = "KONG_LUA_DIR"

// Packages are the Debian packages kong-lua's setup.sh needs (its pkgs
// list); .ci/run installs them. Tests never install anything: they skip
// (or fail in CI) naming what is missing.
var Packages = []string{"nginx", "libnginx-mod-http-lua", "lua-resty-core", "lua-resty-lrucache", "luajit2",
	"libluajit2-5.1-dev", "lua-cjson", "lua-penlight", "lua-lpeg", "lua-filesystem", "lua-socket", "gcc", "curl", "python3"}

// ErrAbsent means the tool or the packages it needs are not on this machine.
var ErrAbsent = errors.New("kong-lua is not available")

// Find returns the kong-lua folder: $KONG_LUA_DIR, else ../shared/kong-lua
// beside the module root. It wraps ErrAbsent when the folder or a Debian
// package it needs is missing.
func Find() (string, error) {
	dir := os.Getenv(DirEnv)
	if dir == "" {
		root, err := moduleRoot()
		if err != nil {
			return "", err
		}
		dir = filepath.Join(filepath.Dir(root), "shared", "kong-lua")
	}
	if _, err := os.Stat(filepath.Join(dir, "start.sh")); err != nil {
		return "", fmt.Errorf("%w: no %s (set %s to its folder)", ErrAbsent, filepath.Join(dir, "start.sh"), DirEnv)
	}
	if missing := missingPackages(); len(missing) > 0 {
		return "", fmt.Errorf("%w: missing Debian packages (apt-get install %s)", ErrAbsent, strings.Join(missing, " "))
	}
	return dir, nil
}

func missingPackages() []string {
	var missing []string
	for _, p := range Packages {
		out, err := exec.Command("dpkg-query", "-W", "-f=${Status}", p).Output()
		if err != nil || !strings.Contains(string(out), "install ok installed") {
			missing = append(missing, p)
		}
	}
	return missing
}

// moduleRoot is the folder of go.mod, found upwards from the working
// directory (a test runs in its package's folder).
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("konglua: no go.mod above the working directory")
		}
		dir = parent
	}
}

// Route is one entry of kong-lua's routes file.
type Route struct {
	Name     string   `json:"name,omitempty"`
	Paths    []string `json:"paths"`
	Upstream string   `json:"upstream"` // a URL, or "echo" (kong-lua's built-in echo upstream)
	// Config is the plugin's config on this route, as in a deck file; nil:
	// no plugin (the no-plugin baseline).
	Config    map[string]any `json:"-"`
	LuaSeed   bool           `json:"lua_seed,omitempty"` // the Lua original's cache-hit path instead of the plugin
	StripPath *bool          `json:"strip_path,omitempty"`
	// ExposeKongCtx: the upstream request carries what later plugins would
	// read (X-Kong-Lua-Groups, -Credential, -Consumer, as JSON).
	ExposeKongCtx bool `json:"expose_kong_ctx,omitempty"`
}

func (r Route) MarshalJSON() ([]byte, error) {
	type plain Route
	out := struct {
		plain
		Plugin map[string]any `json:"plugin,omitempty"`
	}{plain: plain(r)}
	if r.Config != nil {
		out.Plugin = map[string]any{"config": r.Config}
	}
	return json.Marshal(out)
}

// Options are start.sh's optional settings.
type Options struct {
	Quiet      bool     // no access log, error log at warn (for measuring)
	PluginArgs []string // flags for the plugin server after -kong-prefix
	// Lenient starts even when Kong's schema rejects a route's config
	// (that route answers 500); by default start.sh runs with --strict.
	Lenient bool
}

// Instance is a running kong-lua: nginx with Kong's Lua, and the plugin
// server start.sh started.
type Instance struct {
	URL  string // http://127.0.0.1:PORT
	Run  string // the run folder (logs, PIDs)
	dir  string
	bin  string
	args []string
}

// Start runs start.sh with bin as the plugin server and routes, in run (a
// short folder: the plugin's socket path must fit in 107 bytes).
func Start(ctx context.Context, dir, bin, run string, routes []Route, opt Options) (*Instance, error) {
	if err := os.MkdirAll(run, 0o755); err != nil {
		return nil, err
	}
	b, err := json.Marshal(routes)
	if err != nil {
		return nil, err
	}
	routesFile := filepath.Join(run, "routes-in.json")
	if err := os.WriteFile(routesFile, b, 0o644); err != nil {
		return nil, err
	}
	args := []string{"--plugin", bin, "--routes", routesFile, "--run", run}
	if !opt.Lenient {
		args = append(args, "--strict")
	}
	if opt.Quiet {
		args = append(args, "--quiet")
	}
	if len(opt.PluginArgs) > 0 {
		args = append(append(args, "--"), opt.PluginArgs...)
	}
	// start.sh takes a process whose /proc/<pid>/cmdline reads empty for
	// a zombie; a process caught in the middle of its execve reads empty
	// too, so on a loaded machine start.sh now and then stops a plugin
	// server that was just starting ("exited while starting", with a
	// plugin.log that is empty or shows the server listening, no error).
	// Such a start is retried; any other failure is not.
	for attempt := 1; ; attempt++ {
		cmd := exec.CommandContext(ctx, filepath.Join(dir, "start.sh"), args...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		_, err := cmd.Output()
		if err == nil {
			break
		}
		log, _ := os.ReadFile(filepath.Join(run, "plugin.log"))
		healthy := len(log) == 0 || (bytes.Contains(log, []byte("Listening on socket")) && !bytes.Contains(log, []byte("level=ERROR")))
		if attempt < 3 && strings.Contains(stderr.String(), "exited while starting") && healthy {
			continue
		}
		return nil, fmt.Errorf("kong-lua start.sh: %w\n%s", err, stderr.String())
	}
	listen, err := os.ReadFile(filepath.Join(run, "listen"))
	if err != nil {
		return nil, err
	}
	return &Instance{URL: "http://" + strings.TrimSpace(string(listen)), Run: run, dir: dir, bin: bin, args: opt.PluginArgs}, nil
}

// Stop runs stop.sh: nginx, then the plugin server (also one started by
// RestartPlugin, whose PID is in the same file).
func (i *Instance) Stop() error {
	out, err := exec.Command(filepath.Join(i.dir, "stop.sh"), "--run", i.Run).CombinedOutput()
	if err != nil {
		return fmt.Errorf("kong-lua stop.sh: %w\n%s", err, out)
	}
	return nil
}

// PluginPID is the plugin server's process id.
func (i *Instance) PluginPID() (int, error) { return i.pid("plugin.pid") }

// NginxWorkerPID is the pid of nginx's (only) worker, which runs Kong's Lua.
func (i *Instance) NginxWorkerPID() (int, error) {
	master, err := i.pid("nginx.pid")
	if err != nil {
		return 0, err
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", master, master))
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(b))
	if len(f) != 1 {
		return 0, fmt.Errorf("nginx master %d has %d children, want 1 worker", master, len(f))
	}
	return strconv.Atoi(f[0])
}

func (i *Instance) pid(name string) (int, error) {
	b, err := os.ReadFile(filepath.Join(i.Run, name))
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

// KillPlugin kills the plugin server (SIGKILL) and waits until it is gone.
// kong-lua does not respawn it (Debian's lua-nginx-module has no ngx.pipe,
// so Kong's process.lua cannot): requests fail until RestartPlugin.
func (i *Instance) KillPlugin(ctx context.Context) error {
	pid, err := i.PluginPID()
	if err != nil {
		return err
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		return fmt.Errorf("killing plugin server %d: %w", pid, err)
	}
	for {
		// start.sh's setsid child is reparented to init, which reaps it.
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			return nil
		}
		if zombie(pid) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("plugin server %d still running: %w", pid, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func zombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	s := string(b)
	if j := strings.LastIndexByte(s, ')'); j >= 0 && j+2 < len(s) {
		return s[j+2] == 'Z'
	}
	return false
}

// RestartPlugin starts the plugin server again as start.sh does, the way
// Kong's process.lua respawns it (`BIN -kong-prefix RUN/kong ARGS`), in its
// own session, and waits for its socket. Its PID replaces plugin.pid so
// that Stop stops it.
func (i *Instance) RestartPlugin(ctx context.Context) error {
	prefix := filepath.Join(i.Run, "kong")
	socket := filepath.Join(prefix, filepath.Base(i.bin)+".socket")
	os.Remove(socket) // a killed server leaves it behind; waiting below needs the new one
	log, err := os.OpenFile(filepath.Join(i.Run, "plugin.log"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	defer log.Close()
	cmd := exec.Command(i.bin, append([]string{"-kong-prefix", prefix}, i.args...)...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("restarting the plugin server: %w", err)
	}
	pid := cmd.Process.Pid
	go cmd.Wait() // reap it when it exits
	if err := os.WriteFile(filepath.Join(i.Run, "plugin.pid"), []byte(strconv.Itoa(pid)+"\n"), 0o644); err != nil {
		return err
	}
	for {
		if _, err := os.Stat(socket); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("plugin server socket %s: %w", socket, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// ErrorLog returns nginx's error log (Kong's log lines, RPC errors).
func (i *Instance) ErrorLog() string {
	b, _ := os.ReadFile(filepath.Join(i.Run, "nginx", "logs", "error.log"))
	return string(b)
}

// PluginLog returns the plugin server's output.
func (i *Instance) PluginLog() string {
	b, _ := os.ReadFile(filepath.Join(i.Run, "plugin.log"))
	return string(b)
}
