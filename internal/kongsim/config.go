package kongsim

import (
	"fmt"
)

// DefaultWorkspaceID stands in for the id of Kong's "default" workspace
// (a random UUID per installation), used in __ws_id and __key__ when a
// PluginRef has no WorkspaceID.
const DefaultWorkspaceID = "00000000-0000-4000-8000-000000000001"

// PluginRef identifies one configured plugin entity (a row of Kong's
// plugins table) and where it is attached.
type PluginRef struct {
	// ID is the plugin entity id (kong.plugin.get_id(), the key Kong's
	// plugin.lua keeps instances under). Required.
	ID string
	// Name is the plugin name; empty means the server's plugin (the
	// executable's base name, which is what go-pdk reports).
	Name string
	// RouteID and ServiceID attach the plugin; empty means not attached
	// (the keys are then absent from the instance config, as cjson drops
	// Lua nils).
	RouteID, ServiceID string
	// ConsumerID scopes the plugin to a consumer; empty means none.
	ConsumerID string
	// InstanceName is the plugin's instance_name; empty means none.
	InstanceName string
	// WorkspaceID is the workspace id; empty means DefaultWorkspaceID.
	WorkspaceID string
}

// configField returns a deep copy of the schema's `config` field with
// Entity.new_subschema's make_records_required applied (records whose
// `required` is unset become required, recursively through nested records,
// so Kong expands them with their defaults).
func configField(schema map[string]any) (map[string]any, error) {
	fields, err := recordFields(schema)
	if err != nil {
		return nil, fmt.Errorf("reading plugin schema: %w", err)
	}
	cfg := fieldByName(fields, "config")
	if cfg == nil {
		return nil, fmt.Errorf("plugin schema has no config field")
	}
	def := deepCopyJSON(cfg).(map[string]any)
	makeRecordsRequired(def)
	return def, nil
}

// makeRecordsRequired is kong/db/schema/entity.lua make_records_required.
func makeRecordsRequired(f map[string]any) {
	if _, ok := f["required"]; !ok {
		f["required"] = true
	}
	fields, err := recordFields(f)
	if err != nil {
		return
	}
	for _, sub := range fields {
		if defType(sub.def) == "record" {
			makeRecordsRequired(sub.def)
		}
	}
}

// ProcessConfig does to a plugin's `config` what Kong's Admin API (and the
// declarative loader) does before storing a plugin entity: the plugin
// schema is first checked as Kong's loader would (ValidateSubSchema), then
// conf goes through Schema:process_auto_fields(..., "insert") and
// Schema:validate (kong/db/schema/init.lua) against the schema's config
// record, made required by Entity.new_subschema (kong/db/schema/entity.lua).
//
// The result has every declared field: the given value, else the schema
// default, else nil (JSON null) for optional fields, recursively for
// records (including records inside arrays and maps); sets are
// de-duplicated. conf may be nil (no config given: all defaults). Values
// may use ordinary Go types (int, []string, ...); they are normalised to
// encoding/json's shapes (float64, []any, map[string]any).
//
// Errors list every problem Kong reports, paths prefixed with "config."
// ("config.auth_url: required field missing", "config.auth_method:
// expected one of: GET, POST"), as a *SchemaError.
func ProcessConfig(schema map[string]any, conf map[string]any) (map[string]any, error) {
	if err := ValidateSubSchema(schema); err != nil {
		return nil, fmt.Errorf("plugin schema would not load in Kong: %w", err)
	}
	def, err := configField(schema)
	if err != nil {
		return nil, err
	}
	var value any
	present := conf != nil
	if present {
		n, err := normalizeJSON(conf)
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		value = n
	}
	processed, ok := adjustField(def, value, present)
	if ps := prefixProblems("config", validatePresent(def, processed, ok)); len(ps) > 0 {
		return nil, newSchemaError(ps)
	}
	out, isMap := processed.(map[string]any)
	if !isMap {
		return nil, fmt.Errorf("config: processed value is %T, not a record", processed)
	}
	return out, nil
}

// validatePresent validates a (possibly absent) field value the way
// Schema:validate treats one entry of its input: absent required fields
// are "required field missing", absent optional ones are fine.
func validatePresent(def map[string]any, v any, present bool) []problem {
	if !present {
		if luaTruthy(def, "required") {
			return []problem{{"", errRequired}}
		}
		return nil
	}
	return validateField(def, v)
}

