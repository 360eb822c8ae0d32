package sharedcache

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// The connection modes of Options.Mode.
const (
	ModeStandalone = "standalone" // one server: Addrs[0]
	ModeSentinel   = "sentinel"   // Addrs are sentinels, MasterName names the monitored master
	ModeCluster    = "cluster"    // Addrs are seed nodes of a Redis Cluster
)

// DefaultTimeout is the per-operation timeout when Options.Timeout is zero.
const DefaultTimeout = 50 * time.Millisecond

// Options configures the connection.
type Options struct {
	// Mode is ModeStandalone (also when empty), ModeSentinel or ModeCluster.
	Mode string
	// Addrs are host:port pairs: the server (standalone, exactly one), the
	// sentinels (sentinel) or seed nodes (cluster).
	Addrs []string
	// MasterName is the sentinel master name; sentinel mode only.
	MasterName string
	// Username and Password authenticate to Redis (ACL user or requirepass).
	// In sentinel mode they are used for the data nodes, not the sentinels.
	Username string
	Password string
	// DB is the logical database; must be 0 in cluster mode.
	DB int
	// TLS dials with TLS (system roots, TLS 1.2+, server name from the
	// address).
	TLS bool
	// Prefix starts every key and the channel, e.g. "legacy-auth:".
	Prefix string
	// Timeout bounds each network step (dial, write, read, pool wait); a
	// whole call (Get, Set, Delete, Publish, each step of RevokeUser) is
	// additionally capped at 2×Timeout. Zero means DefaultTimeout. Keep it
	// short: Redis trouble must never hold a request.
	Timeout time.Duration
	// Logger receives the package's few log lines (health transitions,
	// subscription loss and recovery, bad revocation messages). Nil means
	// slog.Default().
	Logger *slog.Logger
	// OnResubscribe, if set, is called by Subscribe (on its goroutine) each
	// time the revocation subscription is established after a failure: after
	// it was lost, or when the first attempts failed (not when the very first
	// attempt succeeds). Revocations published while there was no
	// subscription were missed, so the caller should treat its local cache
	// as suspect (for example flush it).
	OnResubscribe func()
}

// CheckOptions validates o as New would, without creating anything.
func CheckOptions(o Options) error {
	if err := o.validate(); err != nil {
		return err
	}
	return nil
}

// validate checks the options and returns one error listing every problem.
func (o *Options) validate() error {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	mode := o.Mode
	switch mode {
	case "", ModeStandalone, ModeSentinel, ModeCluster:
	default:
		add("mode %q is not one of %q, %q, %q", mode, ModeStandalone, ModeSentinel, ModeCluster)
	}
	if mode == "" {
		mode = ModeStandalone
	}

	if len(o.Addrs) == 0 {
		add("addrs: at least one host:port is required")
	}
	for i, a := range o.Addrs {
		if err := checkAddr(a); err != nil {
			add("addrs[%d] %q: %v", i, redactAddr(a), err)
		}
	}
	switch mode {
	case ModeStandalone:
		if len(o.Addrs) > 1 {
			add("addrs: standalone mode takes exactly one address, got %d (use mode %q or %q for several)", len(o.Addrs), ModeCluster, ModeSentinel)
		}
		if o.MasterName != "" {
			add("master_name is only used in sentinel mode")
		}
	case ModeSentinel:
		if o.MasterName == "" {
			add("master_name is required in sentinel mode")
		}
	case ModeCluster:
		if o.MasterName != "" {
			add("master_name is only used in sentinel mode")
		}
		if o.DB != 0 {
			add("db must be 0 in cluster mode (got %d)", o.DB)
		}
	}
	if o.DB < 0 {
		add("db must not be negative (got %d)", o.DB)
	}
	if o.Timeout < 0 {
		add("timeout must not be negative (got %s)", o.Timeout)
	}
	if strings.ContainsAny(o.Prefix, " \t\r\n") {
		add("prefix %q must not contain whitespace", o.Prefix)
	}
	if len(problems) == 0 {
		return nil
	}
	return errors.New("sharedcache: invalid options: " + strings.Join(problems, "; "))
}

func checkAddr(a string) error {
	if strings.Contains(a, "://") {
		return errors.New("want host:port, not a URL")
	}
	if strings.Contains(a, "@") {
		return errors.New("want host:port without credentials (use username and password)")
	}
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		return errors.New("want host:port")
	}
	if host == "" {
		return errors.New("empty host")
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("port %q is not in 1..65535", port)
	}
	return nil
}

// redactAddr is a as error messages may show it: anything up to an '@'
// (user:password@) replaced, and a URL's query dropped.
func redactAddr(a string) string {
	if i := strings.LastIndexByte(a, '@'); i >= 0 {
		a = "REDACTED@" + a[i+1:]
	}
	if i := strings.IndexByte(a, '?'); i >= 0 {
		a = a[:i]
	}
	return a
}

// newClient builds the go-redis client for the validated options. Nothing is
// dialled here: connections are made on first use.
func newClient(o *Options, timeout time.Duration) redis.UniversalClient {
	var tlsConf *tls.Config
	if o.TLS {
		tlsConf = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	addrs := append([]string(nil), o.Addrs...)
	uo := &redis.UniversalOptions{
		Addrs:      addrs,
		MasterName: o.MasterName,
		Username:   o.Username,
		Password:   o.Password,
		DB:         o.DB,
		TLSConfig:  tlsConf,

		// RESP2: every server and proxy speaks it, and no connect-time
		// CLIENT MAINT_NOTIFICATIONS / CLIENT SETINFO round trips.
		Protocol:        2,
		DisableIdentity: true,

		DialTimeout:           timeout,
		ReadTimeout:           timeout,
		WriteTimeout:          timeout,
		PoolTimeout:           timeout,
		ContextTimeoutEnabled: true,
		// No retries: a failed call falls back to the auth service at once.
		MaxRetries: -1,

		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	}
	// One dial attempt per call (go-redis defaults to 5, 100 ms apart).
	switch o.Mode {
	case ModeSentinel:
		fo := uo.Failover()
		fo.DialerRetries, fo.DialerRetryTimeout = 1, time.Millisecond
		return redis.NewFailoverClient(fo)
	case ModeCluster:
		co := uo.Cluster()
		co.DialerRetries, co.DialerRetryTimeout = 1, time.Millisecond
		return redis.NewClusterClient(co)
	default:
		so := uo.Simple()
		so.DialerRetries, so.DialerRetryTimeout = 1, time.Millisecond
		return redis.NewClient(so)
	}
}
