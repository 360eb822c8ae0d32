// Package gateway is a local stand-in for Kong's proxy, for developing and
// testing the legacy-auth plugin without Kong.
//
// It reads a declarative config (kong.yml, `_format_version: "3.0"`) limited
// to services, routes and plugins, routes requests like Kong's router, runs
// legacy-auth through kongsim against the real plugin binary, then
// request-termination, and proxies with the headers the plugin produced.
//
// What it does not implement is refused at startup with an error naming the
// key, so a config that works here cannot behave differently in Kong
// unnoticed. The exception is Kong's other bundled plugins (rate-limiting,
// acl, ...): accepted, logged once as not executed, left to real Kong.
package gateway
