package gateway

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// processesOf lists the pids whose executable is bin (Linux /proc).
func processesOf(bin string) []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		var pid int
		if _, err := fmt.Sscanf(e.Name(), "%d", &pid); err != nil {
			continue
		}
		exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		if err == nil && exe == bin {
			pids = append(pids, pid)
		}
	}
	return pids
}

var listenLine = regexp.MustCompile(`legacy-gateway listening.* addr=http://(\S+)`)

// TestCommandInterrupt runs the real command and checks that SIGINT stops
// the server and the plugin process, with exit status 0.
func TestCommandInterrupt(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat("/proc/self/exe"); err != nil {
		t.Skip("needs /proc to find the plugin process")
	}
	gw := buildBinary(t, "legacy-gateway")
	plugin := buildBinary(t, "legacy-auth")
	b := newBackends(t)
	cfg := filepath.Join(t.TempDir(), "kong.yml")
	deck := b.deck(fmt.Sprintf(`{auth_url: %q}`, b.auth.VerifyURL()))
	if err := os.WriteFile(cfg, []byte(deck), 0o600); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, gw, "-config", cfg, "-plugin", plugin, "-listen", "127.0.0.1:0")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() }) // only if the test failed midway

	addr := make(chan string, 1)
	var logLines strings.Builder
	logDone := make(chan struct{})
	go func() {
		defer close(logDone)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			logLines.WriteString(sc.Text() + "\n")
			if m := listenLine.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
			}
		}
	}()
	var base string
	select {
	case a := <-addr:
		base = "http://" + a
	case <-logDone:
		t.Fatalf("the gateway exited before listening: %v\n%s", cmd.Wait(), logLines.String())
	case <-time.After(30 * time.Second):
		t.Fatal("the gateway did not report its address in 30s")
	}

	if status, body, _ := call(t, base, "GET", HealthPath, nil); status != http.StatusOK {
		t.Fatalf("health: %d %s", status, body)
	}
	if status, body, _ := call(t, base, "GET", "/api/x", map[string]string{"Authorization": "Bearer alice"}); status != http.StatusOK {
		t.Fatalf("authenticated call: %d %s", status, body)
	}
	if len(processesOf(plugin)) == 0 {
		t.Fatal("no plugin process found while the gateway runs")
	}

	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	<-logDone // stderr closes when the process exits
	err = cmd.Wait()
	if err != nil {
		t.Fatalf("exit after SIGINT: %v\n%s", err, logLines.String())
	}
	// The plugin process must be gone too (bounded wait for the reaper).
	deadline := time.Now().Add(30 * time.Second)
	for len(processesOf(plugin)) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("plugin processes still running after shutdown: %v", processesOf(plugin))
		}
		time.Sleep(50 * time.Millisecond)
	}
}
