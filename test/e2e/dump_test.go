package e2e

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/legacy-auth/legacy-auth/internal/kongsim"
)

// TestDump checks what Kong's loader reads from `legacy-auth -dump`
// (process.lua query_external_plugin_info) and that the schema passes the
// metaschema Kong checks plugin schemas against.
func TestDump(t *testing.T) {
	trackPluginSources()
	t.Logf("dump: Protocol=%q SocketPath=%q plugins=%d", dump.Protocol, dump.SocketPath, len(dump.Plugins))
	if dump.Protocol != "ProtoBuf:1" {
		t.Errorf("Protocol = %q, want ProtoBuf:1", dump.Protocol)
	}
	p, err := dump.Plugin(pluginName)
	if err != nil {
		t.Fatalf("Kong would not load the plugin: %v", err)
	}
	t.Logf("plugin: Name=%s Priority=%d Phases=%v Version=%s", p.Name, p.Priority, p.Phases, p.Version)
	if p.Name != "legacy-auth" {
		t.Errorf("Name = %q, want legacy-auth", p.Name)
	}
	if p.Priority != 1000 {
		t.Errorf("Priority = %d, want 1000 (before acl 950 and rate-limiting 910)", p.Priority)
	}
	if !slices.Equal(p.Phases, []string{"access"}) {
		t.Errorf("Phases = %v, want [access] (a response phase would make Kong buffer every response)", p.Phases)
	}
	if err := kongsim.ValidateSubSchema(p.Schema); err != nil {
		t.Errorf("ValidateSubSchema: %v", err)
	} else {
		t.Logf("ValidateSubSchema: ok")
	}

	// A config with only auth_url gets every default, as Kong stores it.
	cfg := config(t, map[string]any{"auth_url": "http://127.0.0.1:1/internal/auth/verify"})
	for field, want := range map[string]any{
		"auth_method": "POST", "timeout": 2000.0, "cache_ttl": 300.0,
		"user_id_header": "X-User-ID", "user_roles_header": "X-User-Roles",
		"stale_if_error": 3600.0, "negative_ttl": 5.0, "retries": 1.0, "breaker_threshold": 5.0,
		"coalesce": true, "acl_groups": false, "allow_anonymous": false, "tls_verify": true,
	} {
		if got := cfg[field]; got != want {
			t.Errorf("default %s = %v (%T), want %v", field, got, got, want)
		}
	}
}

// TestConfigRejections checks that Kong's Admin API would refuse bad
// configurations before they reach the plugin, naming the field.
func TestConfigRejections(t *testing.T) {
	trackPluginSources()
	const good = "http://127.0.0.1:3000/internal/auth/verify"
	tests := []struct {
		name  string
		conf  map[string]any
		field string // the SchemaError path that must be reported
		msg   string // a part of its message
	}{
		{"missing auth_url", map[string]any{}, "config.auth_url", "required field missing"},
		{"auth_method PUT", map[string]any{"auth_url": good, "auth_method": "PUT"}, "config.auth_method", "expected one of: GET, POST"},
		{"timeout 0", map[string]any{"auth_url": good, "timeout": 0}, "config.timeout", "between 1 and 60000"},
		{"cache_ttl -1", map[string]any{"auth_url": good, "cache_ttl": -1}, "config.cache_ttl", "between 0 and 2592000"},
		{"user_id_header with a space", map[string]any{"auth_url": good, "user_id_header": "bad header"}, "config.user_id_header", ""},
		{"ftp auth_url", map[string]any{"auth_url": "ftp://127.0.0.1/verify"}, "config.auth_url", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := kongsim.ProcessConfig(schema, tc.conf)
			if err == nil {
				t.Fatalf("config %v accepted, want a rejection of %s", tc.conf, tc.field)
			}
			t.Logf("rejected: %v", err)
			var se *kongsim.SchemaError
			if !errors.As(err, &se) {
				t.Fatalf("error %T %v is not a schema violation", err, err)
			}
			msgs, ok := se.Problems[tc.field]
			if !ok {
				t.Fatalf("rejection does not name %s: %v", tc.field, se.Problems)
			}
			if tc.msg != "" && !strings.Contains(strings.Join(msgs, "; "), tc.msg) {
				t.Errorf("%s: %v, want a message containing %q", tc.field, msgs, tc.msg)
			}
			if len(se.Problems) != 1 {
				t.Errorf("other fields reported too: %v", se.Problems)
			}
		})
	}
}
