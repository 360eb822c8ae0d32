package kongsim

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestProcessConfigDefaults(t *testing.T) {
	schema := schemaWithConfig(t, goodConfigFields)
	got, err := ProcessConfig(schema, map[string]any{
		"auth_url": "https://auth.internal/check",
		"methods":  []string{"POST", "GET", "POST"},
		"extra":    map[string]string{"k": "v"},
	})
	if err != nil {
		t.Fatalf("ProcessConfig: %v", err)
	}
	want := map[string]any{
		"auth_url":    "https://auth.internal/check",
		"auth_method": "GET",                // schema default
		"timeout":     float64(5000),        // schema default
		"ratio":       0.5,                  // schema default
		"headers":     []any{},              // array default
		"methods":     []any{"POST", "GET"}, // sets lose duplicates
		"extra":       map[string]any{"k": "v"},
		"cache":       map[string]any{"ttl": float64(60), "enabled": true}, // records expand
		"prefix":      nil,                                                 // unset, no default → null
		"secret":      nil,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("processed config:\n got %#v\nwant %#v", got, want)
	}
	if _, present := got["prefix"]; !present {
		t.Errorf("unset optional field must be present as null")
	}
}

func TestProcessConfigNilConfig(t *testing.T) {
	schema := schemaWithConfig(t, `{"a":{"type":"string","default":"x"}},{"r":{"type":"record","fields":[{"b":{"type":"integer"}}]}}`)
	got, err := ProcessConfig(schema, nil)
	if err != nil {
		t.Fatalf("ProcessConfig: %v", err)
	}
	want := map[string]any{"a": "x", "r": map[string]any{"b": nil}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %#v, want %#v", got, want)
	}
}

