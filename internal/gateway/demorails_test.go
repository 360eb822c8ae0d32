package gateway

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/legacy-auth/legacy-auth/test/testutil"
)

// fakeRailsEnv makes the test binary act as examples/rails/run-demo: it
// serves /health on BIND:<port> until SIGTERM, so the process handling of
// the Rails demo is tested without Ruby (test/rails runs the real one).
const fakeRailsEnv = "LEGACY_GATEWAY_FAKE_RAILS"

func fakeRails(args []string) int {
	if len(args) != 1 {
		fmt.Fprintln(os.Stderr, "fake rails: want PORT")
		return 2
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM)
	// Like serve.rb: only the socket the gateway hands over, never a bind
	// of its own.
	if os.Getenv("LISTEN_FD") != "3" {
		fmt.Fprintln(os.Stderr, "fake rails: no LISTEN_FD=3 from the gateway")
		return 1
	}
	ln, err := net.FileListener(os.NewFile(3, "listener"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "fake rails:", err)
		return 1
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/health" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprint(w, "ok")
	})}
	go func() { _ = srv.Serve(ln) }()
	<-stop
	_ = srv.Shutdown(context.Background())
	fmt.Println("fake rails: stopped on SIGTERM")
	return 0
}

func TestDemoRails(t *testing.T) {
	t.Parallel()
	out := &testutil.SyncBuffer{}
	gwLog := &testutil.SyncBuffer{}
	d, err := StartDemo(DemoOptions{
		AuthAddr:    "127.0.0.1:0",
		EchoAddrs:   []string{"127.0.0.1:0"},
		Rails:       os.Args[0],
		RailsEnv:    []string{fakeRailsEnv + "=1"},
		RailsOutput: out,
	}, slog.New(slog.NewTextHandler(gwLog, nil)))
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if d.Auth != nil {
		t.Error("the Go stand-in runs beside Rails")
	}
	resp, err := http.Get(d.AuthURL() + "/health")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(d.VerifyURL(), d.AuthURL()+"/internal/auth/verify") {
		t.Errorf("health %d, verify url %s", resp.StatusCode, d.VerifyURL())
	}
	if len(d.EchoURLs()) != 1 {
		t.Errorf("echoes %v", d.EchoURLs())
	}
	d.Close()
	if !strings.Contains(out.String(), "stopped on SIGTERM") || strings.Contains(gwLog.String(), "was killed") {
		t.Errorf("Rails was not stopped with SIGTERM:\n%s\n%s", out.String(), gwLog.String())
	}
	if _, err := http.Get(d.AuthURL() + "/health"); err == nil {
		t.Error("Rails still answers after Close")
	}
}

func TestDemoRailsFailures(t *testing.T) {
	t.Parallel()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, tc := range []struct {
		name, addr, script, want string
	}{
		// Whatever answers there (an earlier demo's Rails) must not pass for this one.
		{"port in use", busy.Addr().String(), os.Args[0], busy.Addr().String()},
		{"script exits at once", "127.0.0.1:0", "/bin/false", "exited during startup"},
		{"no such script", "127.0.0.1:0", "/nonexistent/run-demo", "starting the rails demo"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := StartDemo(DemoOptions{AuthAddr: tc.addr, Rails: tc.script, RailsEnv: []string{fakeRailsEnv + "=1"},
				RailsOutput: io.Discard}, log)
			if err == nil {
				d.Close()
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to mention %q", err, tc.want)
			}
		})
	}
}

// TestDemoRailsChildDies (issue 18, item 8): Rails serves on the socket
// the gateway bound and keeps; when the child dies the gateway is told,
// and no other process can take the port meanwhile.
func TestDemoRailsChildDies(t *testing.T) {
	t.Parallel()
	d, err := StartDemo(DemoOptions{AuthAddr: "127.0.0.1:0", Rails: os.Args[0], RailsEnv: []string{fakeRailsEnv + "=1"},
		RailsOutput: io.Discard}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	addr := strings.TrimPrefix(d.AuthURL(), "http://")
	if squatter, err := net.Listen("tcp", addr); err == nil {
		squatter.Close()
		t.Fatal("another process could bind the Rails port while Rails runs")
	}
	if err := d.rails.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-d.RailsExited():
	case <-time.After(30 * time.Second):
		t.Fatal("the gateway was not told that Rails exited")
	}
	if squatter, err := net.Listen("tcp", addr); err == nil {
		squatter.Close()
		t.Fatal("after Rails died, another process could bind its port and receive the users' credentials")
	}
	if d.RailsExited() == nil {
		t.Fatal("RailsExited is nil with the Rails demo")
	}
}
