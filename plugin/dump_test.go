package plugin

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestDumpGolden pins the -dump output Kong reads: any change to the schema
// shows up as a diff of testdata/dump.golden.json in review.
func TestDumpGolden(t *testing.T) {
	got, err := json.MarshalIndent(Dump("legacy-auth", "/usr/local/kong"), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	// The version is stamped at build time; pin a placeholder.
	got = bytes.ReplaceAll(got, []byte(`"Version": "`+Version+`"`), []byte(`"Version": "VERSION"`))
	const golden = "testdata/dump.golden.json"
	if *update {
		if err := os.WriteFile(golden, append(got, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./plugin -run TestDumpGolden -update)", err)
	}
	if !bytes.Equal(bytes.TrimSpace(want), bytes.TrimSpace(got)) {
		t.Errorf("dump differs from %s; if intended, rerun with -update.\n got: %s", golden, got)
	}
}

// TestSchemaDefaultsMatchCode: the defaults Kong fills in from the schema
// are the ones the plugin applies when a field is null.
func TestSchemaDefaultsMatchCode(t *testing.T) {
	cfg := &Config{AuthURL: "http://rails/verify"}
	s, err := cfg.settings()
	if err != nil {
		t.Fatal(err)
	}
	from := map[string]any{}
	for _, f := range configFields() {
		for name, a := range f {
			if d, ok := a.(attrs)["default"]; ok {
				from[name] = d
			}
		}
	}
	want := map[string]any{
		"auth_method": s.AuthMethod, "timeout": int(s.Timeout.Milliseconds()), "cache_ttl": int(s.CacheTTL.Seconds()),
		"user_id_header": s.UserIDHeader, "user_roles_header": s.UserRolesHeader,
		"stale_if_error": int(s.StaleIfError.Seconds()), "negative_ttl": int(s.NegativeTTL.Seconds()),
		"cache_max_entries": s.CacheMaxEntries, "retries": s.Retries, "coalesce": s.Coalesce,
		"breaker_threshold": s.BreakerThreshold, "breaker_cooldown": int(s.BreakerCooldown.Seconds()),
		"max_concurrent_calls": s.MaxConcurrentCalls,
		"acl_groups":           s.ACLGroups, "allow_anonymous": s.AllowAnonymous, "tls_verify": s.TLS.Verify,
		"jwt_ttl": DefaultJWTTTL, "jwt_issuer": DefaultJWTIssuer,
		"redis_mode": "standalone", "redis_db": 0, "redis_tls": false, "redis_prefix": DefaultRedisPrefix,
		"redis_timeout":   DefaultRedisTimeoutMs,
		"legacy_fallback": !s.ProviderOnly, "kong_credential": s.KongCredential,
	}
	if d, ok := from["jwt_issuers"].([]string); !ok || len(d) != 0 || len(s.Issuers) != 0 {
		t.Errorf("jwt_issuers: schema default %v, code %v", from["jwt_issuers"], s.Issuers)
	}
	delete(from, "jwt_issuers")
	// An issuer entry's defaults are the code's.
	is, bad := IssuerConfig{Issuer: "https://idp", JWKSURI: "https://idp/jwks", Audiences: []string{"api"}}.settings("e", nil)
	if len(bad) != 0 {
		t.Fatal(bad)
	}
	entry := map[string]any{}
	for _, f := range issuerSchema()["fields"].([]field) {
		for name, a := range f {
			if d, ok := a.(attrs)["default"]; ok {
				entry[name] = d
			}
		}
	}
	if fmt.Sprint(entry["algorithms"]) != fmt.Sprint(is.Algorithms) || entry["user_id_claim"] != is.UserIDClaim ||
		entry["roles_claim"] != is.RolesClaim || entry["clock_skew"] != int(is.ClockSkew.Seconds()) || len(entry) != 4 {
		t.Errorf("jwt_issuers entry: schema defaults %v, code %+v", entry, is)
	}
	if d, ok := from["redis_addrs"].([]string); !ok || len(d) != 0 {
		t.Errorf("redis_addrs: schema default %v, want an empty list (off)", from["redis_addrs"])
	}
	delete(from, "redis_addrs")
	// cookie_names defaults to an empty list, which the code reads as none.
	if d, ok := from["cookie_names"].([]string); !ok || len(d) != 0 || len(s.CookieNames) != 0 {
		t.Errorf("cookie_names: schema default %v, code %v", from["cookie_names"], s.CookieNames)
	}
	delete(from, "cookie_names")
	for name, w := range want {
		if from[name] != w {
			t.Errorf("%s: schema default %v, code default %v", name, from[name], w)
		}
	}
	if len(from) != len(want) {
		t.Errorf("schema has %d defaults, test knows %d: keep them in step", len(from), len(want))
	}
	// Every schema field is decoded by Config.
	for _, f := range configFields() {
		for name := range f {
			if _, ok := (&Config{}).configFields()[name]; !ok {
				t.Errorf("schema field %s is not decoded by Config", name)
			}
		}
	}
}
