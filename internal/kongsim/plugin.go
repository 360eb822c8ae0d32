package kongsim

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/Kong/go-pdk/server/kong_plugin_protocol"
)

const (
	// eventTimeout bounds one access event (Kong's cosocket timeouts,
	// lua_socket_read_timeout, are 60 s; we fail faster).
	eventTimeout = 30 * time.Second
	// claimWaitStep / claimWaitTime: plugin.lua get_instance_id polls
	// every 0.1 s for up to 10 s while another request starts the
	// instance. We poll faster; the bound is Kong's.
	claimWaitStep = 10 * time.Millisecond
	claimWaitTime = 10 * time.Second
	// maxEventRetries bounds pb_rpc.lua handle_event's retry on "closed"
	// / "no plugin instance". Kong recurses without a bound; one retry is
	// what happens in practice (the retry starts a fresh instance) and
	// keeps a persistently failing server from looping.
	maxEventRetries = 1
	// unexpectedError is HTTP_ERROR_MESSAGES[500] in kong/pdk/response.lua.
	unexpectedError = "An unexpected error occurred"
)

// instanceInfo is an entry of plugin.lua running_instances.
type instanceInfo struct {
	id         int // 0 while being started ("claimed")
	seq        int
	pluginID   string
	pluginName string // set once started (reset_instances_for_plugin matches it)
}

// pluginState is what the plugins iterator knows about one plugin entity:
// the config it was built from and the __seq__ it assigned.
type pluginState struct {
	config map[string]any
	gen    int
	seq    int
}

// event is one request going through the access phase of one plugin.
type event struct {
	s         *Server
	ref       PluginRef
	req       Request
	headers   []Header
	shared    *luaTable // kong.ctx.shared
	ngxCtx    *luaTable // ngx.ctx (only what plugins store)
	requestID string

	mu  sync.Mutex // guards res.Calls / res.Logs for callers reading concurrently
	res *Result
}

func newEvent(s *Server, ref PluginRef, req *Request) *event {
	r := Request{}
	if req != nil {
		r = *req
	}
	if r.Method == "" {
		r.Method = "GET"
	}
	if r.Path == "" {
		r.Path = "/"
	}
	if r.ClientIP == "" {
		r.ClientIP = "127.0.0.1"
	}
	if r.Scheme == "" {
		r.Scheme = "http"
	}
	if r.Port == 0 {
		r.Port = 8000
	}
	var id [16]byte
	_, _ = rand.Read(id[:])
	ev := &event{
		s:         s,
		ref:       ref,
		req:       r,
		headers:   append([]Header(nil), r.Headers...),
		shared:    newLuaTable(),
		ngxCtx:    newLuaTable(),
		requestID: hex.EncodeToString(id[:]),
	}
	ev.res = &Result{RequestID: ev.requestID}
	return ev
}

func (ev *event) addCall(name string) {
	ev.mu.Lock()
	ev.res.Calls = append(ev.res.Calls, name)
	ev.mu.Unlock()
}

func (ev *event) addLog(e LogEntry) {
	ev.mu.Lock()
	ev.res.Logs = append(ev.res.Logs, e)
	ev.mu.Unlock()
	ev.s.kongLog(e.Level, "[%s] %s", ev.ref.Name, e.Message)
}

func (ev *event) kongLog(level, format string, args ...any) {
	ev.s.kongLog(level, format, args...)
}

// fail500 records Kong answering the request itself with
// kong.response.error(500): pb_rpc.lua handle_event for returned errors,
// kong/init.lua execute_collecting_plugins_iterator (then
// flush_delayed_response → kong.response.error) for raised ones. Both give
// the same response.
func (ev *event) fail500(kongErr string) {
	ev.kongLog("err", "%s", kongErr)
	ev.res.KongError = kongErr
	ev.res.Exit = kongErrorResponse(ev, 500, unexpectedError)
}

// finish copies the request state into the result. Nothing is proxied
// when a response was produced, so Upstream stays nil then.
func (ev *event) finish() *Result {
	if ev.res.Exit == nil {
		ev.res.Upstream = append([]Header{}, ev.headers...)
	}
	shared := map[string]any{}
	for _, kv := range ev.shared.pairs() {
		shared[luaKeyString(kv.key)] = luaToGo(kv.val)
	}
	ev.res.Shared = shared
	return ev.res
}

