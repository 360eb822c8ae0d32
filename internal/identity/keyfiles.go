package identity

import (
	"crypto/sha256"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Key and certificate files (jwt_key_file, tls_ca_file, tls_cert_file,
// tls_key_file): reading PEM the way openssl writes it, and noticing when
// an operator replaces a file.

// reloadInterval is how often key and certificate files are read again to
// notice a rotation. The check runs in its own goroutine, started by at most
// one request per interval, so no request waits for the disk: a replaced
// file is in use from the first request at least reloadInterval after the
// change (the README states this bound).
const reloadInterval = 5 * time.Second

// readKeyFile reads a file holding a private key, warning once per path
// when others than its owner may write it: whoever can write the signing
// key can mint identities for every service.
func readKeyFile(field, path string) ([]byte, error) {
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o022 != 0 {
		if _, warned := writableWarned.LoadOrStore(path, struct{}{}); !warned {
			logger.Warn("key file is writable by group or others; make it 0600 or 0640",
				"field", field, "path", path, "mode", fi.Mode().Perm().String())
		}
	}
	return os.ReadFile(path)
}

// writableWarned remembers the key files already warned about.
var writableWarned sync.Map // path → struct{}

// privateKeyBlock returns the first private key PEM block of b, skipping
// what openssl writes around keys (EC PARAMETERS before an
// `openssl ecparam -genkey` key, CERTIFICATE blocks of a cert+key bundle).
// Encrypted keys and public keys get an error that says what to do.
func privateKeyBlock(b []byte) (*pem.Block, error) {
	var seen []string
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			break
		}
		switch {
		case block.Type == "ENCRYPTED PRIVATE KEY" || strings.Contains(block.Headers["Proc-Type"], "ENCRYPTED"):
			return nil, errors.New("the private key is encrypted (passphrase-protected), which the plugin cannot use: " +
				"write it unencrypted (openssl pkey -in key.pem -out plain.pem) to a file only Kong can read")
		case block.Type == "PRIVATE KEY" || strings.HasSuffix(block.Type, " PRIVATE KEY"):
			return block, nil
		}
		seen = append(seen, block.Type)
	}
	if len(seen) == 0 {
		return nil, errors.New("no PEM block found")
	}
	msg := fmt.Sprintf("no private key found (PEM blocks: %s)", strings.Join(seen, ", "))
	for _, s := range seen {
		if strings.HasSuffix(s, "PUBLIC KEY") || s == "CERTIFICATE" {
			msg += "; a public key or certificate cannot sign: give the private key"
			break
		}
	}
	return nil, errors.New(msg)
}

// reloader holds what was parsed from a set of files and replaces it when
// their content changes. One reloader serves every instance that names the
// same files, for the life of the process.
type reloader[T any] struct {
	files []keyFile
	parse func(contents [][]byte) (T, error)

	cur  atomic.Pointer[loaded[T]]
	next atomic.Int64 // UnixNano before which poll starts no check

	mu      sync.Mutex // one load or check at a time
	lastErr string     // the last failure logged, so a bad file is logged once
}

// loaded is one parse of the files and the SHA-256 of their contents.
type loaded[T any] struct {
	value T
	sum   [sha256.Size]byte
}

// keyFile is a file and the configuration field that names it.
type keyFile struct{ field, path string }

func newReloader[T any](files []keyFile, parse func([][]byte) (T, error)) *reloader[T] {
	return &reloader[T]{files: files, parse: parse}
}

// readAll reads the files and hashes their contents.
func (r *reloader[T]) readAll() ([][]byte, [sha256.Size]byte, error) {
	h := sha256.New()
	contents := make([][]byte, len(r.files))
	for i, f := range r.files {
		b, err := readKeyFile(f.field, f.path)
		if err != nil {
			return nil, [sha256.Size]byte{}, &fieldError{f.field, err}
		}
		contents[i] = b
		fmt.Fprintf(h, "%d\x00", len(b))
		h.Write(b)
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return contents, sum, nil
}

// load reads and parses the files now (configuration time), installing the
// result when it differs from what the reloader holds. The next background
// look is then reloadInterval away: the files were just read.
func (r *reloader[T]) load() (T, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var zero T
	contents, sum, err := r.readAll()
	if err != nil {
		return zero, err
	}
	r.next.Store(time.Now().Add(reloadInterval).UnixNano())
	if l := r.cur.Load(); l != nil && l.sum == sum {
		return l.value, nil
	}
	v, err := r.parse(contents)
	if err != nil {
		return zero, err
	}
	r.cur.Store(&loaded[T]{value: v, sum: sum})
	return v, nil
}

// current is the value in use: one atomic load.
func (r *reloader[T]) current() T {
	if l := r.cur.Load(); l != nil {
		return l.value
	}
	var zero T
	return zero
}

// poll starts a check in the background when none was started during the
// last reloadInterval, and returns a channel closed when that check is done
// (nil when no check was started). The hot path ignores the channel; tests
// wait on it.
func (r *reloader[T]) poll(now time.Time) <-chan struct{} {
	n := r.next.Load()
	if now.UnixNano() < n || !r.next.CompareAndSwap(n, now.Add(reloadInterval).UnixNano()) {
		return nil
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.check()
	}()
	return done
}

// check reads the files again and installs their new content. A file that
// is missing or does not parse (for example a certificate written before its
// key) keeps the previous material in use and is logged once.
func (r *reloader[T]) check() (changed bool, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	contents, sum, err := r.readAll()
	if err == nil {
		if l := r.cur.Load(); l != nil && l.sum == sum {
			r.lastErr = ""
			return false, nil
		}
		var v T
		if v, err = r.parse(contents); err == nil {
			r.cur.Store(&loaded[T]{value: v, sum: sum})
			r.lastErr = ""
			logger.Info("key or certificate file changed; now in use", "files", r.paths())
			return true, nil
		}
	}
	if msg := err.Error(); msg != r.lastErr {
		r.lastErr = msg
		logger.Warn("key or certificate file cannot be reloaded; the previous one stays in use",
			"files", r.paths(), "error", msg)
	}
	return false, err
}

func (r *reloader[T]) paths() []string {
	out := make([]string, len(r.files))
	for i, f := range r.files {
		out[i] = f.path
	}
	return out
}

// fieldError is a problem of one configuration field.
type fieldError struct {
	field string
	err   error
}

func (e *fieldError) Error() string { return e.field + ": " + e.err.Error() }
func (e *fieldError) Unwrap() error { return e.err }

// withField names field in err unless err already names one.
func withField(field string, err error) error {
	var fe *fieldError
	if errors.As(err, &fe) {
		return err
	}
	return &fieldError{field, err}
}
