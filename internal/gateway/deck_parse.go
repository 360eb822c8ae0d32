package gateway

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// parser walks the document and collects entities; foreign keys given by
// name are resolved in link, once every entity is known.
type parser struct {
	src  string
	deck *Deck

	routeService map[*Route]nameRef // top-level route -> service name
	pluginScope  []pluginRef        // plugin -> route/service names
}

type nameRef struct {
	name string
	line int
}

type pluginRef struct {
	p               *Plugin
	service, route  string
	line            int
	implicitService bool // nested in a service: the service is already set
	implicitRoute   bool // nested in a route: the route is already set
}

func (p *parser) document(root *yaml.Node) error {
	top, err := p.asMap(root, "", "top-level", topKeys)
	if err != nil {
		return err
	}
	v := resolve(top.vals["_format_version"])
	switch {
	case isNull(v):
		return p.errAt(top.line, "", `_format_version is required (use "%s")`, SupportedFormatVersion)
	case v.Kind != yaml.ScalarNode || v.Value != SupportedFormatVersion:
		return p.errAt(v.Line, "", `_format_version: only "%s" is supported, got %q`, SupportedFormatVersion, v.Value)
	}
	// _transform only matters for credentials, which the gateway has none
	// of; it is still type-checked so a typo does not pass here and fail in Kong.
	if _, err := p.boolean(top, "_transform", true); err != nil {
		return err
	}

	services, err := p.seq(top, "services")
	if err != nil {
		return err
	}
	for i, n := range services {
		if err := p.service(n, fmt.Sprintf("services[%d]", i)); err != nil {
			return err
		}
	}
	routes, err := p.seq(top, "routes")
	if err != nil {
		return err
	}
	for i, n := range routes {
		if _, err := p.route(n, fmt.Sprintf("routes[%d]", i), nil); err != nil {
			return err
		}
	}
	plugins, err := p.seq(top, "plugins")
	if err != nil {
		return err
	}
	for i, n := range plugins {
		if err := p.plugin(n, fmt.Sprintf("plugins[%d]", i), nil, nil); err != nil {
			return err
		}
	}
	return nil
}

func (p *parser) service(n *yaml.Node, where string) error {
	m, err := p.asMap(n, where, "service", serviceKeys)
	if err != nil {
		return err
	}
	s := &Service{Where: where, Line: m.line}
	if s.Name, err = p.str(m, "name"); err != nil {
		return err
	}
	if err := p.serviceTarget(m, s); err != nil {
		return err
	}
	p.deck.Services = append(p.deck.Services, s)

	routes, err := p.seq(m, "routes")
	if err != nil {
		return err
	}
	for i, rn := range routes {
		if _, err := p.route(rn, fmt.Sprintf("%s.routes[%d]", where, i), s); err != nil {
			return err
		}
	}
	plugins, err := p.seq(m, "plugins")
	if err != nil {
		return err
	}
	for i, pn := range plugins {
		if err := p.plugin(pn, fmt.Sprintf("%s.plugins[%d]", where, i), s, nil); err != nil {
			return err
		}
	}
	return nil
}

// serviceTarget fills protocol/host/port/path from `url` or from the
// separate fields, with Kong's defaults (protocol http, port 80; with url,
// the scheme's port).
func (p *parser) serviceTarget(m *mapNode, s *Service) error {
	rawURL, err := p.str(m, "url")
	if err != nil {
		return err
	}
	if rawURL != "" {
		for _, k := range []string{"protocol", "host", "port", "path"} {
			if m.has(k) {
				return p.errAt(m.lineOf(k), s.Where, "url and %s are mutually exclusive", k)
			}
		}
		return p.serviceURL(m, s, rawURL)
	}
	if s.Protocol, err = p.str(m, "protocol"); err != nil {
		return err
	}
	if s.Protocol == "" {
		s.Protocol = "http"
	}
	if s.Host, err = p.str(m, "host"); err != nil {
		return err
	}
	port, set, err := p.integer(m, "port")
	if err != nil {
		return err
	}
	s.Port = 80
	if set {
		s.Port = port
	}
	if s.Path, err = p.str(m, "path"); err != nil {
		return err
	}
	return p.checkService(m, s)
}

func (p *parser) serviceURL(m *mapNode, s *Service, raw string) error {
	line := m.lineOf("url")
	u, err := url.Parse(raw)
	if err != nil {
		return p.errAt(line, s.Where, "url: %v", err)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return p.errAt(line, s.Where, "url: must not contain credentials, a query or a fragment")
	}
	s.Protocol, s.Host, s.Path = u.Scheme, u.Hostname(), u.EscapedPath()
	s.Port = 80
	if s.Protocol == "https" {
		s.Port = 443
	}
	if ps := u.Port(); ps != "" {
		if s.Port, err = strconv.Atoi(ps); err != nil {
			return p.errAt(line, s.Where, "url: bad port %q", ps)
		}
	}
	return p.checkService(m, s)
}

var kongServiceProtocols = []string{"grpc", "grpcs", "tcp", "tls", "tls_passthrough", "udp", "ws", "wss"}

