package gateway

import (
	"net"
	"strconv"
	"strings"
)

// normalizePath is the path the router sees: Go has already percent-decoded
// it; dot segments are resolved and repeated slashes merged, as Kong's
// normalization (and nginx's merge_slashes) do, so "/public/../api" cannot
// dodge the /api route. A trailing slash is kept: it matters to strip_path.
func normalizePath(p string) string {
	if p == "" {
		return "/"
	}
	segs := strings.Split(p, "/")
	out := make([]string, 0, len(segs))
	for i, s := range segs {
		last := i == len(segs)-1
		switch s {
		case "", ".":
			if last {
				out = append(out, "") // keeps the trailing slash
			}
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
			if last {
				out = append(out, "")
			}
		default:
			out = append(out, s)
		}
	}
	return "/" + strings.Join(out, "/")
}

// upstreamPath computes the path sent to the service, following Kong's
// router get_upstream_uri (path_handling v0, Kong 3's default). base is the
// service path ("/" when none), path the normalized request path, prefix
// the matched route path.
func upstreamPath(base string, stripPath bool, path, prefix string) string {
	if base == "" {
		base = "/"
	}
	postfix := sanitizePostfix(strings.TrimPrefix(path, prefix))
	if strings.HasSuffix(base, "/") {
		if !stripPath {
			return base + strings.TrimPrefix(path, "/")
		}
		switch {
		case postfix == "" && base == "/":
			return "/"
		case postfix == "" && strings.HasSuffix(path, "/"):
			return base
		case postfix == "":
			return strings.TrimSuffix(base, "/")
		case strings.HasPrefix(postfix, "/"):
			return strings.TrimSuffix(base, "/") + postfix
		default:
			return base + postfix
		}
	}
	if !stripPath {
		if path == "/" {
			return base
		}
		return base + path
	}
	switch {
	case postfix == "" && len(path) > 1 && strings.HasSuffix(path, "/"):
		return base + "/"
	case postfix == "":
		return base
	case strings.HasPrefix(postfix, "/"):
		return base + postfix
	default:
		return base + "/" + postfix
	}
}

// sanitizePostfix drops a leading "./" or "../" (Kong's sanitize_uri_postfix),
// so a route prefix cannot be used to climb above the service path.
func sanitizePostfix(p string) string {
	switch {
	case p == "." || p == "..":
		return ""
	case strings.HasPrefix(p, "./"):
		return p[2:]
	case strings.HasPrefix(p, "../"):
		return p[3:]
	}
	return p
}

// hostHeader is the Host Kong sends upstream (preserve_host is off): the
// service host, with the port unless it is the scheme's default.
func (s *Service) hostHeader() string {
	if (s.Protocol == "http" && s.Port == 80) || (s.Protocol == "https" && s.Port == 443) {
		return s.Host
	}
	return net.JoinHostPort(s.Host, strconv.Itoa(s.Port))
}

// hostPort is the address to dial.
func (s *Service) hostPort() string {
	return net.JoinHostPort(s.Host, strconv.Itoa(s.Port))
}
