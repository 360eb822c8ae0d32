// Command legacy-gateway is a local stand-in for Kong's proxy: it serves the
// services and routes of a kong.yml, runs the legacy-auth plugin binary on
// them the way Kong does (through kongsim), and proxies to the services.
//
// Usage:
//
//	legacy-gateway [-config kong/kong.yml] [-listen 127.0.0.1:8000] [-plugin ./bin/legacy-auth]
//	legacy-gateway -demo   # also runs a fake Rails auth service and echo upstreams
//	legacy-gateway -demo -demo-rails examples/rails/run-demo   # the real Rails demo app instead
//
// With -demo and no -config, the config is examples/demo/kong.yml. SIGINT or
// SIGTERM stops the HTTP server, then the plugin process (and the Rails
// demo app), and exits 0.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/legacy-auth/legacy-auth/internal/gateway"
)

// demoConfig is the config -demo uses when -config is not given.
const demoConfig = "examples/demo/kong.yml"

type flags struct {
	config    string
	listen    string
	plugin    string
	demo      bool
	demoAuth  string
	demoEcho  string
	demoRails string
	demoIdP   string
	demoIdPJS string
	logLevel  string
	configSet bool
}

func parseFlags(args []string) (*flags, error) {
	f := &flags{}
	fs := flag.NewFlagSet("legacy-gateway", flag.ContinueOnError)
	fs.StringVar(&f.config, "config", "kong/kong.yml", "declarative config (kong.yml, _format_version 3.0); with -demo the default is "+demoConfig)
	fs.StringVar(&f.listen, "listen", "127.0.0.1:8000", "proxy listen address")
	fs.StringVar(&f.plugin, "plugin", "./bin/legacy-auth", "legacy-auth plugin binary")
	fs.BoolVar(&f.demo, "demo", false, "also run a fake Rails auth service and echo upstreams for the demo config")
	fs.StringVar(&f.demoAuth, "demo-auth-listen", "127.0.0.1:3000", "with -demo: address of the fake auth service (must match auth_url in the config)")
	fs.StringVar(&f.demoEcho, "demo-echo-listen", "127.0.0.1:8081,127.0.0.1:8082", "with -demo: comma-separated addresses of echo upstreams (must match the services' urls)")
	fs.StringVar(&f.demoIdP, "demo-idp-listen", "127.0.0.1:3001", "with -demo: address of the demo identity provider (must match jwt_issuers in the config); empty: none")
	fs.StringVar(&f.demoIdPJS, "demo-idp-app", "test/oidc", "with -demo: folder of the oidc-provider app, used when Node and its node_modules are installed (else a Go stand-in)")
	fs.StringVar(&f.demoRails, "demo-rails", "", "with -demo: run this Rails demo script (examples/rails/run-demo) as the auth service instead of the Go stand-in")
	fs.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	fs.Visit(func(fl *flag.Flag) { f.configSet = f.configSet || fl.Name == "config" })
	if f.demo && !f.configSet {
		f.config = demoConfig
	}
	if f.demoRails != "" && !f.demo {
		return nil, errors.New("-demo-rails needs -demo")
	}
	return f, nil
}

func main() {
	f, err := parseFlags(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "legacy-gateway:", err)
		os.Exit(2)
	}
	if err := run(f); err != nil {
		fmt.Fprintln(os.Stderr, "legacy-gateway:", err)
		os.Exit(1)
	}
}

func run(f *flags) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(f.logLevel)); err != nil {
		return fmt.Errorf("-log-level: %w", err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var railsExited <-chan struct{} // nil (never ready) without the Rails demo
	if f.demo {
		demo, err := gateway.StartDemo(gateway.DemoOptions{AuthAddr: f.demoAuth, EchoAddrs: splitList(f.demoEcho), Rails: f.demoRails,
			IdPAddr: f.demoIdP, IdPNode: f.demoIdPJS}, log)
		if err != nil {
			return err
		}
		defer demo.Close()
		railsExited = demo.RailsExited()
	}

	g, err := gateway.New(ctx, gateway.Options{ConfigPath: f.config, PluginPath: f.plugin, Logger: log})
	if err != nil {
		if ctx.Err() != nil {
			log.Info("interrupted during startup")
			return nil
		}
		return err
	}
	defer func() {
		if err := g.Close(); err != nil {
			log.Warn("stopping the plugin server", "err", err)
		}
	}()

	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", f.listen, err)
	}
	srv := &http.Server{Handler: g, ReadHeaderTimeout: 30 * time.Second}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	log.Info("legacy-gateway listening", "addr", "http://"+ln.Addr().String(), "health", "http://"+ln.Addr().String()+gateway.HealthPath)

	select {
	case err := <-serveErr:
		return fmt.Errorf("serving: %w", err)
	case <-railsExited:
		_ = srv.Close()
		return errors.New("the Rails demo app exited (its output is above); the gateway stops with it")
	case <-ctx.Done():
	}
	// A second Ctrl-C during shutdown kills the process the default way.
	stop()
	log.Info("shutting down")
	shutCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		log.Warn("in-flight requests cut short", "err", err)
		_ = srv.Close()
	}
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
