package identity

import (
	"fmt"
	"net/url"
	"sort"
	"testing"
	"time"

	"github.com/legacy-auth/legacy-auth/internal/sharedcache"
)

// Config builds Settings for the core's tests, with the plugin's field
// names and defaults (plugin/config.go), so a test reads as the
// configuration an operator writes. It is a fixture, not the validation:
// invalid configurations are the plugin's tests' business.
type Config struct {
	AuthURL            string
	AuthMethod         string
	Timeout            *float64 // ms
	CacheTTL           *float64 // s
	UserIDHeader       string
	UserRolesHeader    string
	StaleIfError       *float64 // s
	NegativeTTL        *float64 // s
	CacheMaxEntries    *int
	Retries            *int
	Coalesce           *bool
	BreakerThreshold   *int
	BreakerCooldown    *float64 // s
	CookieNames        []string
	ExtraHeaders       map[string]string // answer field → header
	ACLGroups          *bool
	AllowAnonymous     *bool
	TLSVerify          *bool
	TLSCAFile          string
	TLSCertFile        string
	TLSKeyFile         string
	JWTHeader          string
	JWTKeyFile         string
	JWTTTL             *float64 // s
	JWTIssuer          string
	JWTAudience        string
	RedisAddrs         []string
	RedisUsername      string
	RedisPassword      string
	RedisPrefix        string
	MaxConcurrentCalls *int
	PluginID           string
	Issuers            []Issuer // as validated (plugin/issuers.go has the rules)
	ProviderOnly       bool     // legacy_fallback false
	KongCredential     bool
}

func ptr[T any](v T) *T { return &v }

func or[T any](v *T, def T) T {
	if v == nil {
		return def
	}
	return *v
}

func orString(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func seconds(v *float64, def float64) time.Duration {
	return time.Duration(or(v, def) * float64(time.Second))
}

// settings applies the plugin's defaults.
func (c *Config) settings() (Settings, error) {
	u, err := url.Parse(c.AuthURL)
	if err != nil {
		return Settings{}, err
	}
	s := Settings{
		AuthURL:            u,
		AuthMethod:         orString(c.AuthMethod, "POST"),
		Timeout:            time.Duration(or(c.Timeout, 2000) * float64(time.Millisecond)),
		CacheTTL:           seconds(c.CacheTTL, 300),
		UserIDHeader:       orString(c.UserIDHeader, "X-User-ID"),
		UserRolesHeader:    orString(c.UserRolesHeader, "X-User-Roles"),
		StaleIfError:       seconds(c.StaleIfError, 3600),
		NegativeTTL:        seconds(c.NegativeTTL, 5),
		CacheMaxEntries:    or(c.CacheMaxEntries, 100000),
		Retries:            or(c.Retries, 1),
		Coalesce:           or(c.Coalesce, true),
		BreakerThreshold:   or(c.BreakerThreshold, 5),
		BreakerCooldown:    seconds(c.BreakerCooldown, 10),
		MaxConcurrentCalls: or(c.MaxConcurrentCalls, 64),
		CookieNames:        c.CookieNames,
		ACLGroups:          or(c.ACLGroups, false),
		AllowAnonymous:     or(c.AllowAnonymous, false),
		Issuers:            c.Issuers,
		ProviderOnly:       c.ProviderOnly,
		KongCredential:     c.KongCredential,
	}
	for field, header := range c.ExtraHeaders {
		s.Extras = append(s.Extras, ExtraHeader{Field: field, Header: header})
	}
	sort.Slice(s.Extras, func(i, j int) bool { return s.Extras[i].Field < s.Extras[j].Field })
	t := TLSSettings{Verify: or(c.TLSVerify, true), CAFile: c.TLSCAFile, CertFile: c.TLSCertFile, KeyFile: c.TLSKeyFile}
	if u.Scheme == "https" && !(t.Verify && t.CAFile == "" && t.CertFile == "" && t.KeyFile == "") {
		t.Fingerprint = fmt.Sprintf("verify=%t\x00%s\x00%s\x00%s", t.Verify, t.CAFile, t.CertFile, t.KeyFile)
	}
	s.TLS = t
	if c.JWTHeader != "" {
		s.JWT = &JWTSigner{Header: c.JWTHeader, KeyFile: c.JWTKeyFile, TTL: seconds(c.JWTTTL, 300), CacheTTL: s.CacheTTL,
			Issuer: orString(c.JWTIssuer, "kong-legacy-auth"), Audience: c.JWTAudience}
	}
	if len(c.RedisAddrs) > 0 {
		s.Redis = &sharedcache.Options{Mode: sharedcache.ModeStandalone, Addrs: c.RedisAddrs, Username: c.RedisUsername,
			Password: c.RedisPassword, Prefix: orString(c.RedisPrefix, "legacy-auth:"), Timeout: 50 * time.Millisecond}
	}
	return s, nil
}

// compile is what the plugin's compile does once the configuration is
// valid: read the files, provision the engine, make it the live one of its
// plugin id.
func (c *Config) compile() (*Engine, error) {
	s, err := c.settings()
	if err != nil {
		return nil, err
	}
	if err := s.LoadFiles(); err != nil {
		return nil, err
	}
	e, err := Provision(s, c.PluginID)
	if err != nil {
		return nil, err
	}
	Succeed(c.PluginID, e)
	return e, nil
}

func mustCompile(t testing.TB, cfg *Config) *Engine {
	t.Helper()
	rt, err := cfg.compile()
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	return rt
}

// authRequest is a request carrying one credential, as get_headers returns it.
func authRequest(token string) map[string][]string {
	return map[string][]string{"authorization": {token}}
}
