// Command minimal is the cheapest useful go-pdk plugin, the floor a Go
// plugin's cache hit is measured against in Kong's Lua (make bench, "inside
// Kong's Lua runloop"): one read (kong.request.get_header) and one write
// (kong.service.request.set_headers) per request, no other work.
//
// The binary must be called "minimal": go-pdk names the plugin and its
// socket after the executable.
package main

import (
	"fmt"
	"os"

	"github.com/Kong/go-pdk"
	"github.com/Kong/go-pdk/server"
)

// Config is empty: the plugin has no settings.
type Config struct{}

// New is go-pdk's constructor.
func New() any { return &Config{} }

// identity is what a cache hit would set; read-only, shared by requests.
var identity = map[string][]string{"X-User-ID": {"42"}, "X-User-Roles": {"admin,editor"}}

// Access reads the credential and sets the identity headers.
func (c *Config) Access(kong *pdk.PDK) {
	if _, err := kong.Request.GetHeader("authorization"); err != nil {
		return
	}
	kong.ServiceRequest.SetHeaders(identity)
}

func main() {
	if err := server.StartServer(New, "0.1.0", 1000); err != nil {
		fmt.Fprintln(os.Stderr, "minimal:", err)
		os.Exit(1)
	}
}
