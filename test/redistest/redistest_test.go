package redistest

import (
	"errors"
	"fmt"
	"net"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

func ping(s *Server) error {
	reply, err := s.do("PING")
	if err == nil && reply != "PONG" {
		return fmt.Errorf("PING answered %q", reply)
	}
	return err
}

func TestStartStopRestart(t *testing.T) {
	s := Start(t)
	if !strings.HasPrefix(s.Addr(), "127.0.0.1:") {
		t.Fatalf("Addr = %q, want loopback", s.Addr())
	}
	if reply, err := s.do("SET", "k", "v"); err != nil || reply != "OK" {
		t.Fatalf("SET: %q %v", reply, err)
	}
	if reply, err := s.do("CONFIG", "GET", "save"); err != nil || reply != "save\n" {
		t.Fatalf("CONFIG GET save = %q %v, want persistence off", reply, err)
	}

	s.Stop()
	if err := ping(s); err == nil {
		t.Fatal("PING answered after Stop")
	}
	s.Stop() // idempotent

	start := time.Now()
	s.Restart()
	t.Logf("restart took %s", time.Since(start))
	if err := ping(s); err != nil {
		t.Fatalf("PING after Restart: %v", err)
	}
	if reply, err := s.do("GET", "k"); err != nil || reply != "" {
		t.Fatalf("GET after Restart = %q %v, want an empty server", reply, err)
	}
}

func TestPauseResume(t *testing.T) {
	s := Start(t)
	s.Pause()
	conn, err := net.DialTimeout("tcp", s.Addr(), time.Second)
	if err != nil {
		t.Fatalf("dial a paused server: %v (the kernel should still accept)", err)
	}
	_ = conn.SetDeadline(time.Now().Add(200 * time.Millisecond))
	_, _ = conn.Write([]byte("PING\r\n"))
	if _, err := conn.Read(make([]byte, 16)); err == nil {
		t.Fatal("a paused server answered")
	}
	conn.Close()
	s.Resume()
	if err := ping(s); err != nil {
		t.Fatalf("PING after Resume: %v", err)
	}
	s.Pause()
	s.Stop() // must kill a paused server
}

func TestCluster(t *testing.T) {
	s := StartCluster(t)
	info, err := s.do("CLUSTER", "INFO")
	if err != nil || !strings.Contains(info, "cluster_slots_assigned:16384") {
		t.Fatalf("CLUSTER INFO: %q %v", info, err)
	}
	if _, err := s.do("MSET", "a", "1", "b", "2"); err == nil || !strings.Contains(err.Error(), "CROSSSLOT") {
		t.Fatalf("MSET across slots: err = %v, want CROSSSLOT", err)
	}
	s.Restart()
	info, err = s.do("CLUSTER", "INFO")
	if err != nil || !strings.Contains(info, "cluster_state:ok") {
		t.Fatalf("CLUSTER INFO after Restart: %q %v", info, err)
	}
}

func TestSentinel(t *testing.T) {
	m := Start(t)
	s := StartSentinel(t, m, "mymaster")
	reply, err := s.do("SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster")
	if err != nil || reply != "127.0.0.1\n"+strconv.Itoa(m.Port()) {
		t.Fatalf("GET-MASTER-ADDR-BY-NAME = %q %v", reply, err)
	}
}

// fakeTB records Skipf and Fatalf and ends the goroutine as they do.
type fakeTB struct {
	testing.TB
	skipped, failed string
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Skipf(format string, args ...any) {
	f.skipped = fmt.Sprintf(format, args...)
	runtime.Goexit()
}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.failed = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// Without redis-server a test is skipped, except in CI, where it fails.
func TestMissingRedis(t *testing.T) {
	saved := binary
	t.Cleanup(func() { binary = saved })
	binary = func() (string, error) { return "", errors.New("redis-server is not in PATH") }
	for _, ci := range []string{"", "false", "true"} {
		t.Run("CI="+ci, func(t *testing.T) {
			t.Setenv("CI", ci)
			f := &fakeTB{TB: t}
			done := make(chan struct{})
			go func() { defer close(done); Start(f) }()
			<-done
			if ci == "true" {
				if f.failed == "" || f.skipped != "" || !strings.Contains(f.failed, "required in CI") {
					t.Fatalf("in CI: failed=%q skipped=%q, want a failure", f.failed, f.skipped)
				}
			} else if f.skipped == "" || f.failed != "" || !strings.Contains(f.skipped, "not in PATH") {
				t.Fatalf("outside CI: failed=%q skipped=%q, want a skip saying why", f.failed, f.skipped)
			}
		})
	}
}
