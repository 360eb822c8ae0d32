package gateway

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// binDir holds the binaries the end-to-end tests build, once per run.
var (
	binDir   string
	buildsMu sync.Mutex
	builds   = map[string]*buildResult{}
)

type buildResult struct {
	once sync.Once
	path string
	err  error
}

func TestMain(m *testing.M) {
	if os.Getenv(fakeRailsEnv) == "1" {
		os.Exit(fakeRails(os.Args[1:])) // this binary, started as a Rails demo script
	}
	dir, err := os.MkdirTemp("", "lgw-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// buildBinary builds ./cmd/<name> of this module once per test run and
// returns its path. A build failure fails the test: the end-to-end tests
// are the point of running against the real plugin binary.
func buildBinary(t *testing.T, name string) string {
	t.Helper()
	buildsMu.Lock()
	b := builds[name]
	if b == nil {
		b = &buildResult{}
		builds[name] = b
	}
	buildsMu.Unlock()
	b.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		out := filepath.Join(binDir, name)
		cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./cmd/"+name)
		cmd.Dir = filepath.Join("..", "..") // the module root
		if msg, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("go build ./cmd/%s: %v\n%s", name, err, msg)
			return
		}
		b.path = out
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}
