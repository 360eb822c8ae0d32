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
//	                                score = expiry in Unix ms (the writer's clock
//	                                at Set + ttl + 1 s grace); the set itself
//	                                expires with its last-expiring member, and
//	                                members past their score are pruned on Set
//	P + "cred:" + hex(sha)  ZSET    the same index per credential part: sha is the
//	                                SHA-256 of the canonical Authorization value or
//	                                of one canonical session cookie "name=value"
//	                                (Entry.Credentials)
//	P + "rv:user:" + userID STRING  revocation mark: Unix ms of the user's latest
//	P + "rv:cred:" + hex(sha)       revocation, or of the credential part's;
//	                                kept as long as an entry it beats can live
//	                                (MarkRevoked)
//	P + "revoke"            pub/sub channel of revocations (below)
//
// hex is lower-case hexadecimal. An Entry is stored as compact JSON with
// one-letter names: "u" user id, "r" roles (omitted when empty), "x" the values of the plugin's extra_headers fields (omitted when none), "f" the
// fetch time in Unix milliseconds:
//
//	{"u":"42","r":["admin","staff"],"f":1767225600123}
//
// and "s", when known, the Unix ms at which the verify call that produced
// it started (a revocation beats the entries whose call started before it;
// an entry without "s" counts from "f"). Readers that do not know "s"
// ignore it. Any other change to this encoding must change the key layout
// (say "id2:") so that nodes of different versions do not read each
// other's values.
//
// Set writes the indexes first and the value only once every index holds
// its key: there is never a value that a revocation's index read cannot
// find. It uses plain commands (ZREMRANGEBYSCORE, ZADD, PEXPIRE with GT and
// NX, SET), no scripting and no transaction, so a Redis user without
// @scripting works and keys may sit in different cluster slots; it needs
// Redis 7.0 or later. A failed Set writes no value: it costs sharing, never
// a revocation.
//
// Get reads the value with the revocation marks of the credential parts
// the caller names (one pipeline) and, when found, its user's mark (a
// second round trip); it reports the latest as Entry.RevokedAt, and the
// caller refuses an entry a mark beats (Entry.Revoked). That read, not the
// indexes, is what makes a revocation hold: an entry written after the
// index was read (another node's store landing late), or that a node
// started later finds, is still beaten by the mark. RevokeUser and
// RevokeCredential read an index in chunks of 500 members and delete the
// keys it names (one DEL per key, pipelined, so no CROSSSLOT in cluster
// mode), leaving the index in place: every node that handles the same
// revocation gets the same list of keys to drop from its local cache.
//
// # Revocation messages
//
// A revocation is a JSON object published on P + "revoke":
//
//	{"credential_sha256":"<64 hex digits: SHA-256 of the canonical Authorization value (Bearer <token>), or of one canonical session cookie as name=value>"}
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
// Check the local cache first; on a local miss ask Get with the
// credential's part hashes (skipping it while Healthy is false) and refuse
// an entry that Entry.Revoked reports, and after a fetch from the auth
// service Set the entry with the time its call started. Run Subscribe on
// its own goroutine. On a revocation: remember it locally (so calls in
// flight do not cache older answers), drop the local entries of the user
// or credential, MarkRevoked, then RevokeUser / RevokeCredential to delete
// the shared entries the indexes name; on OnResubscribe, flush the local
// cache.
//
// Pub/sub is fire-and-forget: a node whose subscription is down misses the
// messages published meanwhile. Subscribe reconnects with backoff and calls
// Options.OnResubscribe after each re-subscription so the caller can flush
// what it may have missed; its shared reads honour the marks the other
// nodes wrote meanwhile.
//
// What stays a trust decision: anyone who can write to these keys can
// mint identities (a value under some credential's key) or lift a
// revocation (delete a mark). Give the plugin's Redis user these keys
// only, and nobody else write access.
package sharedcache
