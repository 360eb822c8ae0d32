package identity

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"golang.org/x/time/rate"
)

// The issuers' key sets. github.com/MicahParks/keyfunc/v3 (with
// MicahParks/jwkset) is the JWKS client golang-jwt's own documentation
// points to: it parses every JWK type golang-jwt verifies, refreshes in
// the background, keeps the last good set when a refresh fails, and
// refetches on an unknown kid through a rate limiter. What this file adds
// is what a gateway needs around it:
//
//   - the first fetch runs in the background, so a configuration change
//     never blocks on the provider; a request waits for it at most jwksWait
//     and is answered 503 (not 401) while no key was ever loaded;
//   - an unknown kid refetches at most once per jwksUnknownKIDEvery, and
//     the refetch (the limiter's wait included) is bounded by jwksWait: a
//     flood of random kids costs one fetch a period, no request waits long;
//   - a JWKS answer larger than maxJWKSBytes is refused (the last good set
//     stays);
//   - one key set per jwks_uri for the whole process, held by the engines
//     that use it (lifecycle.go) and stopped by the last one.
const (
	jwksWait            = 100 * time.Millisecond
	jwksRefreshEvery    = 15 * time.Minute
	jwksUnknownKIDEvery = 30 * time.Second
	jwksHTTPTimeout     = 10 * time.Second
	maxJWKSBytes        = 256 << 10
)

// jwksKeys is one jwks_uri's key set.
type jwksKeys struct {
	uri    string
	wait   time.Duration // jwksWait (tests: jwksWaitFor)
	ready  chan struct{} // closed once the first fetch ended (well or not)
	kf     keyfunc.Keyfunc
	err    error // creating the client failed (a URL jwkset refuses)
	cancel context.CancelFunc
}

var jwksSets = struct {
	sync.Mutex
	m map[string]*jwksKeys
}{m: map[string]*jwksKeys{}}

// jwksFor returns the process's key set of uri, starting it when new. The
// caller holds the resource "jwks|"+uri (Provision).
func jwksFor(uri string) *jwksKeys {
	jwksSets.Lock()
	defer jwksSets.Unlock()
	if k := jwksSets.m[uri]; k != nil {
		return k
	}
	ctx, cancel := context.WithCancel(context.Background())
	wait := jwksWait
	if w, ok := jwksWaitFor.Load(uri); ok {
		wait = w.(time.Duration)
	}
	k := &jwksKeys{uri: uri, wait: wait, ready: make(chan struct{}), cancel: cancel}
	jwksSets.m[uri] = k
	go k.start(ctx)
	return k
}

// jwksWaitFor overrides jwksWait for a jwks_uri (tests whose assertions
// are counts, on a machine too loaded to answer a local fetch in 100 ms).
var jwksWaitFor sync.Map

// closeJWKS stops uri's background refresh (its last holder let go).
func closeJWKS(uri string) {
	jwksSets.Lock()
	defer jwksSets.Unlock()
	if k := jwksSets.m[uri]; k != nil {
		k.cancel()
		delete(jwksSets.m, uri)
	}
}

// start creates the keyfunc, whose first fetch runs here, off every
// request's path.
func (k *jwksKeys) start(ctx context.Context) {
	defer close(k.ready)
	client := &http.Client{Timeout: jwksHTTPTimeout, Transport: limitedTransport{next: jwksTransport}}
	kf, err := keyfunc.NewDefaultOverrideCtx(ctx, []string{k.uri}, keyfunc.Override{
		Client:            client,
		HTTPTimeout:       jwksHTTPTimeout,
		RefreshInterval:   jwksRefreshEvery,
		RefreshUnknownKID: rate.NewLimiter(rate.Every(jwksUnknownKIDEvery), 1),
		RateLimitWaitMax:  k.wait,
		RefreshErrorHandlerFunc: func(u string) func(context.Context, error) {
			return func(_ context.Context, err error) {
				if ctx.Err() == nil {
					logger.Warn("fetching an issuer's keys failed; the last good set stays in use", "jwks_uri", u, "error", err.Error())
				}
			}
		},
	})
	if err != nil {
		logger.Error("jwks_uri: cannot start its key set", "jwks_uri", k.uri, "error", err.Error())
		k.err = fmt.Errorf("%w: jwks_uri %s: %v", ErrUnavailable, k.uri, err)
		return
	}
	k.kf = kf
}

// keyfunc waits for the first fetch at most jwksWait (or ctx).
func (k *jwksKeys) keyfunc(ctx context.Context) (keyfunc.Keyfunc, error) {
	select {
	case <-k.ready:
	default:
		t := time.NewTimer(k.wait)
		defer t.Stop()
		select {
		case <-k.ready:
		case <-t.C:
			return nil, fmt.Errorf("%w: the keys of %s are not loaded yet", ErrUnavailable, k.uri)
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: %v", ErrUnavailable, ctx.Err())
		}
	}
	if k.err != nil {
		return nil, k.err
	}
	return k.kf, nil
}

// empty reports whether no key of the set is known (never fetched well).
func (k *jwksKeys) empty(ctx context.Context) bool {
	if k.kf == nil {
		return true
	}
	keys, err := k.kf.Storage().KeyReadAll(ctx)
	return err != nil || len(keys) == 0
}

// jwksTransport is the JWKS clients' transport; every fetch is counted.
var jwksTransport http.RoundTripper = http.DefaultTransport.(*http.Transport).Clone()

// limitedTransport counts JWKS fetches and cuts an answer past
// maxJWKSBytes, so the decoder fails (and the last good set stays)
// instead of reading without end.
type limitedTransport struct{ next http.RoundTripper }

func (t limitedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	jwksFetches.Inc()
	resp, err := t.next.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	resp.Body = &limitedBody{ReadCloser: resp.Body, left: maxJWKSBytes}
	return resp, nil
}

var errJWKSTooLarge = errors.New("JWKS answer larger than 256 KiB")

type limitedBody struct {
	io.ReadCloser
	left int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, errJWKSTooLarge
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	return n, err
}
