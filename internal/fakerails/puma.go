package fakerails

import (
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Puma is a verify endpoint served the way Puma serves Rails: Threads
// workers, each verify call taking Work; calls beyond the threads wait
// (Puma's accept queue), and a call is worked on to the end even when its
// caller has gone, as Rails does. It answers 200 {"user_id": X} for
// "Bearer X" and 401 otherwise, on 127.0.0.1 only, and counts what a
// surge costs it: calls received, calls worked on for a caller already
// gone, the longest queue.
type Puma struct {
	srv     *http.Server
	addr    string
	threads chan struct{}
	work    time.Duration

	mu   sync.Mutex
	seen map[string]bool

	calls, goneWork, queued, maxQueued atomic.Int64
}

// PumaStats are the counts of a Puma.
type PumaStats struct {
	Calls     int64 // verify calls received
	GoneWork  int64 // calls whose caller had gone before the answer was written
	MaxQueued int64 // most calls waiting for a thread at once
}

// StartPuma serves on a free loopback port.
func StartPuma(threads int, work time.Duration) (*Puma, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Puma{addr: ln.Addr().String(), threads: make(chan struct{}, threads), work: work, seen: map[string]bool{}}
	p.srv = &http.Server{Handler: http.HandlerFunc(p.serve), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = p.srv.Serve(ln) }()
	return p, nil
}

func (p *Puma) serve(w http.ResponseWriter, r *http.Request) {
	auth := r.Header.Get("Authorization")
	p.calls.Add(1)
	p.mu.Lock()
	p.seen[auth] = true
	p.mu.Unlock()

	q := p.queued.Add(1)
	for {
		m := p.maxQueued.Load()
		if q <= m || p.maxQueued.CompareAndSwap(m, q) {
			break
		}
	}
	p.threads <- struct{}{} // a thread; Puma drops nothing it has accepted
	p.queued.Add(-1)
	time.Sleep(p.work) // the verify's own work (a stand-in's, not a test's wait)
	<-p.threads
	if r.Context().Err() != nil {
		p.goneWork.Add(1)
	}
	user, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok || user == "" {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]string{"user_id": user})
}

// VerifyURL is the verify endpoint (the auth_url).
func (p *Puma) VerifyURL() string { return "http://" + p.addr + VerifyPath }

// Received reports whether a call with this Authorization value arrived.
func (p *Puma) Received(authorization string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.seen[authorization]
}

// Stats returns the counts so far.
func (p *Puma) Stats() PumaStats {
	return PumaStats{Calls: p.calls.Load(), GoneWork: p.goneWork.Load(), MaxQueued: p.maxQueued.Load()}
}

// Close stops the server, letting calls in flight finish.
func (p *Puma) Close() { _ = p.srv.Close() }
