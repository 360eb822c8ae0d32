package gateway

import (
	"net/url"
	"slices"
	"strings"
)

// match is a routing decision.
type match struct {
	Route *Route
	// Prefix is the route path that matched ("" for a methods-only route):
	// what strip_path removes.
	Prefix string
}

// Match picks the route for a request, following Kong 3's router
// (traditional_compatible flavour) for the subset the gateway supports:
//
//  1. a route matches when its methods (if any) contain the method and one
//     of its paths (if any) is a plain string prefix of the normalized path
//     (so "/api" also matches "/apiv2", as in Kong);
//  2. among matches, the route constraining more fields wins (methods+paths
//     beats paths only): Kong's "match weight", its most significant key;
//  3. then the longest matching path prefix;
//  4. then file order.
//
// Kong orders step 3 by the longest path the route declares, not the one
// that matched; the two differ only for routes whose several paths have
// different lengths, which the gateway resolves by the matched one.
func (d *Deck) Match(method, path string) *match {
	var best *match
	bestWeight, bestLen := -1, -1
	for _, r := range d.Routes {
		if len(r.Methods) > 0 && !slices.Contains(r.Methods, method) {
			continue
		}
		prefix, ok := longestPrefix(r.Paths, path)
		if !ok {
			continue
		}
		weight := 0
		if len(r.Methods) > 0 {
			weight++
		}
		if len(r.Paths) > 0 {
			weight++
		}
		// Routes are in file order, so strict comparisons keep the first.
		if weight > bestWeight || (weight == bestWeight && len(prefix) > bestLen) {
			best, bestWeight, bestLen = &match{Route: r, Prefix: prefix}, weight, len(prefix)
		}
	}
	return best
}

// longestPrefix returns the longest of paths that prefixes path. A route
// without paths matches any path with an empty prefix.
func longestPrefix(paths []string, path string) (string, bool) {
	if len(paths) == 0 {
		return "", true
	}
	best, found := "", false
	for _, p := range paths {
		if strings.HasPrefix(path, p) && (!found || len(p) > len(best)) {
			best, found = p, true
		}
	}
	return best, found
}

// RouteFor is the route a request for rawPath (percent-encoded, as a client
// sends it) reaches, or nil: decoded and normalized as ServeHTTP does.
func (d *Deck) RouteFor(method, rawPath string) *Route {
	p, err := url.PathUnescape(rawPath)
	if err != nil {
		return nil
	}
	if m := d.Match(method, normalizePath(p)); m != nil {
		return m.Route
	}
	return nil
}
