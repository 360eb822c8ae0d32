package sharedcache

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Revocation is one pub/sub message; the package doc gives the wire format.
type Revocation struct {
	CredentialSHA256 string `json:"credential_sha256,omitempty"`
	UserID           string `json:"user_id,omitempty"`
}

// Limits on revocation messages.
const (
	maxRevocationBytes = 4096
	maxUserIDBytes     = 256
)

// ParseRevocation decodes and checks one revocation message (see the package
// doc for what is accepted). Its errors never quote the message.
func ParseRevocation(b []byte) (Revocation, error) {
	if len(b) > maxRevocationBytes {
		return Revocation{}, fmt.Errorf("message of %d bytes exceeds %d", len(b), maxRevocationBytes)
	}
	var raw struct {
		Cred json.RawMessage `json:"credential_sha256"`
		User json.RawMessage `json:"user_id"`
	}
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' {
		return Revocation{}, errors.New("not a JSON object")
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return Revocation{}, fmt.Errorf("not a JSON object: %w", err)
	}
	var r Revocation
	if isPresent(raw.Cred) {
		if err := json.Unmarshal(raw.Cred, &r.CredentialSHA256); err != nil {
			return Revocation{}, errors.New("credential_sha256 is not a string")
		}
	}
	if isPresent(raw.User) {
		switch u := raw.User; {
		case u[0] == '"':
			if err := json.Unmarshal(u, &r.UserID); err != nil {
				return Revocation{}, errors.New("user_id is not a valid string")
			}
		case isInteger(u):
			r.UserID = string(u)
		default:
			return Revocation{}, errors.New("user_id is neither a string nor an integer")
		}
	}
	if err := r.normalize(); err != nil {
		return Revocation{}, err
	}
	return r, nil
}

func isPresent(raw json.RawMessage) bool {
	return len(raw) > 0 && string(raw) != "null"
}

