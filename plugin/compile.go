package plugin

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/legacy-auth/legacy-auth/internal/identity"
)

// compile validates the configuration (pure), reads the files it names and
// provisions its engine (shared resources). A configuration that is
// invalid is logged once, naming the fields, and every request of the
// instance is then answered 500 (fail closed). Files that cannot be read
// yet (a secrets sidecar writes the key after Kong starts) fail requests
// with 500 too, but are tried again (fileRetry): the first request after
// they load is served.
func (c *Config) compile() (*identity.Engine, error) {
	if rt := c.compiled.Load(); rt != nil {
		return rt, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if rt := c.compiled.Load(); rt != nil {
		return rt, nil
	}
	if c.invalid != nil {
		return nil, c.invalid
	}
	if c.valid == nil {
		s, err := c.settings()
		if err != nil {
			return nil, c.fail(err)
		}
		c.valid = &s
	}
	now := time.Now()
	if !c.files.due(c.valid, now) {
		return nil, c.files.err
	}
	s := *c.valid
	sig := fileSignature(&s) // before reading: a change during the read shows later
	if err := s.LoadFiles(); err != nil {
		c.files.failed(err, sig, now)
		return nil, err
	}
	rt, err := identity.Provision(s, c.PluginID)
	if err != nil {
		return nil, c.fail(err)
	}
	c.files.recovered()
	c.compiled.Store(rt)
	identity.Succeed(c.PluginID, rt)
	// go-pdk drops instances without telling the plugin: when this one is
	// collected, its engine lets go of what it holds.
	id := c.PluginID
	runtime.AddCleanup(c, func(e *identity.Engine) { identity.Drop(id, e) }, rt)
	return rt, nil
}

// fail records a permanent failure and logs it once.
func (c *Config) fail(err error) error {
	c.invalid = err
	logger.Error("plugin instance has an invalid configuration; its requests are answered 500", "error", err.Error())
	return err
}

// fileRetry paces the retries of key and certificate files that did not
// load: again when the files change on disk (size, time or inode: checked
// with a stat per request while failing) or after a backoff that doubles
// from fileRetryMin to fileRetryMax; a log line per distinct error.
type fileRetry struct {
	err     error
	sig     string
	retryAt time.Time
	backoff time.Duration
	logged  string
}

// due reports whether the files are to be read now.
func (f *fileRetry) due(s *identity.Settings, now time.Time) bool {
	return f.err == nil || !now.Before(f.retryAt) || fileSignature(s) != f.sig
}

func (f *fileRetry) failed(err error, sig string, now time.Time) {
	f.err, f.sig = err, sig
	f.backoff = min(max(2*f.backoff, fileRetryMin), fileRetryMax)
	f.retryAt = now.Add(f.backoff)
	if msg := err.Error(); msg != f.logged {
		f.logged = msg
		logger.Error("plugin instance has an invalid configuration: its key or certificate files do not load; its requests are answered 500 until they do",
			"error", msg, "retry_within", f.backoff.String())
	}
}

func (f *fileRetry) recovered() {
	if f.err != nil {
		logger.Info("key or certificate files loaded; plugin instance serving")
	}
	*f = fileRetry{}
}

const (
	fileRetryMin = time.Second
	fileRetryMax = 30 * time.Second
)

// fileSignature is what a change of the named files shows without reading
// them.
func fileSignature(s *identity.Settings) string {
	var b strings.Builder
	for _, path := range s.FilePaths() {
		fi, err := os.Stat(path)
		if err != nil {
			fmt.Fprintf(&b, "%s:-|", path)
			continue
		}
		fmt.Fprintf(&b, "%s:%d:%d:%v|", path, fi.Size(), fi.ModTime().UnixNano(), inode(fi))
	}
	return b.String()
}
