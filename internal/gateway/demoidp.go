package gateway

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/legacy-auth/legacy-auth/internal/fakeidp"
)

// The demo's identity provider: node's oidc-provider (test/oidc/server.js,
// the app the tests run) when Node and its node_modules are there, else
// the Go stand-in (internal/fakeidp) with the same clients and token
// endpoint. As with Rails, the gateway binds the port itself and hands the
// socket over, so whatever serves the keys the plugin trusts is the child.

const (
	idpReadyTimeout = 30 * time.Second
	idpTokenTTL     = 300 * time.Second
)

type idpDemo struct {
	issuer string
	kind   string // "oidc-provider" or "Go stand-in"
	fake   *fakeidp.Provider
	cmd    *exec.Cmd
	ln     net.Listener
	exited chan struct{}
}

// nodeProvider reports whether dir holds a runnable oidc-provider app.
func nodeProvider(dir string) (node string, ok bool) {
	if dir == "" {
		return "", false
	}
	node, err := exec.LookPath("node")
	if err != nil {
		return "", false
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "oidc-provider")); err != nil {
		return "", false
	}
	return node, true
}

// startIdP binds addr and serves the provider there.
func startIdP(addr, nodeDir string, out io.Writer) (*idpDemo, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("demo identity provider on %s: %w", addr, err)
	}
	node, ok := nodeProvider(nodeDir)
	if !ok {
		p, err := fakeidp.Serve(ln, idpTokenTTL)
		if err != nil {
			ln.Close()
			return nil, err
		}
		return &idpDemo{issuer: p.Issuer, kind: "Go stand-in", fake: p}, nil
	}
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("demo identity provider socket: %w", err)
	}
	defer f.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	cmd := exec.Command(node, "server.js")
	cmd.Dir = nodeDir
	cmd.Env = append(os.Environ(), "LISTEN_FD=3", "PORT="+port, "AUDIENCE="+fakeidp.Audience,
		fmt.Sprintf("TOKEN_TTL=%d", int(idpTokenTTL.Seconds())))
	cmd.ExtraFiles = []*os.File{f}
	cmd.SysProcAttr = childAttr()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		ln.Close()
		return nil, err
	}
	if out == nil {
		out = os.Stderr
	}
	cmd.Stderr = out
	if err := cmd.Start(); err != nil {
		ln.Close()
		return nil, fmt.Errorf("starting oidc-provider: %w", err)
	}
	d := &idpDemo{kind: "oidc-provider", cmd: cmd, ln: ln, exited: make(chan struct{})}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if l := sc.Text(); strings.HasPrefix(l, "listening ") {
				ready <- l
			} else {
				fmt.Fprintln(out, l)
			}
		}
	}()
	go func() { _ = cmd.Wait(); close(d.exited) }()
	select {
	case l := <-ready:
		d.issuer = strings.Fields(l)[2]
		return d, nil
	case <-d.exited:
		ln.Close()
		return nil, errors.New("oidc-provider exited before it was ready (its output is above)")
	case <-time.After(idpReadyTimeout):
		d.stop()
		return nil, fmt.Errorf("oidc-provider not ready in %s", idpReadyTimeout)
	}
}

// stop ends the provider.
func (d *idpDemo) stop() {
	if d.fake != nil {
		d.fake.Close()
		return
	}
	_ = syscall.Kill(-d.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-d.exited:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-d.cmd.Process.Pid, syscall.SIGKILL)
		<-d.exited
	}
	d.ln.Close()
}

func logIdP(log *slog.Logger, d *idpDemo) {
	log.Info("demo identity provider listening ("+d.kind+")", "issuer", d.issuer,
		"token", "curl -s -u 42:alice-secret -d grant_type=client_credentials -d resource="+fakeidp.Audience+" -d scope=api "+d.issuer+"/token")
}
