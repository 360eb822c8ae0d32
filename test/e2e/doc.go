// Package e2e is the end-to-end test suite of legacy-auth: it builds the
// real plugin binary, loads it the way Kong does (internal/kongsim: -dump,
// schema checks, the managed plugin-server process, instances, access
// events over the plugin socket) and drives it against the fake Rails
// verify service (internal/fakerails).
//
// Run it with
//
//	go test -race ./test/e2e/
//
// Everything listens on 127.0.0.1 or a unix socket; every wait has a
// timeout. The figures each test measures are logged (go test -v).
package e2e
