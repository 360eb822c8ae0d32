package gateway

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"os"
	"slices"
	"sync"

	"github.com/legacy-auth/legacy-auth/internal/kongsim"
)

// HealthPath answers 200 while the gateway runs; it is checked before
// routing, so no route can shadow it.
const HealthPath = "/__gateway/health"

// Options configures a Gateway.
type Options struct {
	// ConfigPath is the declarative config (kong.yml).
	ConfigPath string
	// PluginPath is the legacy-auth plugin binary. It is only needed (and
	// only started) when the config uses legacy-auth.
	PluginPath string
	// Logger receives startup, request and plugin log lines; nil means
	// slog.Default().
	Logger *slog.Logger
	// PluginOutput receives the plugin server's stdout and stderr; nil
	// means os.Stderr.
	PluginOutput io.Writer
	// PluginEnv is appended to the environment the plugin server inherits.
	PluginEnv []string
	// Prefix is Kong's prefix directory, where the plugin socket lives.
	// Empty means a fresh temporary directory, removed by Close. Keep it
	// short: unix socket paths are limited to 107 bytes.
	Prefix string
}

// Gateway is the local proxy: an http.Handler plus the plugin server it
// drives. Close it to stop the plugin process.
type Gateway struct {
	deck  *Deck
	log   *slog.Logger
	auth  map[*Route]*authPlugin  // legacy-auth applying to each route, if any
	term  map[*Route]*termination // request-termination applying to each route, if any
	sim   *kongsim.Server
	proxy *httputil.ReverseProxy

	closeOnce sync.Once
	closeErr  error
}

// New loads the config, validates every legacy-auth configuration against
// the plugin's own schema and starts the plugin server. Any problem is
// returned before a single request is served.
func New(ctx context.Context, opts Options) (*Gateway, error) {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	deck, err := LoadDeck(opts.ConfigPath)
	if err != nil {
		return nil, err
	}
	g := &Gateway{deck: deck, log: log, auth: map[*Route]*authPlugin{}, term: map[*Route]*termination{}}
	g.proxy = g.newProxy()
	g.logIgnoredPlugins()

	plugins, err := loadAuthPlugins(ctx, deck, opts.PluginPath)
	if err != nil {
		return nil, err
	}
	for _, r := range deck.Routes {
		if pl := deck.PluginFor(LegacyAuth, r); pl != nil {
			g.auth[r] = plugins[pl]
		}
		if pl := deck.PluginFor(RequestTermination, r); pl != nil {
			g.term[r] = pl.term
		}
	}
	if len(plugins) > 0 {
		if err := g.startPluginServer(ctx, opts); err != nil {
			return nil, err
		}
	}
	log.Info("gateway configured", "config", opts.ConfigPath, "services", len(deck.Services),
		"routes", len(deck.Routes), "legacy_auth_routes", len(g.auth))
	return g, nil
}

func (g *Gateway) startPluginServer(ctx context.Context, opts Options) error {
	out := opts.PluginOutput
	if out == nil {
		out = os.Stderr
	}
	// ctx only bounds the wait for the plugin socket; the process lives
	// (and is respawned if it dies, as Kong does) until Close.
	sim, err := kongsim.StartServer(ctx, opts.PluginPath, kongsim.ServerOptions{Prefix: opts.Prefix, Env: opts.PluginEnv, Output: out})
	if err != nil {
		return fmt.Errorf("starting the plugin server %s: %w", opts.PluginPath, err)
	}
	g.sim = sim
	return nil
}

// logIgnoredPlugins says once per name which bundled plugins the config
// uses that only real Kong runs.
func (g *Gateway) logIgnoredPlugins() {
	where := map[string][]string{}
	var names []string
	for _, pl := range g.deck.Plugins {
		if pl.Name == LegacyAuth || pl.Name == RequestTermination {
			continue
		}
		if _, seen := where[pl.Name]; !seen {
			names = append(names, pl.Name)
		}
		where[pl.Name] = append(where[pl.Name], pl.Where)
	}
	slices.Sort(names)
	for _, n := range names {
		g.log.Warn("plugin not executed by the local gateway (it runs in real Kong)", "plugin", n, "entries", where[n])
	}
}

// Deck is the loaded configuration.
func (g *Gateway) Deck() *Deck { return g.deck }

// Close stops the plugin server (terminating the plugin process and
// removing a temporary prefix). It is safe to call more than once.
func (g *Gateway) Close() error {
	g.closeOnce.Do(func() {
		if g.sim != nil {
			g.closeErr = g.sim.Close()
		}
		if t, ok := g.proxy.Transport.(*http.Transport); ok {
			t.CloseIdleConnections()
		}
	})
	return g.closeErr
}