// seqFor returns the __seq__ the plugins iterator gives this plugin's
// config (plugins_iterator.lua get_plugin_config: a global counter, bumped
// for every plugin on every iterator rebuild). A new plugin id or a
// changed config is a configuration change, which rebuilds the iterator
// for all plugins.
func (s *Server) seqFor(pluginID string, config map[string]any) int {
	s.stateMu.Lock()
	defer s.stateMu.Unlock()
	st := s.plugins[pluginID]
	if st == nil || !reflect.DeepEqual(st.config, config) {
		s.rebuildGen++
		if st == nil {
			st = &pluginState{}
			s.plugins[pluginID] = st
		}
		st.config = deepCopyJSON(config).(map[string]any)
	}
	if st.gen != s.rebuildGen {
		s.seqCounter++
		st.seq = s.seqCounter
		st.gen = s.rebuildGen
	}
	return st.seq
}

// Rebuild simulates a rebuild of Kong's plugins iterator (any
// configuration change): every plugin's next event carries a new __seq__,
// so plugin.lua starts a new instance and closes the old one.
func (s *Server) Rebuild() {
	s.stateMu.Lock()
	s.rebuildGen++
	s.stateMu.Unlock()
}

// Instances returns plugin id → instance id of the started instances Kong
// currently remembers (plugin.lua running_instances).
func (s *Server) Instances() map[string]int {
	s.stateMu.Lock()
	defer s.stateMu.Unlock()
	out := map[string]int{}
	for k, info := range s.running {
		if info.id != 0 {
			out[k] = info.id
		}
	}
	return out
}

// resetInstances is plugin.lua reset_instance → reset_instances_for_plugin:
// forget every started instance of the plugin (the plugin server is shared
// by all of them, so they are all presumed gone).
func (s *Server) resetInstances(pluginName string) {
	s.stateMu.Lock()
	defer s.stateMu.Unlock()
	for k, info := range s.running {
		if info.pluginName == pluginName {
			delete(s.running, k)
		}
	}
}

// getInstanceID follows plugin.lua get_instance_id: reuse the instance for
// the plugin id while its seq matches; otherwise claim the slot, start a
// new instance (cmd_start_instance with the cjson config) and close the
// previous one (cmd_close_instance, errors ignored). A start failure is
// raised (error(err)); failing to claim within 10 s is returned.
func (s *Server) getInstanceID(ctx context.Context, ref PluginRef, seq int, confJSON []byte) (int, string, error) {
	key := ref.ID
	deadline := time.Now().Add(claimWaitTime)
	s.stateMu.Lock()
	info := s.running[key]
	for info != nil && info.id == 0 {
		s.stateMu.Unlock()
		if time.Now().After(deadline) {
			s.stateMu.Lock()
			delete(s.running, key)
			s.stateMu.Unlock()
			return 0, fmt.Sprintf("Could not claim instance_id for %s (key: %s)", ref.Name, key), nil
		}
		select {
		case <-ctx.Done():
			return 0, "timeout", nil
		case <-time.After(claimWaitStep):
		}
		s.stateMu.Lock()
		info = s.running[key]
	}
	if info != nil && info.id != 0 && info.seq == seq && info.pluginID == key {
		id := info.id
		s.stateMu.Unlock()
		return id, "", nil
	}
	oldID := 0
	if info == nil {
		info = &instanceInfo{seq: seq, pluginID: key}
		s.running[key] = info
	} else {
		oldID = info.id
		info.id = 0
	}
	s.stateMu.Unlock()

	newID, errMsg, thrown := s.startInstance(ctx, ref.Name, confJSON)
	if thrown == nil && errMsg != "" {
		thrown = &luaError{msg: errMsg}
	}
	if thrown != nil {
		s.kongLog("err", "starting instance: %v", thrown)
		s.stateMu.Lock()
		delete(s.running, key) // remove claim, some other thread might succeed
		s.stateMu.Unlock()
		return 0, "", thrown
	}
	s.stateMu.Lock()
	info.id = newID
	info.seq = seq
	info.pluginName = ref.Name
	info.pluginID = key
	s.stateMu.Unlock()
	s.kongLog("debug", "started plugin server: seq %d, instance id %d", seq, newID)

	if oldID != 0 {
		// "don't care if there's an error, maybe other thread closed it first"
		_, _, _ = s.rpcCall(ctx, &kong_plugin_protocol.RpcCall{
			Call: &kong_plugin_protocol.RpcCall_CmdCloseInstance{
				CmdCloseInstance: &kong_plugin_protocol.CmdCloseInstance{InstanceId: int32(oldID)},
			},
		}, nil)
	}
	return newID, "", nil
}

// startInstance follows pb_rpc.lua Rpc:call_start_instance.
func (s *Server) startInstance(ctx context.Context, name string, confJSON []byte) (int, string, error) {
	ret, errMsg, thrown := s.rpcCall(ctx, &kong_plugin_protocol.RpcCall{
		Call: &kong_plugin_protocol.RpcCall_CmdStartInstance{
			CmdStartInstance: &kong_plugin_protocol.CmdStartInstance{Name: name, Config: confJSON},
		},
	}, nil)
	if thrown != nil || errMsg != "" {
		return 0, errMsg, thrown
	}
	st := ret.GetInstanceStatus()
	if st == nil {
		return 0, "", throw("attempt to index field 'instance_status' (a nil value)")
	}
	return int(st.InstanceId), "", nil
}

