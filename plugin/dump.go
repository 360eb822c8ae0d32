package plugin

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// DumpInfo is the -dump output: the envelope go-pdk's server/os.go dumpInfo
// writes and kong/runloop/plugin_servers/process.lua reads (it takes
// Protocol and Plugins[1]).
type DumpInfo struct {
	Protocol   string
	SocketPath string
	Plugins    []PluginInfo
}

// PluginInfo describes one plugin to Kong.
type PluginInfo struct {
	Name     string
	Phases   []string
	Version  string
	Priority int
	Schema   map[string]any
}

// Dump builds the -dump output for a plugin server named name (the
// executable's base name, as go-pdk uses) listening under kongPrefix.
func Dump(name, kongPrefix string) DumpInfo {
	return DumpInfo{
		Protocol:   "ProtoBuf:1",
		SocketPath: filepath.Join(kongPrefix, name+".socket"),
		Plugins: []PluginInfo{{
			Name:     name,
			Phases:   []string{"access"},
			Version:  Version,
			Priority: Priority,
			Schema:   Schema(name),
		}},
	}
}

// WriteDump writes the -dump output for this executable to w.
func WriteDump(w io.Writer, kongPrefix string) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("finding executable name: %w", err)
	}
	b, err := json.Marshal(Dump(filepath.Base(exe), kongPrefix))
	if err != nil {
		return fmt.Errorf("encoding dump: %w", err)
	}
	_, err = w.Write(append(b, '\n'))
	return err
}
