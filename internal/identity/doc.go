// Package identity is legacy-auth's identity core: plain Go, no go-pdk,
// testable without Kong. The Kong adapter (package plugin) validates the
// configuration into Settings, provisions an Engine per plugin instance
// and, per request, hands Engine.Authenticate the request headers and
// applies the Decision it returns.
//
// # The request path
//
// Read Engine.Authenticate (pipeline.go) first: it states the order, each
// step a call into the stage that owns it.
//
//	request headers
//	  │
//	  ▼
//	credential ─── credential.go   the canonical credential (Rails' reading), spoofed spellings
//	  │
//	  ▼
//	route cache ── cache.go        this route's partition: fresh → answer; cached 401/403 → answer
//	  │   refresh ── refresh.go      a fresh hit late in cache_ttl: one background refresh, lowest priority
//	  │
//	  ▼
//	scope cache ── cache.go        the other routes of the same auth scope
//	  │ miss
//	  ▼
//	shared call ── call.go         one call for all concurrent misses of a credential, one deadline:
//	  │   routing ────── provider.go     a configured issuer's JWT: verified here against its keys
//	  │                  jwks.go         (never Rails), revocation-checked, stored in this process;
//	  │                                  anything else goes on (or is refused: legacy_fallback false)
//	  │   shared cache ─ shared.go       Redis
//	  │   revocation ─── revocation.go   every entry read from a cache checked against revocations
//	  │   admission ──── admission.go    a permit of the scope's adaptive concurrency limit, or a shed
//	  │   verifier ───── verify.go       the Verifier interface and the answer contract;
//	  │                  rails.go        the Rails verify endpoint, behind breaker.go
//	  │   store ──────── cache.go, shared.go
//	  ▼
//	settle ─────── cache.go        this route's policy on the call's result: cache, remember a rejection, or stale
//	  │
//	  ▼
//	headers ────── headers.go, token.go  identity headers (every spelling cleared), the signed identity token
//
// No stage calls back into the one that called it. A new source of truth
// is a verifier beside rails.go and provider.go, chosen by the
// credential's shape; a new stage is one file and one line in
// Authenticate or resolve.
//
// # Around the path
//
// engine.go (Provision: the compiled configuration and the resources it
// holds), settings.go (what the adapter's validation produces), scope.go
// (what an answer's meaning depends on), lifecycle.go (resources counted by
// their holders, released when a configuration is replaced), keyfiles.go
// and tls.go (files followed as they change, TLS transports), errors.go (the failures the adapter maps to answers),
// metrics.go and log.go (the core's metrics and logger, registered and
// swapped by the adapter). The Redis protocol itself is package
// internal/sharedcache.
package identity
