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
	"os"

	"github.com/Kong/go-pdk/server"
	"github.com/legacy-auth/legacy-auth/plugin"
)

func main() {
	version := flag.Bool("version", false, "print the version and exit")
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

	if err := server.StartServer(plugin.New, plugin.Version, plugin.Priority); err != nil {
		fmt.Fprintln(os.Stderr, "legacy-auth:", err)
		os.Exit(1)
	}
}
