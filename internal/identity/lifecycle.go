package identity

import (
	"strings"
	"sync"
	"sync/atomic"
)

// The life of an engine and of the process-wide resources it uses.
//
// Kong starts the successor of a changed plugin instance and then sends
// cmd_close_instance for the old one (kong/runloop/plugin_servers/
// plugin.lua); go-pdk v0.11.0 drops the instance without telling the
// plugin. So the plugin decides itself: when an engine is provisioned for
// a Kong plugin id (__plugin_id), the engines provisioned before it for
// that id are retired, and a retired engine releases what it holds once
// its in-flight requests have ended. Backstops: runtime.AddCleanup on the
// Config releases an engine go-pdk dropped without a successor, and the
// idle prunes (partitions, breakers, Redis clients) close what no request
// used for a while.
//
// What an engine holds is counted (resourceRefs): Redis clients, cache
// partitions, breakers, TLS files with their transport, signing keys are
// shared by every engine with the same settings, and the last engine to
// let go closes them at once. Nodes with several nginx workers run one
// instance per worker for the same plugin id: retiring one of those only
// drops a reference its siblings still hold, and a retired engine that is
// still used reopens what it needs (the prune then closes it when idle).

// resourceRefs counts the engines holding each resource, keyed by kind
// and key ("redis|...", "part|...", "breaker|...", "tls|...", "jwt|...").
var resourceRefs = struct {
	sync.Mutex
	n map[string]int
}{n: map[string]int{}}

// resource is one counted resource: its key and what closes it.
type resource struct {
	key   string
	close func()
}

// hold counts one more engine holding r. It is called before the
// resource is opened or joined, so a concurrent last release cannot close
// it under the new holder: the close runs with the lock held.
func hold(r resource) {
	resourceRefs.Lock()
	resourceRefs.n[r.key]++
	resourceRefs.Unlock()
}

// letGo counts one engine less holding r and closes r when none is left.
func letGo(r resource) {
	resourceRefs.Lock()
	defer resourceRefs.Unlock()
	switch n := resourceRefs.n[r.key]; {
	case n > 1:
		resourceRefs.n[r.key] = n - 1
	case n == 1:
		delete(resourceRefs.n, r.key)
		r.close()
	}
}

// heldKeys are the held resources whose key starts with prefix. Callers
// take it before their own locks: letGo holds resourceRefs while closing.
func heldKeys(prefix string) map[string]bool {
	resourceRefs.Lock()
	defer resourceRefs.Unlock()
	out := map[string]bool{}
	for k := range resourceRefs.n {
		if strings.HasPrefix(k, prefix) {
			out[k] = true
		}
	}
	return out
}

// lifecycle is an engine's part in this: its resources, its in-flight
// requests, whether it was retired and whether it has let go.
type lifecycle struct {
	resources []resource
	inflight  atomic.Int64
	retired   atomic.Bool
	released  sync.Once
	done      atomic.Bool // released
}

// own holds r for the engine.
func (l *lifecycle) own(r resource) {
	hold(r)
	l.resources = append(l.resources, r)
}

// enter and leave bracket a request; the last request out of a retired
// engine releases it.
func (l *lifecycle) enter() { l.inflight.Add(1) }

func (l *lifecycle) leave() {
	if l.inflight.Add(-1) == 0 && l.retired.Load() {
		l.release()
	}
}

// retire marks the engine replaced (or dropped) and releases it now when
// no request is in flight.
func (l *lifecycle) retire() {
	l.retired.Store(true)
	if l.inflight.Load() == 0 {
		l.release()
	}
}

func (l *lifecycle) release() {
	l.released.Do(func() {
		for _, r := range l.resources {
			letGo(r)
		}
		l.done.Store(true)
	})
}

// Released reports whether the engine has let go of what it held: it was
// replaced (or its instance collected) and its last request has left.
func (l *lifecycle) Released() bool { return l.done.Load() }

// liveEngines is the newest engine of each Kong plugin id.
var liveEngines = struct {
	sync.Mutex
	m map[string]*Engine
}{m: map[string]*Engine{}}

// Succeed makes e the live engine of pluginID and retires the one it
// replaces.
func Succeed(pluginID string, e *Engine) {
	if pluginID == "" {
		return // a Kong without __plugin_id: the backstops release it
	}
	liveEngines.Lock()
	old := liveEngines.m[pluginID]
	liveEngines.m[pluginID] = e
	liveEngines.Unlock()
	if old != nil && old != e {
		old.retire()
	}
}

// Drop retires e when go-pdk dropped its instance (garbage collected).
func Drop(pluginID string, e *Engine) {
	liveEngines.Lock()
	if liveEngines.m[pluginID] == e {
		delete(liveEngines.m, pluginID)
	}
	liveEngines.Unlock()
	e.retire()
}
