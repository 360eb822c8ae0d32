package identity

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/legacy-auth/legacy-auth/internal/sharedcache"
)

// Settings are a validated configuration with every default applied: what
// the plugin's Config validation (plugin/config.go) hands the core. The
// files they name are read by LoadFiles, the shared resources opened by
// Provision.
type Settings struct {
	AuthURL         *url.URL
	AuthMethod      string
	Timeout         time.Duration
	CacheTTL        time.Duration
	UserIDHeader    string
	UserRolesHeader string

	StaleIfError     time.Duration
	NegativeTTL      time.Duration
	CacheMaxEntries  int
	Retries          int
	Coalesce         bool
	BreakerThreshold int
	BreakerCooldown  time.Duration
	// MaxConcurrentCalls caps the verify calls in flight per auth scope on
	// this node (admission.go); 0: no admission control.
	MaxConcurrentCalls int

	// Issuers are the identity providers whose JWTs are verified here
	// (provider.go). ProviderOnly (legacy_fallback false) refuses every
	// other credential without calling Rails. KongCredential presents each
	// identity to Kong (kong.client.authenticate).
	Issuers        []Issuer
	ProviderOnly   bool
	KongCredential bool

	CookieNames    []string
	Extras         []ExtraHeader // sorted by answer field
	ACLGroups      bool
	AllowAnonymous bool
	TLS            TLSSettings
	JWT            *JWTSigner           // nil when off
	Redis          *sharedcache.Options // nil when off
}

// FilePaths are the files LoadFiles reads.
func (s *Settings) FilePaths() []string {
	var out []string
	for _, p := range []string{s.TLS.CAFile, s.TLS.CertFile, s.TLS.KeyFile} {
		if p != "" {
			out = append(out, p)
		}
	}
	if s.JWT != nil {
		out = append(out, s.JWT.KeyFile)
	}
	return out
}

// LoadFiles reads the TLS and signing-key files of validated settings into
// the process-wide reloaders that follow them.
func (s *Settings) LoadFiles() error {
	var problems []string
	if s.TLS.Fingerprint != "" {
		files, err := loadTLSMaterial(s.TLS)
		if err != nil {
			problems = append(problems, err.Error())
		}
		s.TLS.files = files
		if !s.TLS.Verify {
			logger.Warn("tls_verify is off: the auth service's certificate is not checked", "auth_url", redactURL(s.AuthURL))
		}
	}
	if s.JWT != nil {
		key, err := loadSigningKey(s.JWT.KeyFile)
		if err != nil {
			problems = append(problems, err.Error())
		}
		s.JWT.key = key
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, strings.Join(problems, "; "))
	}
	return nil
}

// ExtraHeader maps one field of the auth service's answer to an upstream header.
type ExtraHeader struct {
	Field  string // JSON field of the verify answer, e.g. "email"
	Header string // upstream header, e.g. "X-User-Email"
}
