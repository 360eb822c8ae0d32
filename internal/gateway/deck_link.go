package gateway

import "fmt"

// link resolves the by-name references, checks uniqueness like Kong's
// database constraints would, and assigns ids.
func (p *parser) link() error {
	services := map[string]*Service{}
	for _, s := range p.deck.Services {
		if s.Name != "" {
			if prev, dup := services[s.Name]; dup {
				return p.errAt(s.Line, s.Where, "service name %q already used by %s", s.Name, prev.Where)
			}
			services[s.Name] = s
		}
		s.ID = stableID("service", identity(s.Name, s.Where))
	}
	routes := map[string]*Route{}
	for _, r := range p.deck.Routes {
		if r.Name != "" {
			if prev, dup := routes[r.Name]; dup {
				return p.errAt(r.Line, r.Where, "route name %q already used by %s", r.Name, prev.Where)
			}
			routes[r.Name] = r
		}
		r.ID = stableID("route", identity(r.Name, r.Where))
		if ref, ok := p.routeService[r]; ok {
			s := services[ref.name]
			if s == nil {
				return p.errAt(ref.line, r.Where, "service: no service named %q", ref.name)
			}
			r.Service = s
		}
	}

	scopes := map[string]*Plugin{}
	for _, ref := range p.pluginScope {
		pl := ref.p
		if ref.service != "" {
			if pl.Service = services[ref.service]; pl.Service == nil {
				return p.errAt(ref.line, pl.Where, "service: no service named %q", ref.service)
			}
		}
		if ref.route != "" {
			if pl.Route = routes[ref.route]; pl.Route == nil {
				return p.errAt(ref.line, pl.Where, "route: no route named %q", ref.route)
			}
		}
		if err := checkPluginName(pl.Name); err != nil {
			return p.errAt(pl.Line, pl.Where, "%v", err)
		}
		routeID, serviceID := "", ""
		if pl.Route != nil {
			routeID = pl.Route.ID
		}
		if pl.Service != nil {
			serviceID = pl.Service.ID
		}
		pl.ID = stableID("plugin", pl.Name, routeID, serviceID)
		// Kong's unique constraint on plugins: one entry per name and scope.
		if prev, dup := scopes[pl.ID]; dup {
			return p.errAt(pl.Line, pl.Where, "plugin %q is already configured %s at %s", pl.Name, pl.scopeText(), prev.Where)
		}
		scopes[pl.ID] = pl
	}
	return nil
}

// scopeText describes where a plugin applies, for messages.
func (pl *Plugin) scopeText() string {
	name := func(n, where string) string {
		if n != "" {
			return fmt.Sprintf("%q", n)
		}
		return "at " + where
	}
	switch {
	case pl.Route != nil && pl.Service != nil:
		return fmt.Sprintf("on route %s and service %s", name(pl.Route.Name, pl.Route.Where), name(pl.Service.Name, pl.Service.Where))
	case pl.Route != nil:
		s := fmt.Sprintf("on route %s", name(pl.Route.Name, pl.Route.Where))
		if pl.Route.Service != nil {
			s += fmt.Sprintf(" (service %s)", name(pl.Route.Service.Name, pl.Route.Service.Where))
		}
		return s
	case pl.Service != nil:
		return fmt.Sprintf("on service %s", name(pl.Service.Name, pl.Service.Where))
	}
	return "globally"
}
