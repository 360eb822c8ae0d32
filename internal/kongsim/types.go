package kongsim

// Header is one request header line as the client sent it: name spelling
// and order are kept, because nginx keeps them and the plugin must see
// (and clear) spoofed spellings such as X_User_ID.
type Header struct {
	Name  string
	Value string
}

// Request is the downstream request an access event runs against.
type Request struct {
	Method  string
	Path    string // path only, no query
	Query   string // raw query without '?'
	Headers []Header
	// ClientIP is the remote address Kong would report; "127.0.0.1" if empty.
	ClientIP string
	// Scheme is the request scheme ($scheme); "http" if empty.
	Scheme string
	// Port is the port Kong received the request on ($server_port); 8000
	// (Kong's default proxy listener) if zero.
	Port int
	// Vars overrides or adds nginx variables for kong.nginx.get_var (names
	// as in nginx, without '$', e.g. "remote_port").
	Vars map[string]string
}

// Exit is what kong.response.exit recorded: the response Kong sends
// instead of proxying.
type Exit struct {
	Status  int
	Body    []byte
	Headers map[string][]string
}

// LogEntry is one kong.log.* call made by the plugin.
type LogEntry struct {
	Level string // "err", "warn", "info", "debug", ...
	Args  []any
	// Message is what Kong writes to its error log: the arguments passed
	// through tostring() and concatenated without separator
	// (kong/pdk/log.lua), so nil prints "nil" and false arguments, which
	// arrive in Lua as nil (pb_rpc.lua structpb_value), print "nil" too.
	Message string
}

// Result is the outcome of one access event.
type Result struct {
	// Exit is non-nil when the plugin called kong.response.exit (or when the
	// event failed and Kong answered 500 itself, see KongError).
	Exit *Exit
	// Upstream holds the request headers Kong would send to the service
	// after the plugin's kong.service.request.* calls, in order (nginx's
	// headers_in list, which kong.request.get_headers also reads). Nil when
	// Exit is set: the request is not proxied. Headers nginx adds when
	// proxying (Host rewrite, X-Forwarded-*, X-Real-IP) are not modelled.
	Upstream []Header
	// Calls lists the PDK methods the plugin called, in order
	// ("kong.request.get_headers", ...). len(Calls) is the PDK round-trip count.
	Calls []string
	// Logs holds the kong.log.* calls.
	Logs []LogEntry
	// Shared is kong.ctx.shared after the event.
	Shared map[string]any
	// Consumer and Credential are what kong.client.authenticate left in
	// ngx.ctx (nil when it was not called).
	Consumer   *AuthenticatedEntity
	Credential *AuthenticatedEntity
	// KongError is set when the event failed at the protocol level and Kong
	// itself would have answered (pb_rpc.lua handle_event: kong.response.error(500)).
	KongError string
	// RequestID is Kong's request id for the event ($kong_request_id),
	// which Kong puts in the body of its own error responses.
	RequestID string
	// Retries counts how often Kong re-ran the event after a "closed" or
	// "no plugin instance" error (pb_rpc.lua handle_event recursion).
	Retries int
}

// AuthenticatedEntity is a consumer or credential given to
// kong.client.authenticate.
type AuthenticatedEntity struct {
	ID         string
	Username   string // consumers
	ConsumerID string // credentials
}
