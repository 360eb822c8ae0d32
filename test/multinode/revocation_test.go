package multinode

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"testing"
	"time"

	"github.com/legacy-auth/legacy-auth/internal/fakerails"
	"github.com/legacy-auth/legacy-auth/internal/sharedcache"
	"github.com/legacy-auth/legacy-auth/test/redistest"
	"github.com/legacy-auth/legacy-auth/test/testutil"
)

// TestRevokedIdentityNeverComesBackFromRedis (issue 18, item 1): an entry
// verified before a revocation is never served from Redis after it, by any
// node, including one started after the revocation: not when another
// node's store lands after the revocation cleaned up, and not when the
// Redis user may not run scripts.
func TestRevokedIdentityNeverComesBackFromRedis(t *testing.T) {
	for _, tc := range []struct {
		name string
		// setup adjusts conf (and Redis) before node A's first request.
		setup func(t *testing.T, rds *redistest.Server, conf map[string]any)
		// after runs once node A applied the revocation.
		after func(t *testing.T, rds *redistest.Server, stored map[string]string)
	}{
		{
			name: "a store that lands after the revocation",
			after: func(t *testing.T, rds *redistest.Server, stored map[string]string) {
				// Another node's asynchronous store of the answer it fetched
				// before the revocation lands now: the value is back.
				rc := client(t, rds)
				for k, v := range stored {
					if err := rc.Set(context.Background(), k, v, time.Hour).Err(); err != nil {
						t.Fatal(err)
					}
				}
			},
		},
		{
			name: "a Redis user without scripting",
			setup: func(t *testing.T, rds *redistest.Server, conf map[string]any) {
				rc := client(t, rds)
				err := rc.Do(context.Background(), "ACL", "SETUSER", "noscript", "on", ">noscript-pw", "~*", "&*", "+@all", "-@scripting").Err()
				if err != nil {
					t.Fatal(err)
				}
				conf["redis_username"] = "noscript"
				conf["redis_password"] = "noscript-pw"
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rds := redistest.Start(t)
			auth := fakerails.New()
			defer auth.Close()
			conf := config(auth, rds)
			if tc.setup != nil {
				tc.setup(t, rds, conf)
			}
			const token = "Bearer stolen-1"
			auth.Set(token, fakerails.OK("u-stolen"))
			a := startNode(t)
			if st, _ := a.call(conf, token); st != 200 {
				t.Fatalf("warm-up: %d", st)
			}
			rc := client(t, rds)
			stored := map[string]string{}
			testutil.WaitFor(t, 10*time.Second, "node A's shared store", func() bool {
				for _, k := range redisKeyList(t, rds, "legacy-auth:id:*") {
					stored[k], _ = rc.Get(context.Background(), k).Result()
				}
				return len(stored) > 0
			})

			auth.Set(token, fakerails.Deny(401)) // the owner logged out
			testutil.WaitFor(t, 10*time.Second, "node A to subscribe", func() bool {
				n, err := rc.PubSubNumSub(context.Background(), "legacy-auth:revoke").Result()
				return err == nil && n["legacy-auth:revoke"] >= 1
			})
			sum := sha256.Sum256([]byte(token))
			if err := publisher(t, rds).Publish(context.Background(), sharedcache.Revocation{CredentialSHA256: hex.EncodeToString(sum[:])}); err != nil {
				t.Fatal(err)
			}
			testutil.WaitFor(t, 10*time.Second, "node A to drop the identity", func() bool {
				st, _ := a.call(conf, token)
				return st == 401
			})
			// Node A deletes the Redis entries last, after recording the
			// revocation: once they are gone, it is done.
			testutil.WaitFor(t, 10*time.Second, "node A to finish the revocation", func() bool {
				return redisKeys(t, rds, "legacy-auth:id:*") == 0
			})
			if tc.after != nil {
				tc.after(t, rds, stored)
			}

			// A node that starts now never received the revocation.
			b := startNode(t)
			before := auth.Calls()
			if st, id := b.call(conf, token); st != 401 {
				t.Errorf("node started after the revocation answered %d (user %q), want 401: the revoked identity came back from Redis", st, id)
			}
			if auth.Calls() != before+1 {
				t.Errorf("node B made %d Rails calls, want 1 (Redis's entry is not to be trusted)", auth.Calls()-before)
			}
		})
	}
}