func TestProcessConfigErrors(t *testing.T) {
	schema := schemaWithConfig(t, goodConfigFields+`,
		{"mode":{"type":"string","not_match":"^%s"}},
		{"kind":{"type":"string","match_any":{"patterns":["^a","^b"],"err":"must start with a or b"}}},
		{"code":{"type":"string","match_all":[{"pattern":"^%u","err":"must start uppercase"},{"pattern":"%d$","err":"must end with a digit"}]}},
		{"labels":{"type":"array","elements":{"type":"string","len_max":3}}},
		{"limits":{"type":"map","keys":{"type":"string"},"values":{"type":"integer","between":[0,10]}}},
		{"nested":{"type":"record","fields":[{"url":{"type":"string","required":true}}]}}`)
	tests := []struct {
		name string
		conf map[string]any
		path string
		msg  string
	}{
		{"required missing", map[string]any{}, "config.auth_url", "required field missing"},
		{"required null", map[string]any{"auth_url": nil}, "config.auth_url", "required field missing"},
		{"unknown field", map[string]any{"auth_ur1": "x"}, "config.auth_ur1", "unknown field"},
		{"wrong type string", map[string]any{"auth_method": 5}, "config.auth_method", "expected a string"},
		{"wrong type integer", map[string]any{"timeout": 1.5}, "config.timeout", "expected an integer"},
		{"wrong type number", map[string]any{"ratio": "1"}, "config.ratio", "expected a number"},
		{"wrong type boolean", map[string]any{"cache": map[string]any{"enabled": "yes"}}, "config.cache.enabled", "expected a boolean"},
		{"wrong type array", map[string]any{"headers": "x"}, "config.headers", "expected an array"},
		{"wrong type set", map[string]any{"methods": map[string]any{"a": 1}}, "config.methods", "expected a set"},
		{"wrong type map", map[string]any{"extra": "x"}, "config.extra", "expected a map"},
		{"wrong type record", map[string]any{"cache": 1}, "config.cache", "expected a record"},
		{"one_of", map[string]any{"auth_method": "PUT"}, "config.auth_method", "expected one of: GET, POST"},
		{"between", map[string]any{"timeout": 0}, "config.timeout", "value should be between 1 and 60000"},
		{"gt", map[string]any{"ratio": 0}, "config.ratio", "value must be greater than 0"},
		{"len_min (empty strings rejected by default)", map[string]any{"prefix": ""}, "config.prefix", "length must be at least 1"},
		{"validator order: one_of before len_min", map[string]any{"auth_method": ""}, "config.auth_method", "expected one of: GET, POST"},
		{"len_max", map[string]any{"prefix": "/" + strings.Repeat("x", 64)}, "config.prefix", "length must be at most 64"},
		{"match is a Lua pattern", map[string]any{"auth_url": "ftp://x"}, "config.auth_url", "invalid value: ftp://x"},
		{"not_match", map[string]any{"mode": " x"}, "config.mode", "invalid value:  x"},
		{"match_any err", map[string]any{"kind": "c"}, "config.kind", "must start with a or b"},
		{"match_all err", map[string]any{"code": "Ab"}, "config.code", "must end with a digit"},
		{"starts_with", map[string]any{"prefix": "x"}, "config.prefix", "should start with: /"},
		{"array elements", map[string]any{"labels": []any{"ok", "toolong"}}, "config.labels[2]", "length must be at most 3"},
		{"set elements", map[string]any{"methods": []any{"GET", "PUT"}}, "config.methods[2]", "expected one of: GET, POST"},
		{"map values", map[string]any{"limits": map[string]any{"a": 11}}, "config.limits.a", "value should be between 0 and 10"},
		{"nested record", map[string]any{"nested": map[string]any{}}, "config.nested.url", "required field missing"},
		{"nested unknown", map[string]any{"cache": map[string]any{"x": 1}}, "config.cache.x", "unknown field"},
	}
	for _, tt := range tests {
		conf := map[string]any{"auth_url": "https://ok", "nested": map[string]any{"url": "u"}}
		for k, v := range tt.conf {
			conf[k] = v
		}
		if _, ok := tt.conf["auth_url"]; !ok && tt.name == "required missing" {
			delete(conf, "auth_url")
		}
		_, err := ProcessConfig(schema, conf)
		var se *SchemaError
		if !errors.As(err, &se) {
			t.Errorf("%s: want *SchemaError, got %v", tt.name, err)
			continue
		}
		if got := se.Problems[tt.path]; len(got) != 1 || got[0] != tt.msg {
			t.Errorf("%s: at %q got %q; want %q (all: %v)", tt.name, tt.path, got, tt.msg, err)
		}
	}
}

func TestProcessConfigListsAllProblems(t *testing.T) {
	schema := schemaWithConfig(t, goodConfigFields)
	_, err := ProcessConfig(schema, map[string]any{"auth_method": "PUT", "zzz": 1})
	want := "3 schema violations (config.auth_method: expected one of: GET, POST; " +
		"config.auth_url: required field missing; config.zzz: unknown field)"
	if err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
}

func TestProcessConfigRejectsBadSchema(t *testing.T) {
	_, err := ProcessConfig(schemaWithConfig(t, `{"a":{"type":"array"}}`), nil)
	if err == nil || !strings.Contains(err.Error(), "must declare 'elements'") {
		t.Errorf("want the metaschema error, got %v", err)
	}
}

func TestValidatePluginFields(t *testing.T) {
	schema := schemaWithConfig(t, goodConfigFields)
	if err := ValidatePluginFields(schema, map[string]any{"protocols": []string{"http", "https"}, "enabled": true}); err != nil {
		t.Errorf("valid fields: %v", err)
	}
	err := ValidatePluginFields(schema, map[string]any{"protocols": []string{"http", "smtp"}, "enabled": "yes", "bogus": 1})
	var se *SchemaError
	if !errors.As(err, &se) {
		t.Fatalf("want *SchemaError, got %v", err)
	}
	want := map[string][]string{
		"protocols[2]": {"expected one of: grpc, grpcs, http, https, tcp, tls, tls_passthrough, udp, ws, wss"},
		"enabled":      {"expected a boolean"},
		"bogus":        {"unknown field"},
	}
	if !reflect.DeepEqual(se.Problems, want) {
		t.Errorf("got %v, want %v", se.Problems, want)
	}
}

