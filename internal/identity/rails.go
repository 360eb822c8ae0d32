package identity

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/hashicorp/go-retryablehttp"
)

// maxAnswerBytes bounds the verify answer we read: an identity is a few
// hundred bytes; a larger body is refused as an invalid response.
const maxAnswerBytes = 64 << 10

// HTTP/2 health checks of auth-service connections. Without them a
// connection that silently stops answering (a peer that vanished, a
// firewall dropping the flow) stays in the pool and every verify call sent
// on it waits for its whole timeout until TCP keepalive gives up, minutes
// later. With them, a connection silent for h2SendPingTimeout is pinged and
// closed if no answer comes within h2PingTimeout; later calls dial anew.
const (
	h2SendPingTimeout  = 10 * time.Second
	h2PingTimeout      = 5 * time.Second
	h2WriteByteTimeout = 5 * time.Second
)

// newTransport is the auth-service transport: no proxy, bounded dials and
// handshakes, HTTP/2 when the server offers it, with ping health checks.
func newTransport() *http.Transport {
	return &http.Transport{
		Proxy: nil, // the auth service is internal; never send credentials through an env-configured proxy
		DialContext: (&net.Dialer{
			Timeout:   5 * time.Second, // the request context (timeout) cuts it shorter
			KeepAlive: 30 * time.Second,
		}).DialContext,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ExpectContinueTimeout: time.Second,
		ForceAttemptHTTP2:     true,
		HTTP2: &http.HTTP2Config{
			SendPingTimeout:  h2SendPingTimeout,
			PingTimeout:      h2PingTimeout,
			WriteByteTimeout: h2WriteByteTimeout,
		},
	}
}

// transport is shared by every plugin instance in the process: Kong starts
// a new instance on every plugin-iterator rebuild, and a transport per
// instance would throw the keep-alive pool away each time.
var transport = newTransport()

// httpClient follows no redirects: a 3xx from the verify endpoint is an
// unexpected status, and following it could send the credential elsewhere.
var httpClient = &http.Client{
	Transport: transport,
	CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	},
}

// UserAgent is sent with every verify call; the adapter stamps its version
// in it.
var UserAgent = "legacy-auth"

// authClient is the Rails verifier: it calls the Rails verify endpoint.
var _ Verifier = (*authClient)(nil)

// authClient calls the Rails verify endpoint.
//
// The retrying is go-retryablehttp's, with its batch-job defaults replaced by
// ones that suit a per-request call: a retry only where the request surely
// did not reach Rails' auth logic or Rails said "try again" (connection
// errors, 502/503/504), jittered, and always inside the request's deadline.
type authClient struct {
	url     string
	method  string
	timeout time.Duration
	extras  []ExtraHeader
	client  *retryablehttp.Client
}

func newAuthClient(s Settings) *authClient {
	return &authClient{
		url:     s.AuthURL.String(),
		method:  s.AuthMethod,
		timeout: s.Timeout,
		extras:  s.Extras,
		client: &retryablehttp.Client{
			HTTPClient:   httpClientFor(s.TLS),
			Logger:       nil, // we log once per failure ourselves, without the URL's secrets
			RetryWaitMin: 10 * time.Millisecond,
			RetryWaitMax: 100 * time.Millisecond,
			RetryMax:     s.Retries,
			CheckRetry:   retryPolicy,
			Backoff:      retryablehttp.LinearJitterBackoff,
			ErrorHandler: retryablehttp.PassthroughErrorHandler,
		},
	}
}

// retryPolicy retries connection errors and 502/503/504 only. A 401/403 is
// an answer; a 500 may mean Rails ran the check and crashed, so it is not
// repeated; a cancelled or expired context ends the attempt at once.
func retryPolicy(ctx context.Context, resp *http.Response, err error) (bool, error) {
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	if err != nil {
		return true, nil
	}
	switch resp.StatusCode {
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true, nil
	}
	return false, nil
}

// verify asks the auth service who holds credential. The returned error is
// one of the sentinels mapped by response.
func (a *authClient) Verify(ctx context.Context, cred credential) (*Identity, error) {
	ctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()

	req, err := retryablehttp.NewRequestWithContext(ctx, a.method, a.url, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: building request: %v", ErrInternal, err)
	}
	if cred.authorization != "" {
		req.Header.Set("Authorization", cred.authorization)
	}
	if cred.cookie != "" {
		req.Header.Set("Cookie", cred.cookie)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", UserAgent)

	resp, err := a.client.Do(req)
	answered := time.Now()
	if err != nil {
		return nil, fmt.Errorf("%w: %s", ErrUnavailable, describeCallError(ctx, err))
	}
	defer resp.Body.Close()

	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusUnauthorized, http.StatusForbidden:
		drain(resp.Body)
		return nil, &RejectedError{Status: resp.StatusCode}
	default:
		drain(resp.Body)
		return nil, &BadStatusError{Status: resp.StatusCode}
	}

	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%w: reading answer: %s", ErrUnavailable, describeCallError(ctx, err))
	}
	if len(body) > maxAnswerBytes {
		return nil, fmt.Errorf("%w: answer larger than %d bytes", ErrInvalidResponse, maxAnswerBytes)
	}
	return parseIdentity(body, a.extras, answered)
}

// describeCallError names the cause of a failed call without the URL (which
// may carry userinfo) and without the credential (never part of an error).
func describeCallError(ctx context.Context, err error) string {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) {
		return "timeout"
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) {
		if opErr.Err != nil {
			return opErr.Op + ": " + opErr.Err.Error()
		}
		return opErr.Op
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return "dns: " + dnsErr.Err
	}
	for u := errors.Unwrap(err); u != nil; u = errors.Unwrap(u) {
		err = u
	}
	return err.Error()
}

// drain reads a little of an unwanted body so the connection can be reused.
func drain(body io.Reader) {
	_, _ = io.Copy(io.Discard, io.LimitReader(body, 4096))
}
