// Package oidctest runs a real OpenID provider for tests: panva's
// node-oidc-provider (test/oidc/server.js, oidc-provider 9.13.3 from npm),
// which issues RFC 9068 JWT access tokens for one audience through the
// client_credentials grant and publishes its keys at its jwks_uri.
//
// It needs node and test/oidc/node_modules (make test runs npm ci there
// first). Without them the test is skipped with a message saying so,
// except when the environment variable CI is "true": there it fails, like
// redistest without redis-server.
package oidctest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Audience is the resource the provider issues tokens for.
const Audience = "https://api.legacy-auth.test"

// The provider's clients: each stands for a user (the token's sub is the
// client id), as in test/oidc/server.js.
var (
	Alice = Client{ID: "42", Secret: "alice-secret"} // roles admin, editor; email alice@example.com
	Bob   = Client{ID: "7", Secret: "bob-secret"}    // no roles
)

// Client is a client_credentials client of the provider.
type Client struct{ ID, Secret string }

// Provider is one running oidc-provider.
type Provider struct {
	Issuer  string // http://127.0.0.1:PORT
	JWKSURI string
	cmd     *exec.Cmd
}

// Dir is the folder of server.js.
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "oidc")
}

// Start runs the provider on a free loopback port and waits until it
// serves its discovery document; t.Cleanup stops it. ttl is the tokens'
// lifetime (0: 300 s).
func Start(t testing.TB, ttl time.Duration) *Provider {
	t.Helper()
	node, err := exec.LookPath("node")
	if err == nil {
		_, err = os.Stat(filepath.Join(Dir(), "node_modules", "oidc-provider"))
	}
	if err != nil {
		msg := fmt.Sprintf("oidctest: node or test/oidc/node_modules missing (cd test/oidc && npm ci): %v", err)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	if ttl == 0 {
		ttl = 300 * time.Second
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, node, "server.js")
	cmd.Dir = Dir()
	cmd.Env = append(os.Environ(), "PORT=0", "AUDIENCE="+Audience, fmt.Sprintf("TOKEN_TTL=%d", int(ttl.Seconds())))
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 5 * time.Second
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("oidctest: starting node: %v", err)
	}
	t.Cleanup(func() { cancel(); _ = cmd.Wait() })

	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if l := sc.Text(); strings.HasPrefix(l, "listening ") {
				lines <- l
			}
		}
		close(lines)
	}()
	select {
	case l, ok := <-lines:
		if !ok {
			t.Fatalf("oidctest: the provider exited:\n%s", stderr.String())
		}
		f := strings.Fields(l)
		p := &Provider{Issuer: f[2], JWKSURI: f[2] + "/jwks", cmd: cmd}
		return p
	case <-time.After(30 * time.Second):
		t.Fatalf("oidctest: the provider did not start in 30 s:\n%s", stderr.String())
	}
	return nil
}

// Token gets an access token for c (client_credentials, resource Audience).
func (p *Provider) Token(t testing.TB, c Client) string {
	t.Helper()
	return ClientToken(t, p.Issuer, Audience, c)
}

// ClientToken gets an access token for c from the client_credentials
// token endpoint of issuer (this package's provider, or the demo's Go
// stand-in, which answers the same way), for the resource audience.
func ClientToken(t testing.TB, issuer, audience string, c Client) string {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "resource": {audience}, "scope": {"api"}}
	req, err := http.NewRequest(http.MethodPost, issuer+"/token", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(c.ID, c.Secret)
	client := http.Client{Timeout: 10 * time.Second}
	res, err := client.Do(req)
	if err != nil {
		t.Fatalf("oidctest: token request: %v", err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if res.StatusCode != 200 || json.Unmarshal(body, &tok) != nil || tok.AccessToken == "" {
		t.Fatalf("oidctest: token request: %d %s", res.StatusCode, body)
	}
	return tok.AccessToken
}
