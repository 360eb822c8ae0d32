package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/legacy-auth/legacy-auth/internal/kongsim"
)

// The suite's shared state, set up once by TestMain.
var (
	// pluginBin is the legacy-auth binary built from this module.
	pluginBin string
	// dump is the binary's -dump output, and schema the plugin schema Kong
	// would load from it (ValidateSubSchema passed).
	dump   *kongsim.Dump
	schema map[string]any
	// shared is the one plugin server most tests use, as one Kong node
	// runs one plugin server for every configured plugin.
	shared *kongsim.Server
	// sharedOut is everything the shared server's plugin process wrote,
	// plus the simulator's Kong-side lines.
	sharedOut = &syncBuffer{}
	// pluginSources are the module's files the binary is built from.
	pluginSources []string
)

// Names the harness uses for the plugin.
const pluginName = "legacy-auth"

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "legacy-auth-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)

	if err := setup(dir); err != nil {
		fmt.Fprintln(os.Stderr, "e2e setup:", err)
		if shared != nil {
			_ = shared.Close()
		}
		return 1
	}
	code := m.Run()
	if err := shared.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: closing the shared plugin server:", err)
	}
	// The credential-leak check covers the output of the whole suite, so
	// it runs after every test (parallel ones included) has finished.
	if !checkNoCredentialInOutput() {
		code = 1
	}
	return code
}

// setup builds the binary, queries its dump like Kong's loader and starts
// the shared plugin server.
func setup(dir string) error {
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	// go-pdk names the plugin and its socket after the executable, so the
	// binary must be called legacy-auth. A short prefix keeps the socket
	// path under the 107 bytes a unix socket allows.
	pluginBin = filepath.Join(dir, pluginName)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, "go", "build", "-o", pluginBin, "./cmd/legacy-auth")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/legacy-auth: %v\n%s", err, out)
	}

	if pluginSources, err = sourcesOf(ctx, root, "./cmd/legacy-auth"); err != nil {
		return err
	}

	qctx, qcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer qcancel()
	if dump, err = kongsim.QueryDump(qctx, pluginBin); err != nil {
		return fmt.Errorf("query dump: %w", err)
	}
	if len(dump.Plugins) == 0 {
		return fmt.Errorf("dump lists no plugin")
	}
	schema = dump.Plugins[0].Schema
	if err := kongsim.ValidateSubSchema(schema); err != nil {
		return fmt.Errorf("plugin schema would not load in Kong: %w", err)
	}

	sctx, scancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer scancel()
	shared, err = kongsim.StartServer(sctx, pluginBin, kongsim.ServerOptions{
		Prefix: mustMkdir(dir, "kong"),
		Output: sharedOut,
	})
	if err != nil {
		return fmt.Errorf("starting the shared plugin server: %w", err)
	}
	return nil
}

func mustMkdir(dir, name string) string {
	p := filepath.Join(dir, name)
	_ = os.MkdirAll(p, 0o755)
	return p
}

// moduleRoot is the directory of go.mod: `go env GOMOD`, else walking up
// from the working directory.
func moduleRoot() (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output(); err == nil {
		if p := strings.TrimSpace(string(out)); p != "" && p != os.DevNull {
			return filepath.Dir(p), nil
		}
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for range 64 {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	return "", fmt.Errorf("go.mod not found above the working directory")
}

// sourcesOf lists the files of this module that go into building pkg
// (its non-standard dependencies inside root, plus go.mod and go.sum).
func sourcesOf(ctx context.Context, root, pkg string) ([]string, error) {
	cmd := exec.CommandContext(ctx, "go", "list", "-deps",
		"-f", `{{if not .Standard}}{{.Dir}}{{range .GoFiles}}{{"\t"}}{{.}}{{end}}{{range .EmbedFiles}}{{"\t"}}{{.}}{{end}}{{end}}`, pkg)
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list -deps %s: %w", pkg, err)
	}
	files := []string{filepath.Join(root, "go.mod"), filepath.Join(root, "go.sum")}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, "\t")
		if len(f) < 2 || !strings.HasPrefix(f[0], root+string(filepath.Separator)) {
			continue // the standard library or the module cache: versioned
		}
		for _, name := range f[1:] {
			files = append(files, filepath.Join(f[0], name))
		}
	}
	return files, nil
}

var sourcesOnce sync.Once

// trackPluginSources opens every source file of the plugin binary from
// inside the test run. go test caches a package's result keyed on the
// files the test process opened; the binary is built by a go build
// subprocess, so without this a cached "ok" would survive plugin edits.
// (Opens in TestMain before m.Run are not recorded, hence a test-time call,
// made by config and the dump tests.)
func trackPluginSources() {
	sourcesOnce.Do(func() {
		for _, f := range pluginSources {
			if fh, err := os.Open(f); err == nil {
				fh.Close()
			}
		}
	})
}