func isInteger(b []byte) bool {
	if len(b) > 0 && b[0] == '-' {
		b = b[1:]
	}
	if len(b) == 0 || len(b) > 20 {
		return false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// normalize lower-cases the credential hash and checks both fields.
func (r *Revocation) normalize() error {
	if r.CredentialSHA256 == "" && r.UserID == "" {
		return errors.New("neither credential_sha256 nor user_id is set")
	}
	if r.CredentialSHA256 != "" {
		r.CredentialSHA256 = strings.ToLower(r.CredentialSHA256)
		if len(r.CredentialSHA256) != 64 {
			return fmt.Errorf("credential_sha256 has %d characters, want 64 hex digits", len(r.CredentialSHA256))
		}
		if _, err := hex.DecodeString(r.CredentialSHA256); err != nil {
			return errors.New("credential_sha256 is not hexadecimal")
		}
	}
	if len(r.UserID) > maxUserIDBytes {
		return fmt.Errorf("user_id of %d bytes exceeds %d", len(r.UserID), maxUserIDBytes)
	}
	return nil
}

// Publish sends r to every subscriber (for tests and an operator CLI; Rails
// publishes the same JSON itself).
func (c *Cache) Publish(ctx context.Context, r Revocation) error {
	if err := r.normalize(); err != nil {
		return fmt.Errorf("redis publish: %w", err)
	}
	msg, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("redis publish: encode: %w", err)
	}
	ctx, cancel := c.opCtx(ctx)
	defer cancel()
	err = c.client.Publish(ctx, c.channel, msg).Err()
	c.observe(err)
	if err != nil {
		return fmt.Errorf("redis publish: %w", err)
	}
	return nil
}

// Subscribe runs until ctx is done or the Cache is closed: it subscribes to
// Prefix+"revoke", decodes each message and calls handle with it, one at a
// time on the calling goroutine. Bad messages are logged and skipped; a
// panic in handle is recovered and logged. When the subscription breaks
// (Redis down, connection lost, or no answer to a ping for two ping
// intervals) it reconnects with exponential backoff (100 ms doubling to 5 s,
// with jitter). Each time a subscription is established after a failure
// (a lost subscription, or failed first attempts) it calls
// Options.OnResubscribe: revocations may have been missed meanwhile.
func (c *Cache) Subscribe(ctx context.Context, handle func(Revocation)) {
	if handle == nil {
		c.log.Error("sharedcache: Subscribe called with a nil handler")
		return
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-c.closed:
			cancel()
		case <-ctx.Done():
		}
	}()

	var (
		subscribedOnce bool
		failures       int
		downSince      time.Time
		backoff        = c.minBackoff
	)
	for ctx.Err() == nil {
		var upSince time.Time
		onSubscribed := func() {
			upSince = time.Now()
			c.succeeded()
			// Any failure before this point may have hidden revocations.
			gap := subscribedOnce || failures > 0
			if gap {
				c.log.Info("sharedcache: subscribed to revocations after a break", "channel", c.channel,
					"down_for", time.Since(downSince).Round(time.Millisecond).String(), "failed_attempts", failures)
			} else {
				c.log.Debug("sharedcache: subscribed to revocations", "channel", c.channel)
			}
			subscribedOnce, failures = true, 0
			if gap && c.onResub != nil {
				c.safely("OnResubscribe", c.onResub)
			}
		}
		err := c.subscribeOnce(ctx, handle, onSubscribed)
		if ctx.Err() != nil {
			return
		}
		if !upSince.IsZero() && time.Since(upSince) > c.maxBackoff {
			backoff = c.minBackoff // a session that lasted: start over
		}
		c.failed(err)
		if failures == 0 {
			downSince = time.Now()
			what := "sharedcache: revocation subscription lost; reconnecting"
			if !subscribedOnce {
				what = "sharedcache: cannot subscribe to revocations; retrying"
			}
			c.log.Warn(what, "channel", c.channel, "error", err.Error())
		} else {
			c.log.Debug("sharedcache: revocation subscription still down", "attempt", failures, "error", err.Error())
		}
		failures++
		wait := backoff/2 + rand.N(backoff/2+1) // jitter: [backoff/2, backoff]
		backoff = min(2*backoff, c.maxBackoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// subscribeOnce runs one subscription until it breaks (returning why) or ctx
// is done (returning nil).
func (c *Cache) subscribeOnce(ctx context.Context, handle func(Revocation), onSubscribed func()) error {
	ps := c.client.Subscribe(ctx, c.channel) // dial errors surface in Receive
	defer ps.Close()
	stop := context.AfterFunc(ctx, func() { _ = ps.Close() }) // unblocks Receive
	defer stop()

	pingSent := false
	for {
		msg, err := ps.ReceiveTimeout(ctx, c.pingEvery)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				if pingSent {
					return fmt.Errorf("redis subscribe: no answer to ping within %s", c.pingEvery)
				}
				if err := ps.Ping(ctx); err != nil {
					return fmt.Errorf("redis subscribe: ping: %w", err)
				}
				pingSent = true
				continue
			}
			return fmt.Errorf("redis subscribe: %w", err)
		}
		pingSent = false
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" && m.Channel == c.channel {
				onSubscribed()
			}
		case *redis.Message:
			if m.Channel == c.channel {
				c.dispatch(m.Payload, handle)
			}
		case *redis.Pong:
		}
	}
}

func (c *Cache) dispatch(payload string, handle func(Revocation)) {
	r, err := ParseRevocation([]byte(payload))
	if err != nil {
		c.log.Warn("sharedcache: ignoring bad revocation message", "channel", c.channel, "bytes", len(payload), "error", err.Error())
		return
	}
	c.safely("revocation handler", func() { handle(r) })
}

// safely calls f, turning a panic into a log line.
func (c *Cache) safely(what string, f func()) {
	defer func() {
		if p := recover(); p != nil {
			c.log.Error("sharedcache: "+what+" panicked", "panic", fmt.Sprint(p))
		}
	}()
	f()
}
