package plugin

import (
	"context"
	"fmt"
	"runtime/debug"

	"github.com/Kong/go-pdk"
	"github.com/Kong/go-pdk/client"
	"github.com/legacy-auth/legacy-auth/internal/identity"
)

// Version is the plugin version reported to Kong; stamped at build time with
// -ldflags "-X github.com/legacy-auth/legacy-auth/plugin.Version=...".
var Version = "0.1.0"

// Priority runs legacy-auth before Kong's authorization and rate-limiting
// plugins (acl 950, rate-limiting 910), as the Lua original did.
const Priority = 1000

// Access is the access-phase handler and the only code that talks PDK. It
// makes exactly two PDK calls on every path that reaches the credential:
// one read (readCredential), then kong.service.request.set_headers (proxy
// on) or kong.response.exit (answer now). Each PDK call is a round trip to
// Kong. acl_groups adds one (kong.ctx.shared.set), only when enabled.
func (c *Config) Access(kong *pdk.PDK) {
	defer func() {
		// A panic in a go-pdk handler kills the whole plugin server (and
		// every in-flight request); fail this one request closed instead.
		if r := recover(); r != nil {
			logger.Error("panic in access handler", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			kong.Response.Exit(500, bodyInternal, exitHeaders)
		}
	}()

	rt, err := c.compile()
	if err != nil {
		requestsTotal.WithLabelValues("error_config").Inc()
		kong.Response.Exit(500, bodyInternal, exitHeaders)
		return
	}
	rt.Enter() // a replaced engine lets go once its last request leaves
	defer rt.Leave()
	headers, err := readCredential(kong, rt)
	if err != nil {
		logger.Error("reading the request headers failed", "error", err.Error())
		kong.Response.Exit(500, bodyInternal, exitHeaders)
		return
	}
	d, err := rt.Authenticate(context.Background(), headers)
	countOutcome(d.Outcome, err)
	if err != nil {
		status, body, h := response(err)
		kong.Response.Exit(status, body, h)
		return
	}
	if d.Groups != nil {
		// Kong's ACL plugin (priority 950, after us) reads
		// kong.ctx.shared.authenticated_groups as a list
		// (kong/plugins/acl/groups.lua get_authenticated_groups).
		if err := kong.Ctx.SetShared("authenticated_groups", d.Groups); err != nil {
			logger.Error("kong.ctx.shared.set failed", "error", err.Error())
			return
		}
	}
	if d.Credential != "" {
		// Kong's rate-limiting (limit_by credential) and log plugins read
		// it (kong/pdk/client.lua authenticate sets
		// ngx.ctx.authenticated_credential). No consumer: the plugin
		// identifies callers Kong has no entity for.
		if err := kong.Client.Authenticate(nil, &client.AuthenticatedCredential{Id: d.Credential}); err != nil {
			logger.Error("kong.client.authenticate failed", "error", err.Error())
			return
		}
	}
	if err := kong.ServiceRequest.SetHeaders(d.Set); err != nil {
		// Kong failed the set_headers call: it has already answered the
		// client itself (500) and abandoned this event.
		logger.Error("kong.service.request.set_headers failed", "error", err.Error())
	}
}

// readCredential is the one read of the request: by default
// kong.request.get_header("authorization"), which makes Kong's Lua look up
// one nginx variable instead of building and encoding the whole header
// table (get_headers), and has no header-count limit. Plans that need more
// (session cookies, managed names with many separators) read the list.
func readCredential(kong *pdk.PDK, rt *identity.Engine) (map[string][]string, error) {
	if rt.ReadsAll() {
		h, err := kong.Request.GetHeaders(identity.MaxRequestHeaders)
		if err != nil {
			return nil, fmt.Errorf("kong.request.get_headers: %w", err)
		}
		return h, nil
	}
	v, err := kong.Request.GetHeader("authorization")
	if err != nil {
		return nil, fmt.Errorf("kong.request.get_header: %w", err)
	}
	return identity.CredentialOnly(v), nil
}
