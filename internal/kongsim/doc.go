// Package kongsim plays Kong 3.x's side of the external-plugin protocol, so
// tests and the local gateway drive the real legacy-auth binary as Kong does.
//
// It emulates, each function citing the file it follows (Kong/kong):
//   - kong/runloop/plugin_servers/process.lua: the query command (-dump) and
//     its JSON, the start command and the socket it must create;
//   - kong/runloop/plugin_servers/plugin.lua: instance start/close keyed by
//     the plugin entity, instance recycling, the access event and the
//     exposed_api functions (kong.ctx.shared, kong.nginx.*);
//   - kong/runloop/plugin_servers/rpc/pb_rpc.lua: the ProtoBuf:1 framing,
//     call_pdk and the Lua value round trip (pb_wrap / pb_unwrap);
//   - kong/db/schema (metaschema.lua, init.lua): the checks Kong runs on the
//     -dump schema and the defaults it fills into a plugin's config;
//   - the PDK calls legacy-auth makes or may make (kong.request.get_header(s),
//     kong.service.request.set/add/clear_header(s), kong.response.exit,
//     kong.client.get_ip, kong.log.*), with nginx's header-name rules.
//
// It does not emulate: the MsgPack protocol (mp_rpc.lua) or Kong 2.x's
// go-pluginserver; any phase but access (no rewrite, header_filter, log or
// response buffering); other PDK namespaces (kong.response.set_*,
// kong.request.get_body, kong.service.*, ...); the database, the router,
// balancer, clustering or workspaces beyond a default one; nginx itself
// (internal/gateway does the proxying). A PDK call it does not know
// answers "method not found", as pb_rpc.lua does.
package kongsim
