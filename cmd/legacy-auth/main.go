// Command legacy-auth is the Kong external plugin server for the legacy-auth
// plugin: Kong runs it with -kong-prefix (pluginserver_legacy_auth_start_cmd)
// and queries it with -dump (pluginserver_legacy_auth_query_cmd).
//
// go-pdk names the plugin and its socket after this executable, so the
// binary must be called legacy-auth.
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/Kong/go-pdk/server"
	"github.com/legacy-auth/legacy-auth/internal/sharedcache"
	"github.com/legacy-auth/legacy-auth/plugin"
)

func main() {
	version := flag.Bool("version", false, "print the version and exit")
	// Settings are flags first: Kong starts the plugin server from an nginx
	// worker, and nginx clears a worker's environment except the variables
	// named by env directives (KONG_NGINX_MAIN_ENV), so a container's
	// LEGACY_AUTH_* variables do not reach it; flags in
	// pluginserver_legacy_auth_start_cmd always do.
	metricsAddr := flag.String("metrics-addr", os.Getenv(metricsAddrEnv),
		"serve Prometheus metrics on this address (e.g. 127.0.0.1:9542); off when empty (env "+metricsAddrEnv+")")
	logLevel := flag.String("log-level", os.Getenv(plugin.LogLevelEnv),
		"debug, info, warn or error; default info (env "+plugin.LogLevelEnv+")")
	// go-pdk registers -dump, -kong-prefix and -help on the default flag set
	// (server/os.go); parsing here first lets us answer -dump with the rich
	// schema before server.StartServer would print its reflected one.
	flag.Parse()

	switch {
	case *version:
		fmt.Println("legacy-auth", plugin.Version)
		return
	case flag.Lookup("dump").Value.String() == "true":
		if err := plugin.WriteDump(os.Stdout, flag.Lookup("kong-prefix").Value.String()); err != nil {
			fmt.Fprintln(os.Stderr, "legacy-auth: -dump:", err)
			os.Exit(1)
		}
		return
	}

	level, err := parseLogLevel(*logLevel)
	if err != nil {
		fmt.Fprintln(os.Stderr, "legacy-auth: -log-level:", err)
		os.Exit(2)
	}
	plugin.SetLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})))
	routePDKLog(plugin.Logger())
	sharedcache.RouteRedisLogs(plugin.Logger()) // go-redis would print plain lines to stderr

	if *metricsAddr != "" {
		if err := serveMetrics(*metricsAddr); err != nil {
			fmt.Fprintln(os.Stderr, "legacy-auth: metrics:", err)
			os.Exit(1)
		}
	}

	if err := server.StartServer(plugin.New, plugin.Version, plugin.Priority); err != nil {
		fmt.Fprintln(os.Stderr, "legacy-auth:", err)
		os.Exit(1)
	}
}

// metricsAddrEnv names the environment variable that enables the metrics
// endpoint; Kong starts the plugin server with its own environment, so this
// is the convenient switch in a container.
const metricsAddrEnv = "LEGACY_AUTH_METRICS_ADDR"

// serveMetrics listens on addr and serves /metrics in the background. It
// binds before returning, so a taken port fails the start loudly.
func serveMetrics(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", plugin.MetricsHandler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(l); err != nil {
			fmt.Fprintln(os.Stderr, "legacy-auth: metrics server stopped:", err)
		}
	}()
	fmt.Fprintln(os.Stderr, "legacy-auth: serving metrics on", l.Addr().String()+"/metrics")
	return nil
}

// parseLogLevel reads -log-level: debug, info, warn (or warning) or error,
// any case; "" is info. Anything else is an error, so that a typo fails the
// start instead of silently logging at another level.
func parseLogLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "", "info":
		return slog.LevelInfo, nil
	case "debug":
		return slog.LevelDebug, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("%q is not one of debug, info, warn, error", s)
}
