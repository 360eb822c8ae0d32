// Package gateway is a local stand-in for Kong's proxy, for developing and
// testing the legacy-auth plugin without Kong.
//
// It reads a declarative config (kong.yml, `_format_version: "3.0"`) limited
// to services, routes and plugins, routes requests like Kong's router,
// runs every legacy-auth plugin through kongsim against the real plugin
// binary, and proxies to the service with the headers the plugin produced.
//
// Everything it does not implement is refused at startup with an error
// naming the key, rather than silently ignored, so that a config that works
// here does not behave differently in Kong for a reason nobody saw. The one
// exception is Kong's bundled plugins (rate-limiting, acl, ...): they are
// accepted, logged once as not executed, and left to real Kong.
package gateway
