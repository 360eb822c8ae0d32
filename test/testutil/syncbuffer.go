// Package testutil holds the small pieces the test packages share.
package testutil

import (
	"bytes"
	"sync"
)

// SyncBuffer is an io.Writer that concurrent writers (a plugin server's
// output, a logger) can share with a test that reads it.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
