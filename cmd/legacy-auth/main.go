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
	"net"
	"net/http"
	"os"
	"time"

	"github.com/Kong/go-pdk/server"
	"github.com/legacy-auth/legacy-auth/plugin"
	"github.com/legacy-auth/legacy-auth/plugin/sharedcache"
)

func main() {
	version := flag.Bool("version", false, "print the version and exit")
	metricsAddr := flag.String("metrics-addr", os.Getenv(metricsAddrEnv),
		"serve Prometheus metrics on this address (e.g. 127.0.0.1:9542); off when empty (env "+metricsAddrEnv+")")
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
