// Command minimal is the cheapest useful go-pdk plugin, the floor a Go
// plugin's cache hit is measured against in Kong's Lua (make bench, "inside
// Kong's Lua runloop"): one read (kong.request.get_header) and one write
// (kong.service.request.set_headers) per request, no other work.
//
// With -clears its set_headers also clears the six other '-'/'_'
// spellings of the two names, as legacy-auth's does to keep a client's
// X_User_ID out: what that costs on its own.
//
// The binary must be called "minimal": go-pdk names the plugin and its
// socket after the executable.
package main

import (
	"flag"
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

// identityAndClears is identity plus the other spellings, cleared.
var identityAndClears = map[string][]string{"X-User-ID": {"42"}, "X-User-Roles": {"admin,editor"},
	"X_User-ID": {}, "X-User_ID": {}, "X_User_ID": {}, "X_User-Roles": {}, "X-User_Roles": {}, "X_User_Roles": {}}

// clears is parsed by go-pdk's server.StartServer (flag.Parse).
var clears = flag.Bool("clears", false, "also clear the other '-'/'_' spellings of the two headers")

// Access reads the credential and sets the identity headers.
func (c *Config) Access(kong *pdk.PDK) {
	if _, err := kong.Request.GetHeader("authorization"); err != nil {
		return
	}
	if *clears {
		kong.ServiceRequest.SetHeaders(identityAndClears)
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