// ValidatePluginFields validates the top-level plugin entity fields other
// than config (protocols, enabled, tags, instance_name, ...) that a plugin
// creation would carry, against the plugin schema where it declares them
// and otherwise against kong/db/schema/entities/plugins.lua (kept simple:
// protocols must be a set of Kong protocol names, enabled a boolean, tags
// a set of strings, instance_name a string). Unknown names are "unknown
// field". Problems come back as one *SchemaError.
func ValidatePluginFields(schema map[string]any, fields map[string]any) error {
	declared, err := recordFields(schema)
	if err != nil {
		return fmt.Errorf("reading plugin schema: %w", err)
	}
	n, err := normalizeJSON(fields)
	if err != nil {
		return fmt.Errorf("plugin fields: %w", err)
	}
	var ps []problem
	for _, k := range sortedKeys(n.(map[string]any)) {
		v := n.(map[string]any)[k]
		def := fieldByName(declared, k)
		if def == nil {
			def = basePluginFieldDefs[k]
		}
		if def == nil {
			ps = append(ps, problem{k, errUnknown})
			continue
		}
		ps = append(ps, prefixProblems(k, validateField(def, v))...)
	}
	if e := newSchemaError(ps); e != nil {
		return e
	}
	return nil
}

// kongProtocols is constants.PROTOCOLS (typedefs.protocols one_of).
var kongProtocols = []any{
	"grpc", "grpcs", "http", "https", "tcp", "tls", "tls_passthrough", "udp", "ws", "wss",
}

// basePluginFieldDefs are the plugins entity field definitions used when
// the plugin schema does not override them.
var basePluginFieldDefs = map[string]map[string]any{
	"name":          typ("string", "required", true),
	"instance_name": typ("string"),
	"enabled":       typ("boolean", "required", true, "default", true),
	"protocols": typ("set", "required", true,
		"elements", typ("string", "one_of", kongProtocols),
		"default", []any{"grpc", "grpcs", "http", "https"}),
	"tags": typ("set", "elements", typ("string")),
}

// InstanceConfig returns the JSON Kong sends as CmdStartInstance.config:
// cjson.encode of the plugin configuration as
// kong/runloop/plugins_iterator.lua get_plugin_config hands it to the
// handler (follows pb_rpc.lua Rpc:call_start_instance). That is the
// processed config plus route_id / service_id / consumer_id /
// plugin_instance_name (absent when unset, since cjson drops Lua nils),
// __plugin_id, __ws_id, __key__ (kong.db.plugins:cache_key, i.e.
// "plugins:<name>:<route>:<service>:<consumer>::<ws>") and __seq__.
// Encoding follows lua-cjson (see cjsonEncode); object keys are sorted.
func InstanceConfig(processed map[string]any, plugin PluginRef, seq int) ([]byte, error) {
	if plugin.Name == "" {
		return nil, fmt.Errorf("instance config: plugin name is empty")
	}
	n, err := normalizeJSON(processed)
	if err != nil {
		return nil, fmt.Errorf("instance config: %w", err)
	}
	cfg, _ := n.(map[string]any)
	if cfg == nil {
		cfg = map[string]any{} // `plugin.config or {}`
	}
	setOrDelete := func(k, v string) {
		if v == "" {
			delete(cfg, k) // cfg.k = nil
		} else {
			cfg[k] = v
		}
	}
	setOrDelete("route_id", plugin.RouteID)
	setOrDelete("service_id", plugin.ServiceID)
	setOrDelete("consumer_id", plugin.ConsumerID)
	setOrDelete("plugin_instance_name", plugin.InstanceName)
	ws := plugin.WorkspaceID
	if ws == "" {
		ws = DefaultWorkspaceID
	}
	cfg["__plugin_id"] = plugin.ID
	cfg["__ws_id"] = ws
	// `if not cfg.__key__ then` — a config that already carries a
	// __key__ (even JSON null, which is truthy in Lua) keeps it and gets
	// no __seq__.
	if _, ok := cfg["__key__"]; !ok {
		cfg["__key__"] = fmt.Sprintf("plugins:%s:%s:%s:%s::%s",
			plugin.Name, plugin.RouteID, plugin.ServiceID, plugin.ConsumerID, ws)
		cfg["__seq__"] = float64(seq)
	}
	b, err := cjsonEncode(cfg)
	if err != nil {
		return nil, fmt.Errorf("instance config: cjson encode: %w", err)
	}
	return b, nil
}
