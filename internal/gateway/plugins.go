package gateway

import (
	"fmt"
	"slices"
	"strings"
)

// LegacyAuth is the name of the plugin the gateway runs (through kongsim).
const LegacyAuth = "legacy-auth"

// BundledPlugins are the Kong bundled plugins a config may name. The gateway
// does not execute them (real Kong does); it accepts them so a production
// kong.yml loads unchanged, and logs once that they are ignored. Any other
// name is refused: most likely a typo that real Kong would refuse too.
var BundledPlugins = []string{
	"rate-limiting", "acl", "cors", "request-transformer", "response-transformer",
	"correlation-id", "prometheus", "file-log", "ip-restriction",
	"request-size-limiting", "key-auth", "jwt", "basic-auth",
}

func checkPluginName(name string) error {
	if name == LegacyAuth || name == RequestTermination || slices.Contains(BundledPlugins, name) {
		return nil
	}
	return fmt.Errorf("unknown plugin %q: the local gateway runs %s and %s, and accepts (without running) these Kong bundled plugins: %s",
		name, LegacyAuth, RequestTermination, strings.Join(BundledPlugins, ", "))
}

// httpSubsystem are the protocols Kong serves in its http subsystem.
var httpSubsystem = []string{"http", "https", "grpc", "grpcs", "ws", "wss"}

// active tells whether the entry takes part in plugin selection for the
// gateway's HTTP requests. Like Kong's plugins iterator, a disabled entry,
// or one whose protocols are all stream protocols, is skipped entirely, so
// a less specific entry of the same plugin applies instead.
func (pl *Plugin) active() bool {
	if !pl.Enabled {
		return false
	}
	return slices.ContainsFunc(pl.Protocols, func(p string) bool { return slices.Contains(httpSubsystem, p) })
}

// rank is how specifically the entry targets route r: 4 route+service,
// 3 route, 2 service, 1 global, 0 not applicable. Kong picks, per plugin
// name, the most specific entry (consumers aside, which the gateway lacks).
func (pl *Plugin) rank(r *Route) int {
	switch {
	case pl.Route != nil && pl.Service != nil:
		if pl.Route == r && r.Service == pl.Service {
			return 4
		}
	case pl.Route != nil:
		if pl.Route == r {
			return 3
		}
	case pl.Service != nil:
		if r.Service == pl.Service {
			return 2
		}
	default:
		return 1
	}
	return 0
}

// PluginFor returns the entry of plugin name that applies to requests
// matched by r, by Kong's precedence, or nil.
func (d *Deck) PluginFor(name string, r *Route) *Plugin {
	var best *Plugin
	bestRank := 0
	for _, pl := range d.Plugins {
		if pl.Name != name || !pl.active() {
			continue
		}
		if rank := pl.rank(r); rank > bestRank {
			best, bestRank = pl, rank
		}
	}
	return best
}
