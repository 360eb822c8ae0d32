package gateway

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/legacy-auth/legacy-auth/internal/kongsim"
)

// forward is everything the proxy needs about one request, computed by the
// handler and carried to Rewrite through the request context.
type forward struct {
	service *Service
	path    string // upstream path
	prefix  string // stripped route prefix, "" if nothing was stripped
	// headers, when non-nil, replaces the request's headers: the upstream
	// headers kongsim reports after the plugin ran.
	headers []kongsim.Header
}

type forwardKey struct{}

// Kong's default upstream timeouts (service connect/read/write_timeout).
const upstreamTimeout = 60 * time.Second

func (g *Gateway) newProxy() *httputil.ReverseProxy {
	tr := &http.Transport{
		// Never an environment proxy: the gateway talks to local services.
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: upstreamTimeout}).DialContext,
		ResponseHeaderTimeout: upstreamTimeout,
		IdleConnTimeout:       60 * time.Second,
		MaxIdleConnsPerHost:   32,
		// Forward Accept-Encoding as the client sent it (or not at all),
		// like Kong, instead of Go asking for gzip on its own.
		DisableCompression: true,
	}
	return &httputil.ReverseProxy{
		Rewrite:      g.rewrite,
		Transport:    tr,
		ErrorHandler: g.proxyError,
		// Flush streamed responses (SSE) at once, as Kong does with
		// response buffering off; cheap for ordinary responses.
		FlushInterval: -1,
	}
}

// hopByHop are headers that describe one connection, never forwarded.
// Content-Length and Transfer-Encoding are set by the transport from the
// actual body.
var hopByHop = map[string]bool{
	"connection": true, "proxy-connection": true, "keep-alive": true, "te": true,
	"trailer": true, "transfer-encoding": true, "upgrade": true, "content-length": true,
	"host": true,
}

// forwardedHeaders are set by Kong (nginx proxy_set_header) after the
// access phase, overriding whatever the client or a plugin put there.
var forwardedHeaders = []string{
	"X-Real-IP", "X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host",
	"X-Forwarded-Port", "X-Forwarded-Path", "X-Forwarded-Prefix",
}

func (g *Gateway) rewrite(pr *httputil.ProxyRequest) {
	f := pr.In.Context().Value(forwardKey{}).(*forward)
	out := pr.Out
	out.URL = &url.URL{Scheme: f.service.Protocol, Host: f.service.hostPort(), Path: f.path, RawQuery: pr.In.URL.RawQuery}
	out.Host = f.service.hostHeader()

	if f.headers != nil {
		h := http.Header{}
		// Keep what ReverseProxy itself set for protocol upgrades.
		for _, k := range []string{"Connection", "Upgrade", "Te"} {
			if v, ok := out.Header[k]; ok {
				h[k] = v
			}
		}
		for _, kv := range f.headers {
			if hopByHop[strings.ToLower(kv.Name)] {
				continue
			}
			// Direct assignment keeps the plugin's spelling on the wire
			// (X-User-ID, not X-User-Id): net/http writes keys as stored.
			h[kv.Name] = append(h[kv.Name], kv.Value)
		}
		out.Header = h
	}
	for _, name := range forwardedHeaders {
		delFold(out.Header, name)
	}
	ip := clientIP(pr.In)
	xff := ip
	if prior := pr.In.Header.Values("X-Forwarded-For"); len(prior) > 0 {
		xff = strings.Join(prior, ", ") + ", " + ip
	}
	host := pr.In.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	rawPath, _, _ := strings.Cut(pr.In.RequestURI, "?")
	if !strings.HasPrefix(rawPath, "/") {
		rawPath = pr.In.URL.EscapedPath()
	}
	// Direct assignment: Kong's spelling (X-Real-IP, not X-Real-Ip).
	out.Header["X-Real-IP"] = []string{ip}
	out.Header["X-Forwarded-For"] = []string{xff}
	out.Header["X-Forwarded-Proto"] = []string{"http"}
	out.Header["X-Forwarded-Host"] = []string{host}
	out.Header["X-Forwarded-Port"] = []string{localPort(pr.In)}
	out.Header["X-Forwarded-Path"] = []string{rawPath}
	if f.prefix != "" {
		out.Header["X-Forwarded-Prefix"] = []string{f.prefix}
	}
}

// delFold deletes every spelling of name.
func delFold(h http.Header, name string) {
	for k := range h {
		if strings.EqualFold(k, name) {
			delete(h, k)
		}
	}
}

// localPort is the gateway port the request came in on.
func localPort(r *http.Request) string {
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		if tcp, ok := a.(*net.TCPAddr); ok {
			return strconv.Itoa(tcp.Port)
		}
	}
	return ""
}

// proxyError answers like Kong when the upstream fails: 504 on a timeout,
// 502 otherwise (connection refused included).
func (g *Gateway) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		return // the client went away; nginx would log a 499, nothing to send
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		g.log.Warn("upstream timed out", "url", r.URL.String(), "err", err)
		kongError(w, http.StatusGatewayTimeout, msgTimeout)
		return
	}
	g.log.Warn("upstream failed", "err", err)
	kongError(w, http.StatusBadGateway, msgBadUpstream)
}