func TestInstanceConfig(t *testing.T) {
	processed := map[string]any{
		"auth_url": "https://auth/x",
		"timeout":  float64(5000),
		"ratio":    0.1,
		"big":      1e15,
		"list":     []any{},
		"extra":    map[string]any{},
		"opt":      nil,
		"ctl":      "a\x01\"b",
	}
	tests := []struct {
		name string
		ref  PluginRef
		seq  int
		want string
	}{
		{"global plugin", PluginRef{ID: "p1", Name: "legacy-auth"}, 7,
			`{"__key__":"plugins:legacy-auth:::::` + DefaultWorkspaceID + `","__plugin_id":"p1","__seq__":7,"__ws_id":"` + DefaultWorkspaceID + `",` +
				`"auth_url":"https:\/\/auth\/x","big":1e+15,"ctl":"a\u0001\"b","extra":{},"list":[],"opt":null,"ratio":0.1,"timeout":5000}`},
		{"route and service", PluginRef{ID: "p2", Name: "legacy-auth", RouteID: "r", ServiceID: "s", ConsumerID: "c", InstanceName: "i", WorkspaceID: "w"}, 1,
			`{"__key__":"plugins:legacy-auth:r:s:c::w","__plugin_id":"p2","__seq__":1,"__ws_id":"w",` +
				`"auth_url":"https:\/\/auth\/x","big":1e+15,"consumer_id":"c","ctl":"a\u0001\"b","extra":{},"list":[],"opt":null,"plugin_instance_name":"i","ratio":0.1,"route_id":"r","service_id":"s","timeout":5000}`},
	}
	for _, tt := range tests {
		got, err := InstanceConfig(processed, tt.ref, tt.seq)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if string(got) != tt.want {
			t.Errorf("%s:\n got %s\nwant %s", tt.name, got, tt.want)
		}
		var back map[string]any
		if err := json.Unmarshal(got, &back); err != nil {
			t.Errorf("%s: not JSON: %v", tt.name, err)
		}
	}
	if _, err := InstanceConfig(map[string]any{"x": 1.0}, PluginRef{ID: "p"}, 1); err == nil {
		t.Errorf("want an error without a plugin name")
	}
}

func TestProcessConfigEntityChecks(t *testing.T) {
	schema := mustJSON(t, `{"name":"p","fields":[{"config":{"type":"record","fields":[
		{"a":{"type":"string"}},{"b":{"type":"string"}},
		{"mode":{"type":"string","default":"x"}},{"url":{"type":"string"}}],
		"entity_checks":[
			{"at_least_one_of":["a","b"]},
			{"mutually_exclusive":["a","b"]},
			{"conditional":{"if_field":"mode","if_match":{"eq":"remote"},"then_field":"url","then_match":{"required":true}}}]}}]}`)
	tests := []struct {
		name string
		conf map[string]any
		want map[string][]string
	}{
		{"ok", map[string]any{"a": "1"}, nil},
		{"at_least_one_of", map[string]any{},
			map[string][]string{"config.@entity": {"at least one of these fields must be non-empty: 'a', 'b'"}}},
		{"mutually_exclusive", map[string]any{"a": "1", "b": "2"},
			map[string][]string{"config.@entity": {"only one or none of these fields must be set: 'a', 'b'"}}},
		{"conditional", map[string]any{"a": "1", "mode": "remote"},
			map[string][]string{
				"config.url":     {"required field missing"},
				"config.@entity": {"failed conditional validation given value of field 'mode'"},
			}},
	}
	for _, tt := range tests {
		_, err := ProcessConfig(schema, tt.conf)
		if tt.want == nil {
			if err != nil {
				t.Errorf("%s: %v", tt.name, err)
			}
			continue
		}
		var se *SchemaError
		if !errors.As(err, &se) || !reflect.DeepEqual(se.Problems, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, err, tt.want)
		}
	}
}