// eventOutcome is how one handle_event attempt ended.
type eventOutcome struct {
	ok        bool   // RpcReturn received
	exited    bool   // kong.response.exit yielded
	errMsg    string // returned error (pb_rpc.lua `return nil, err`)
	thrown    error  // raised error
	unknownPD bool   // errMsg is "method ... not found"
}

// handleEventOnce is one pass of pb_rpc.lua Rpc:handle_event: get the
// instance id, then cmd_handle_event with the bridge loop.
func (s *Server) handleEventOnce(ctx context.Context, ev *event, seq int, confJSON []byte) eventOutcome {
	id, errMsg, thrown := s.getInstanceID(ctx, ev.ref, seq, confJSON)
	if thrown != nil {
		return eventOutcome{thrown: thrown}
	}
	if errMsg != "" {
		return eventOutcome{errMsg: errMsg}
	}
	ret, errMsg, thrown := s.rpcCall(ctx, &kong_plugin_protocol.RpcCall{
		Call: &kong_plugin_protocol.RpcCall_CmdHandleEvent{
			CmdHandleEvent: &kong_plugin_protocol.CmdHandleEvent{InstanceId: int32(id), EventName: "access"},
		},
	}, ev)
	switch {
	case errors.Is(thrown, errExitYield):
		return eventOutcome{exited: true}
	case thrown != nil:
		return eventOutcome{thrown: thrown}
	case errMsg != "":
		return eventOutcome{errMsg: errMsg, unknownPD: strings.HasPrefix(errMsg, "method ") && strings.HasSuffix(errMsg, " not found")}
	case ret != nil:
		return eventOutcome{ok: true}
	}
	return eventOutcome{errMsg: "unknown error"}
}

// Access runs one access event of plugin p as Kong does (plugin.lua and
// rpc/pb_rpc.lua): the instance for config's __seq__ is found or started,
// cmd_handle_event "access" runs on a pooled connection, and PDK calls are
// served against req. config is the processed config (ProcessConfig).
//
// The Result records PDK calls, logs, kong.ctx.shared, the upstream headers
// and the response (the plugin's exit, or Kong's own 500 with KongError
// saying why). The error is non-nil only when the simulation cannot be
// trusted: an unknown or unsimulated PDK method, the 30 s bound, ctx, or
// unusable arguments; a Result may come with it. Safe for concurrent use.
func (s *Server) Access(ctx context.Context, p PluginRef, config map[string]any, req *Request) (*Result, error) {
	if p.ID == "" {
		return nil, fmt.Errorf("access: plugin ID is required")
	}
	if p.Name == "" {
		p.Name = s.name
	}
	norm, err := normalizeJSON(config)
	if err != nil {
		return nil, fmt.Errorf("access: config: %w", err)
	}
	cfg, _ := norm.(map[string]any)
	if cfg == nil {
		cfg = map[string]any{}
	}
	seq := s.seqFor(p.ID, cfg)
	confJSON, err := InstanceConfig(cfg, p, seq)
	if err != nil {
		return nil, fmt.Errorf("access: %w", err)
	}

	ectx, cancel := context.WithTimeout(ctx, eventTimeout)
	defer cancel()
	ev := newEvent(s, p, req)
	var simErr error
	for {
		out := s.handleEventOnce(ectx, ev, seq, confJSON)
		if out.ok || out.exited {
			break
		}
		if out.thrown != nil {
			var ns *notSimulatedError
			if errors.As(out.thrown, &ns) {
				simErr = ns
			}
			ev.fail500(out.thrown.Error())
			break
		}
		lowered := strings.ToLower(out.errMsg)
		if (strings.Contains(lowered, "no plugin instance") || strings.Contains(lowered, "closed")) &&
			ev.res.Retries < maxEventRetries && ectx.Err() == nil {
			s.resetInstances(p.Name)
			s.kongLog("warn", "%s", out.errMsg)
			ev.res.Retries++
			continue
		}
		if out.unknownPD {
			simErr = fmt.Errorf("plugin called an unknown PDK method: %s", out.errMsg)
		}
		ev.fail500("pluginserver error: " + out.errMsg)
		break
	}
	res := ev.finish()
	switch {
	case ctx.Err() != nil:
		return res, fmt.Errorf("access: %w", ctx.Err())
	case ectx.Err() != nil:
		return res, fmt.Errorf("access: event exceeded %s: %w", eventTimeout, ectx.Err())
	case simErr != nil:
		return res, fmt.Errorf("access: %w", simErr)
	}
	return res, nil
}
