package kongsim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os/exec"
	"strings"
)

// ProtocolProtoBuf is the only plugin-server protocol simulated
// (kong/runloop/plugin_servers/rpc/init.lua maps it to pb_rpc.lua).
const ProtocolProtoBuf = "ProtoBuf:1"

// PluginInfo is one entry of a -dump's Plugins list, with the fields Kong
// reads (process.lua query_external_plugin_info).
type PluginInfo struct {
	Name     string
	Phases   []string
	Version  string
	Priority int
	Schema   map[string]any
}

// Dump is the decoded output of the plugin's query command.
type Dump struct {
	Protocol, SocketPath string
	Plugins              []PluginInfo
}

// QueryDump runs `bin -dump args...` and decodes its stdout the way
// kong/runloop/plugin_servers/process.lua query_external_plugin_info does:
// io.popen reads stdout only (stderr is quoted in errors here), the exit
// status is ignored, the JSON must decode to an object (an array is the
// legacy form and is accepted), Protocol defaults to "MsgPack:1" and must
// be "ProtoBuf:1" for this simulator, and only Plugins[1] is used by Kong.
// That first entry must carry what Kong dereferences: Name (the plugin
// key), Priority (PRIORITY, without which init.lua load_plugin answers "no
// plugin found"), Phases (iterated by plugin.lua build_phases) and Schema
// (fed to the metaschema); Version may be absent. The schema itself is
// checked by ValidateSubSchema (Dump.Plugin does it). The context bounds
// the command.
func QueryDump(ctx context.Context, bin string, args ...string) (*Dump, error) {
	cmd := exec.CommandContext(ctx, bin, append([]string{"-dump"}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	runErr := cmd.Run()
	if ctx.Err() != nil {
		return nil, fmt.Errorf("running %s -dump: %w", bin, ctx.Err())
	}
	if _, isExit := runErr.(*exec.ExitError); runErr != nil && !isExit {
		return nil, fmt.Errorf("error loading plugins info from [%s]: %w", bin, runErr)
	}
	d, err := decodeDump(stdout.Bytes())
	if err != nil {
		if s := strings.TrimSpace(stderr.String()); s != "" {
			err = fmt.Errorf("%w (stderr: %s)", err, s)
		}
		return nil, fmt.Errorf("querying %s: %w", bin, err)
	}
	return d, nil
}

// decodeDump decodes and checks dump output like process.lua.
func decodeDump(out []byte) (*Dump, error) {
	var raw any
	dec := json.NewDecoder(bytes.NewReader(out))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("failed decoding plugin info: %w", err)
	}
	var extra any
	if err := dec.Decode(&extra); err != io.EOF {
		// cjson.decode rejects anything but whitespace after the value
		return nil, fmt.Errorf("failed decoding plugin info: trailing data after the JSON value")
	}
	norm, err := jsonNumbers(raw)
	if err != nil {
		return nil, fmt.Errorf("failed decoding plugin info: %w", err)
	}
	d := &Dump{Protocol: "MsgPack:1"}
	var list []any
	switch x := norm.(type) {
	case map[string]any:
		if p, ok := x["Protocol"].(string); ok {
			d.Protocol = p
		}
		d.SocketPath, _ = x["SocketPath"].(string)
		if pl, ok := x["Plugins"]; ok {
			list, ok = pl.([]any)
			if !ok {
				return nil, fmt.Errorf("Plugins is %s, not a list", luaJSONType(pl))
			}
		}
	case []any:
		list = x // `(dump.Plugins or dump)`
	default:
		return nil, fmt.Errorf("not a plugin info table: %s", bytes.TrimSpace(out))
	}
	if d.Protocol != ProtocolProtoBuf {
		return nil, fmt.Errorf("protocol %q is not simulated (only %q)", d.Protocol, ProtocolProtoBuf)
	}
	if len(list) == 0 {
		return nil, fmt.Errorf("dump lists no plugins (Kong indexes Plugins[1])")
	}
	for i, e := range list {
		info, err := decodePluginInfo(e)
		if err != nil {
			if i == 0 {
				return nil, fmt.Errorf("Plugins[1]: %w", err)
			}
			// Kong never reads entries after the first.
			continue
		}
		d.Plugins = append(d.Plugins, *info)
	}
	return d, nil
}

// jsonNumbers converts json.Number to float64 (cjson decodes every
// number to a Lua double).
func jsonNumbers(v any) (any, error) {
	switch x := v.(type) {
	case json.Number:
		return x.Float64()
	case []any:
		for i, e := range x {
			n, err := jsonNumbers(e)
			if err != nil {
				return nil, err
			}
			x[i] = n
		}
	case map[string]any:
		for k, e := range x {
			n, err := jsonNumbers(e)
			if err != nil {
				return nil, err
			}
			x[k] = n
		}
	}
	return v, nil
}

func decodePluginInfo(e any) (*PluginInfo, error) {
	m, ok := e.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("plugin info is %s, not an object", luaJSONType(e))
	}
	info := &PluginInfo{}
	name, ok := m["Name"].(string)
	if !ok {
		return nil, fmt.Errorf("Name missing or not a string")
	}
	info.Name = name
	prio, ok := m["Priority"].(float64)
	if !ok {
		return nil, fmt.Errorf("Priority missing or not a number (Kong: \"no plugin found\")")
	}
	if prio != math.Trunc(prio) || math.Abs(prio) > math.MaxInt32 {
		return nil, fmt.Errorf("Priority %v is not an integer", prio)
	}
	info.Priority = int(prio)
	if v, ok := m["Version"]; ok && v != nil {
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("Version is %s, not a string", luaJSONType(v))
		}
		info.Version = s
	}
	phases, ok := m["Phases"].([]any)
	if !ok {
		return nil, fmt.Errorf("Phases missing or not a list")
	}
	for _, p := range phases {
		s, ok := p.(string)
		if !ok {
			return nil, fmt.Errorf("Phases contains %s", luaJSONType(p))
		}
		info.Phases = append(info.Phases, s)
	}
	schema, ok := m["Schema"].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("Schema missing or not an object")
	}
	info.Schema = schema
	return info, nil
}

// Plugin returns the plugin Kong would load from this dump under name.
// Kong only ever uses the first entry (process.lua: "(dump.Plugins or
// dump)[1]"), so a name found elsewhere is an error, and the entry's
// schema must pass ValidateSubSchema or Kong refuses to load the plugin.
func (d *Dump) Plugin(name string) (*PluginInfo, error) {
	if len(d.Plugins) == 0 {
		return nil, fmt.Errorf("dump lists no plugins")
	}
	p := &d.Plugins[0]
	if p.Name != name {
		for i := 1; i < len(d.Plugins); i++ {
			if d.Plugins[i].Name == name {
				return nil, fmt.Errorf("plugin %q is entry %d of the dump; Kong only loads the first (%q)", name, i+1, p.Name)
			}
		}
		return nil, fmt.Errorf("plugin %q not in dump (Kong would load %q)", name, p.Name)
	}
	if err := ValidateSubSchema(p.Schema); err != nil {
		return nil, fmt.Errorf("schema of plugin %q: %w", name, err)
	}
	return p, nil
}

// HasPhase reports whether the plugin declares a handler for phase.
func (p *PluginInfo) HasPhase(phase string) bool {
	for _, ph := range p.Phases {
		if ph == phase {
			return true
		}
	}
	return false
}
