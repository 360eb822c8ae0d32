// Package sharedcache is the optional Redis side of the identity cache: a
// second-level cache shared by every Kong node, and cluster-wide revocation
// over Redis pub/sub.
//
// Every call is bounded by Options.Timeout (dial, write, read and pool wait
// each, and 2×Timeout for the whole call) and never retried, so an unhealthy
// Redis costs a request at most 2×Timeout (100 ms with the default) before
// it falls back to the auth service. Redis being down is not an error for New: the
// client connects lazily and reconnects by itself.
//
// # Redis layout
//
// With P = Options.Prefix (for example "legacy-auth:") and key the caller's
// opaque binary key (scope bytes ‖ SHA-256 of the encoded credential):
//
//	P + "id:" + hex(key)    STRING  the Entry as JSON (below), expiring after the ttl given to Set
//	P + "user:" + userID    ZSET    index of a user's keys: member hex(key),
//	                                score = expiry in Unix ms (Redis server time
//	                                at Set + ttl + 1 s grace); the set itself
//	                                expires with its last-expiring member, and
//	                                members past their score are pruned on Set
//	P + "cred:" + hex(sha)  ZSET    the same index per credential part: sha is the
//	                                SHA-256 of the Authorization value or of one
//	                                session cookie "name=value" (Entry.Credentials)
//	P + "revoke"            pub/sub channel of revocations (below)
//
// hex is lower-case hexadecimal. An Entry is stored as compact JSON with
// one-letter names: "u" user id, "r" roles (omitted when empty), "x" the values of the plugin's extra_headers fields (omitted when none), "f" the
// fetch time in Unix milliseconds:
//
//	{"u":"42","r":["admin","staff"],"f":1767225600123}
//
// A change to this encoding must change the key layout (say "id2:") so that
// nodes of different versions do not read each other's values.
//
// Set writes the value and the index in one pipeline (not a transaction, so
// it works across cluster slots); the index update is a small Lua script
// (EVAL; Redis 3.2 or later). RevokeUser reads the index, deletes each key
// (one DEL per key, pipelined, so no CROSSSLOT in cluster mode) and leaves
// the index in place: every node that handles the same revocation gets the
// same list of keys to drop from its local cache.
//
// # Revocation messages
//
// A revocation is a JSON object published on P + "revoke":
//
//	{"credential_sha256":"<64 hex digits: SHA-256 of the exact Authorization header value, or of one session cookie as name=value>"}
//	    drop every entry whose credential contains it, everywhere
//	{"user_id":"42"}
//	    drop every credential of user 42 (logout everywhere, role change)
//
// Both fields may be given in one message. credential_sha256 is accepted in
// either case and handed on lower-cased. user_id may also be a JSON integer
// ({"user_id":42}, what Ruby's to_json makes of an Integer id) and is handed
// on as its decimal string. Unknown fields are ignored. A message that is
// not such an object, has neither field, has a malformed credential_sha256
// or user_id, or is larger than 4 KiB is logged (without its content) and
// ignored.
//
// # Intended use
//
// Check the local cache first; on a local miss ask Get (skipping it while
// Healthy is false), and after a fetch from the auth service Set the entry
// (a failed Set only costs sharing). Run Subscribe on its own goroutine. On
// a credential revocation, drop namespace ‖ hash from the local cache and
// Delete it for every namespace; on a user revocation, drop the keys
// RevokeUser returns (and any other local entry of that user); on
// OnResubscribe, flush the local cache.
//
// Pub/sub is fire-and-forget: a node whose subscription is down misses the
// messages published meanwhile. Subscribe reconnects with backoff and calls
// Options.OnResubscribe after each re-subscription so the caller can flush
// what it may have missed.
package sharedcache
