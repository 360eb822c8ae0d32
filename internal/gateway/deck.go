package gateway

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"go.yaml.in/yaml/v3"
)

// Deck is a parsed and cross-checked declarative config. Nested entities are
// flattened: every route and plugin appears once in Routes / Plugins, with
// its scope resolved to pointers.
type Deck struct {
	Source   string
	Services []*Service
	Routes   []*Route // in file order
	Plugins  []*Plugin
}

// Service is an upstream the gateway proxies to.
type Service struct {
	ID       string
	Name     string
	Protocol string // http or https
	Host     string
	Port     int
	Path     string // "" when the service has none (Kong then uses "/")
	Where    string
	Line     int
}

// Route maps requests to a service.
type Route struct {
	ID        string
	Name      string
	Service   *Service // nil for a service-less route (Kong answers 503)
	Paths     []string
	Methods   []string
	StripPath bool
	Where     string
	Line      int
	order     int // position in the file: the router's last tie-breaker
}

// Plugin is one plugin entry. Route and Service are its scope: both nil
// for a global plugin.
type Plugin struct {
	ID        string
	Name      string
	Config    map[string]any
	Enabled   bool
	Protocols []string
	Route     *Route
	Service   *Service
	Where     string
	Line      int

	term *termination // request-termination's answer, checked at parse time
}

// LoadDeck reads and parses the declarative config at path.
func LoadDeck(path string) (*Deck, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading declarative config: %w", err)
	}
	return ParseDeck(b, path)
}

// ParseDeck parses a declarative config; source names it in errors.
func ParseDeck(data []byte, source string) (*Deck, error) {
	p := &parser{src: source, deck: &Deck{Source: source}}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &DeckError{Source: source, Msg: "the declarative config is empty"}
		}
		return nil, &DeckError{Source: source, Msg: fmt.Sprintf("invalid YAML: %v", err)}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, &DeckError{Source: source, Line: extra.Line, Msg: "the declarative config must be a single YAML document"}
	}
	if len(doc.Content) != 1 {
		return nil, &DeckError{Source: source, Msg: "the declarative config is empty"}
	}
	if err := p.document(doc.Content[0]); err != nil {
		return nil, err
	}
	if err := p.link(); err != nil {
		return nil, err
	}
	for _, pl := range p.deck.Plugins {
		if pl.Name == RequestTermination {
			t, err := newTermination(source, pl)
			if err != nil {
				return nil, err
			}
			pl.term = t
		}
	}
	return p.deck, nil
}

// Keys of each entity. kongOnly lists Kong keys (3.x) the gateway refuses,
// so the error can say "not supported here" rather than "unknown".
var (
	topKeys = entityKeys{
		supported: []string{"_format_version", "_transform", "services", "routes", "plugins"},
		kongOnly: []string{"consumers", "upstreams", "targets", "certificates", "ca_certificates", "snis",
			"vaults", "consumer_groups", "keys", "key_sets", "filter_chains", "_workspace", "_info", "_konnect", "parameters"},
	}
	serviceKeys = entityKeys{
		supported: []string{"name", "url", "protocol", "host", "port", "path", "routes", "plugins"},
		kongOnly: []string{"id", "retries", "connect_timeout", "write_timeout", "read_timeout", "tags",
			"client_certificate", "tls_verify", "tls_verify_depth", "ca_certificates", "enabled"},
	}
	routeKongOnly = []string{"id", "hosts", "headers", "snis", "sources", "destinations", "protocols",
		"https_redirect_status_code", "regex_priority", "preserve_host", "request_buffering",
		"response_buffering", "path_handling", "tags", "expression", "priority"}
	nestedRouteKeys = entityKeys{
		supported: []string{"name", "paths", "methods", "strip_path", "plugins"},
		kongOnly:  append([]string{"service"}, routeKongOnly...),
	}
	topRouteKeys = entityKeys{
		supported: []string{"name", "service", "paths", "methods", "strip_path", "plugins"},
		kongOnly:  routeKongOnly,
	}
	pluginKongOnly = []string{"id", "consumer", "consumer_group", "ordering", "tags", "instance_name"}
	topPluginKeys  = entityKeys{
		supported: []string{"name", "config", "enabled", "protocols", "service", "route"},
		kongOnly:  pluginKongOnly,
	}
	servicePluginKeys = entityKeys{
		supported: []string{"name", "config", "enabled", "protocols", "route"},
		kongOnly:  append([]string{"service"}, pluginKongOnly...),
	}
	routePluginKeys = entityKeys{
		supported: []string{"name", "config", "enabled", "protocols"},
		kongOnly:  append([]string{"service", "route"}, pluginKongOnly...),
	}
)

// SupportedFormatVersion is the only _format_version accepted: the one of
// Kong 3.x declarative files.
const SupportedFormatVersion = "3.0"
