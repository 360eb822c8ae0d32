package gateway

import (
	"context"
	"fmt"

	"github.com/legacy-auth/legacy-auth/internal/kongsim"
)

// authPlugin is a legacy-auth entry ready to run: its config as Kong would
// hand it to the plugin server (validated, defaults filled) and its ref.
type authPlugin struct {
	entry  *Plugin
	config map[string]any
	ref    kongsim.PluginRef
}

// loadAuthPlugins validates every legacy-auth entry (enabled or not, as Kong
// does) against the schema the binary dumps, the way Kong's Admin API and
// declarative loader would, and returns them by entry.
func loadAuthPlugins(ctx context.Context, d *Deck, bin string) (map[*Plugin]*authPlugin, error) {
	var entries []*Plugin
	for _, pl := range d.Plugins {
		if pl.Name == LegacyAuth {
			entries = append(entries, pl)
		}
	}
	if len(entries) == 0 {
		return nil, nil
	}
	dump, err := kongsim.QueryDump(ctx, bin)
	if err != nil {
		return nil, fmt.Errorf("asking %s for its plugin schema (is the plugin built? see -plugin): %w", bin, err)
	}
	info, err := dump.Plugin(LegacyAuth)
	if err != nil {
		// go-pdk names the plugin after the executable's file name.
		return nil, fmt.Errorf("plugin server %s (its file must be named %s): %w", bin, LegacyAuth, err)
	}
	if err := kongsim.ValidateSubSchema(info.Schema); err != nil {
		return nil, fmt.Errorf("plugin server %s: Kong would reject the %s schema: %w", bin, LegacyAuth, err)
	}
	out := make(map[*Plugin]*authPlugin, len(entries))
	for _, pl := range entries {
		fail := func(err error) error {
			return &DeckError{Source: d.Source, Line: pl.Line, Where: pl.Where,
				Msg: fmt.Sprintf("plugin %q %s: %v", pl.Name, pl.scopeText(), err)}
		}
		// The entity fields too: the plugin's schema may narrow protocols.
		fields := map[string]any{"name": pl.Name, "enabled": pl.Enabled, "protocols": pl.Protocols}
		if err := kongsim.ValidatePluginFields(info.Schema, fields); err != nil {
			return nil, fail(err)
		}
		conf, err := kongsim.ProcessConfig(info.Schema, pl.Config)
		if err != nil {
			return nil, fail(err)
		}
		ref := kongsim.PluginRef{ID: pl.ID, Name: pl.Name}
		if pl.Route != nil {
			ref.RouteID = pl.Route.ID
		}
		if pl.Service != nil {
			ref.ServiceID = pl.Service.ID
		}
		out[pl] = &authPlugin{entry: pl, config: conf, ref: ref}
	}
	return out, nil
}
