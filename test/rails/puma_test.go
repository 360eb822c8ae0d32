package rails

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDemoUnderPuma: what make bench's surge section runs (issue 20, item
// 6): run-demo with PUMA_THREADS serves through Debian's Puma, with the
// bulk users DEMO_BULK_USERS seeds and the verify work DEMO_VERIFY_WORK_MS
// adds, counting its verify calls.
func TestDemoUnderPuma(t *testing.T) {
	requireRails(t)
	if err := exec.Command("ruby", "-e", `require "puma"`).Run(); err != nil {
		msg := "Puma is not installed (apt-get install puma)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(root, "examples", "rails", "run-demo"), fmt.Sprint(port))
	cmd.Env = append(os.Environ(), "PUMA_THREADS=2", "DEMO_VERIFY_WORK_MS=50", "DEMO_BULK_USERS=3", "DEMO_LOG_LEVEL=warn")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var errOut strings.Builder
	cmd.Stderr = &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.Contains(line, "Puma, 2 threads") {
		t.Fatalf("run-demo under Puma: %q %v\n%s", line, err, errOut.String())
	}
	go func() { _, _ = io.Copy(io.Discard, out) }()

	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	c := http.Client{Timeout: 10 * time.Second}
	verify := func(tok string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, base+"/internal/auth/verify", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		var res *http.Response
		for range 100 { // Puma prints its line before it serves
			if res, err = c.Do(req); err == nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	start := time.Now()
	if status, body := verify("tok-bulk-2"); status != 200 || !strings.Contains(body, `"user_id":1000002`) {
		t.Fatalf("bulk user: %d %s", status, body)
	}
	if took := time.Since(start); took < 50*time.Millisecond {
		t.Errorf("a verify took %s: DEMO_VERIFY_WORK_MS=50 not applied", took)
	}
	if status, _ := verify("tok-bulk-4"); status != 401 {
		t.Errorf("a user beyond DEMO_BULK_USERS: %d, want 401", status)
	}
	res, err := c.Get(base + "/__calls")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var calls struct{ Calls int }
	if err := json.NewDecoder(res.Body).Decode(&calls); err != nil || calls.Calls != 2 {
		t.Errorf("verify calls counted %d (%v), want 2", calls.Calls, err)
	}
}