func (p *parser) checkService(m *mapNode, s *Service) error {
	switch {
	case s.Protocol != "http" && s.Protocol != "https":
		why := "unknown protocol"
		if slices.Contains(kongServiceProtocols, s.Protocol) {
			why = "protocol not supported by the local gateway"
		}
		return p.errAt(m.line, s.Where, "%s %q (supported: http, https)", why, s.Protocol)
	case s.Host == "":
		return p.errAt(m.line, s.Where, "host is required (set url, or host)")
	case s.Port < 1 || s.Port > 65535:
		return p.errAt(m.line, s.Where, "port must be between 1 and 65535, got %d", s.Port)
	case s.Path != "" && !strings.HasPrefix(s.Path, "/"):
		return p.errAt(m.line, s.Where, "path must start with /, got %q", s.Path)
	}
	return nil
}

// methodRE is Kong's rule for route methods: uppercase letters only.
var methodRE = regexp.MustCompile(`^[A-Z]+$`)

func (p *parser) route(n *yaml.Node, where string, svc *Service) (*Route, error) {
	keys := topRouteKeys
	if svc != nil {
		keys = nestedRouteKeys
	}
	m, err := p.asMap(n, where, "route", keys)
	if err != nil {
		return nil, err
	}
	r := &Route{Where: where, Line: m.line, Service: svc, order: len(p.deck.Routes)}
	if r.Name, err = p.str(m, "name"); err != nil {
		return nil, err
	}
	if r.StripPath, err = p.boolean(m, "strip_path", true); err != nil {
		return nil, err
	}
	if r.Paths, err = p.strs(m, "paths"); err != nil {
		return nil, err
	}
	for i, path := range r.Paths {
		switch {
		case strings.HasPrefix(path, "~"):
			return nil, p.errAt(m.lineOf("paths"), where, "paths[%d]: regex path %q is not supported by the local gateway (use a plain prefix)", i, path)
		case !strings.HasPrefix(path, "/"):
			return nil, p.errAt(m.lineOf("paths"), where, "paths[%d]: must start with /, got %q", i, path)
		}
	}
	if r.Methods, err = p.strs(m, "methods"); err != nil {
		return nil, err
	}
	for i, meth := range r.Methods {
		if !methodRE.MatchString(meth) {
			return nil, p.errAt(m.lineOf("methods"), where, "methods[%d]: invalid method %q (uppercase letters only)", i, meth)
		}
	}
	if len(r.Paths) == 0 && len(r.Methods) == 0 {
		return nil, p.errAt(m.line, where, "a route must set at least one of paths, methods")
	}
	if svc == nil {
		name, err := p.ref(m, "service")
		if err != nil {
			return nil, err
		}
		if name != "" {
			if p.routeService == nil {
				p.routeService = map[*Route]nameRef{}
			}
			p.routeService[r] = nameRef{name, m.lineOf("service")}
		}
	}
	p.deck.Routes = append(p.deck.Routes, r)

	plugins, err := p.seq(m, "plugins")
	if err != nil {
		return nil, err
	}
	for i, pn := range plugins {
		if err := p.plugin(pn, fmt.Sprintf("%s.plugins[%d]", where, i), nil, r); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// pluginProtocols are the protocols a plugin entry may list (Kong 3.x).
var pluginProtocols = []string{"grpc", "grpcs", "http", "https", "tcp", "tls", "tls_passthrough", "udp", "ws", "wss"}

// defaultPluginProtocols is Kong's default for a plugin's protocols.
var defaultPluginProtocols = []string{"grpc", "grpcs", "http", "https"}

func (p *parser) plugin(n *yaml.Node, where string, svc *Service, route *Route) error {
	keys := topPluginKeys
	switch {
	case svc != nil:
		keys = servicePluginKeys
	case route != nil:
		keys = routePluginKeys
	}
	m, err := p.asMap(n, where, "plugin", keys)
	if err != nil {
		return err
	}
	pl := &Plugin{Where: where, Line: m.line, Service: svc, Route: route}
	if pl.Name, err = p.str(m, "name"); err != nil {
		return err
	}
	if pl.Name == "" {
		return p.errAt(m.line, where, "plugin name is required")
	}
	if pl.Enabled, err = p.boolean(m, "enabled", true); err != nil {
		return err
	}
	if pl.Config, err = p.object(m, "config"); err != nil {
		return err
	}
	if pl.Protocols, err = p.strs(m, "protocols"); err != nil {
		return err
	}
	if !m.has("protocols") {
		pl.Protocols = defaultPluginProtocols
	}
	for i, proto := range pl.Protocols {
		if !slices.Contains(pluginProtocols, proto) {
			return p.errAt(m.lineOf("protocols"), where, "protocols[%d]: unknown protocol %q (one of: %s)", i, proto, strings.Join(pluginProtocols, ", "))
		}
	}
	ref := pluginRef{p: pl, line: m.line, implicitService: svc != nil, implicitRoute: route != nil}
	if !ref.implicitService && !ref.implicitRoute {
		if ref.service, err = p.ref(m, "service"); err != nil {
			return err
		}
	}
	if !ref.implicitRoute {
		if ref.route, err = p.ref(m, "route"); err != nil {
			return err
		}
	}
	p.pluginScope = append(p.pluginScope, ref)
	p.deck.Plugins = append(p.deck.Plugins, pl)
	return nil
}
