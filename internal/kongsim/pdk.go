package kongsim

import (
	"fmt"
	"math"
	"strings"

	"github.com/Kong/go-pdk/server/kong_plugin_protocol"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/structpb"
)

// luaError is an error raised inside a Kong PDK function (Lua error()):
// it unwinds the plugin's coroutine and Kong answers 500
// (kong/init.lua execute_collecting_plugins_iterator).
type luaError struct{ msg string }

func (e *luaError) Error() string { return e.msg }

// throw raises a Lua error with Kong's message.
func throw(format string, args ...any) error {
	return &luaError{msg: fmt.Sprintf(format, args...)}
}

// notSimulatedError is a PDK method Kong has but this simulator does not
// implement; the event fails with 500 and Access returns an error so the
// gap is noticed instead of silently diverging from Kong.
type notSimulatedError struct{ method string }

func (e *notSimulatedError) Error() string {
	return fmt.Sprintf("kongsim: PDK method %q exists in Kong but is not simulated", e.method)
}

// errExitYield marks kong.response.exit in the access phase: Kong records
// the response and yields the plugin coroutine, never to resume it.
var errExitYield = fmt.Errorf("kong.response.exit: coroutine yielded")

// pdkMethod is one entry of pb_rpc.lua's rpc_service.
type pdkMethod struct {
	name   string // lowered dotted name, e.g. "kong.request.get_headers"
	rpc    string // "Kong.Request_GetHeaders"
	input  protoreflect.MessageType
	output protoreflect.MessageType
	impl   func(ev *event, args []any) (any, error)
}

// rpcService maps the names plugins send to methods, built like
// pb_rpc.lua load_service from the `service Kong` of
// kong/include/kong/pluginsocket.proto (identical to go-pdk's copy).
// Filled in init, after pdkImpls.
var rpcService map[string]*pdkMethod

// lowerMethodName is load_service's name mapping: the MethodName option if
// set, else "Service.Method" with '_' → '.', "aB" → "a_B" (a lowercase
// letter and optional digits before an uppercase one), lowercased.
func lowerMethodName(service, method string) string {
	s := strings.ReplaceAll(service+"."+method, "_", ".")
	var b strings.Builder
	for i := 0; i < len(s); {
		if isLuaLower(s[i]) {
			j := i + 1
			for j < len(s) && isLuaDigit(s[j]) {
				j++
			}
			if j < len(s) && isLuaUpper(s[j]) {
				b.WriteString(s[i:j])
				b.WriteByte('_')
				b.WriteByte(s[j])
				i = j + 1
				continue
			}
		}
		b.WriteByte(s[i])
		i++
	}
	return strings.ToLower(b.String())
}

// loadService follows pb_rpc.lua load_service: every method of every
// service in the protocol file, keyed by its Lua name, with its input and
// output message types and the simulated implementation (nil when Kong has
// the method but kongsim does not simulate it).
func loadService() map[string]*pdkMethod {
	out := map[string]*pdkMethod{}
	fd := kong_plugin_protocol.File_server_kong_plugin_protocol_pluginsocket_proto
	services := fd.Services()
	for i := 0; i < services.Len(); i++ {
		svc := services.Get(i)
		methods := svc.Methods()
		for j := 0; j < methods.Len(); j++ {
			m := methods.Get(j)
			name := lowerMethodName(string(svc.Name()), string(m.Name()))
			if opt, ok := proto.GetExtension(m.Options(), kong_plugin_protocol.E_MethodName).(string); ok && opt != "" {
				name = opt
			}
			in, err1 := protoregistry.GlobalTypes.FindMessageByName(m.Input().FullName())
			outT, err2 := protoregistry.GlobalTypes.FindMessageByName(m.Output().FullName())
			if err1 != nil || err2 != nil {
				panic(fmt.Sprintf("kongsim: message types of %s not registered", m.FullName()))
			}
			out[name] = &pdkMethod{
				name:   name,
				rpc:    string(svc.Name()) + "." + string(m.Name()),
				input:  in,
				output: outT,
				impl:   pdkImpls[name],
			}
		}
	}
	return out
}

// pdkImpls are the simulated PDK functions, each following the Kong Lua
// function named in its comment. They take the Lua arguments pb_unwrap
// produced and return the Lua value pb_wrap will encode.
var pdkImpls map[string]func(ev *event, args []any) (any, error)

func init() {
	pdkImpls = map[string]func(ev *event, args []any) (any, error){
		"kong.client.authenticate":          pdkClientAuthenticate,
		"kong.client.get_ip":                pdkClientGetIP,
		"kong.client.get_forwarded_ip":      pdkClientGetForwardedIP,
		"kong.ctx.shared.get":               pdkCtxSharedGet,
		"kong.ctx.shared.set":               pdkCtxSharedSet,
		"kong.log.alert":                    pdkLog("alert"),
		"kong.log.crit":                     pdkLog("crit"),
		"kong.log.err":                      pdkLog("err"),
		"kong.log.warn":                     pdkLog("warn"),
		"kong.log.notice":                   pdkLog("notice"),
		"kong.log.info":                     pdkLog("info"),
		"kong.log.debug":                    pdkLog("debug"),
		"kong.nginx.get_var":                pdkNginxGetVar,
		"kong.nginx.get_ctx":                pdkNginxGetCtx,
		"kong.nginx.set_ctx":                pdkNginxSetCtx,
		"kong.node.get_id":                  pdkNodeGetID,
		"kong.request.get_scheme":           pdkRequestGetScheme,
		"kong.request.get_host":             pdkRequestGetHost,
		"kong.request.get_port":             pdkRequestGetPort,
		"kong.request.get_method":           pdkRequestGetMethod,
		"kong.request.get_path":             pdkRequestGetPath,
		"kong.request.get_path_with_query":  pdkRequestGetPathWithQuery,
		"kong.request.get_raw_query":        pdkRequestGetRawQuery,
		"kong.request.get_header":           pdkRequestGetHeader,
		"kong.request.get_headers":          pdkRequestGetHeaders,
		"kong.response.exit":                pdkResponseExit,
		"kong.service.request.set_header":   pdkServiceRequestSetHeader,
		"kong.service.request.add_header":   pdkServiceRequestAddHeader,
		"kong.service.request.clear_header": pdkServiceRequestClearHeader,
		"kong.service.request.set_headers":  pdkServiceRequestSetHeaders,
	}
	rpcService = loadService()
}

// callPDK follows pb_rpc.lua call_pdk: look the method up ("method %q not
// found" is returned, not raised), decode the argument frame as the
// method's input type (a decode failure is an assert, i.e. raised),
// unwrap, call, wrap, encode. A nil reply is sent as an empty frame.
func callPDK(ev *event, name string, data []byte) (reply []byte, errMsg string, thrown error) {
	m := rpcService[name]
	if m == nil {
		return nil, fmt.Sprintf("method %s not found", luaQuote(name)), nil
	}
	if m.impl == nil {
		return nil, "", &notSimulatedError{method: name}
	}
	in := m.input.New().Interface()
	if err := proto.Unmarshal(data, in); err != nil {
		return nil, "", throw("assertion failed! decoding %s: %v", m.input.Descriptor().FullName(), err)
	}
	args, err := pbUnwrap(in)
	if err != nil {
		return nil, "", err
	}
	ret, err := m.impl(ev, args)
	if err != nil {
		return nil, "", err
	}
	out, err := pbWrap(m.output, ret)
	if err != nil {
		return nil, "", err
	}
	if out == nil {
		return []byte{}, "", nil
	}
	b, err := proto.Marshal(out)
	if err != nil {
		return nil, "", throw("assertion failed! encoding %s: %v", m.output.Descriptor().FullName(), err)
	}
	return b, "", nil
}

// luaQuote is string.format("%q", s).
func luaQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"', '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case '\n':
			b.WriteString("\\\n")
		case '\r':
			b.WriteString(`\r`)
		case 0:
			b.WriteString(`\000`)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// ---------------------------------------------------------------------------
// pb_unwrap / pb_wrap (pb_rpc.lua)

// luaFromValue is pb_unwrap's structpb_value. lua-protobuf decodes the
// Value oneof without defaults and enums by name, so false turns into nil
// (`v.bool_value or v.string_value or ...`) and null into the string
// "NULL_VALUE".
func luaFromValue(v *structpb.Value) any {
	if v == nil {
		return nil
	}
	switch k := v.Kind.(type) {
	case *structpb.Value_ListValue:
		return luaFromList(k.ListValue)
	case *structpb.Value_StructValue:
		return luaFromStruct(k.StructValue)
	case *structpb.Value_BoolValue:
		if k.BoolValue {
			return true
		}
		return nil
	case *structpb.Value_StringValue:
		return k.StringValue
	case *structpb.Value_NumberValue:
		return k.NumberValue
	case *structpb.Value_NullValue:
		if k.NullValue == structpb.NullValue_NULL_VALUE {
			return "NULL_VALUE"
		}
		return float64(k.NullValue) // unknown enum values decode as numbers
	}
	return nil
}

// luaFromList is structpb_list: nil elements leave holes.
func luaFromList(l *structpb.ListValue) *luaTable {
	t := newLuaTable()
	for _, v := range l.GetValues() {
		t.arr = append(t.arr, luaFromValue(v))
	}
	return t
}

// luaFromStruct is structpb_struct: nil members vanish.
func luaFromStruct(s *structpb.Struct) *luaTable {
	t := newLuaTable()
	for k, v := range s.GetFields() {
		t.set(k, luaFromValue(v))
	}
	return t
}

// pbUnwrap is pb_rpc.lua pb_unwrap: the Lua arguments for a decoded
// input message.
func pbUnwrap(m proto.Message) ([]any, error) {
	switch x := m.(type) {
	case *structpb.Value:
		return []any{luaFromValue(x)}, nil
	case *structpb.ListValue:
		t := luaFromList(x)
		return t.arr[:t.length()], nil // t_unpack
	case *structpb.Struct:
		return []any{luaFromStruct(x)}, nil
	case *kong_plugin_protocol.Bool:
		return []any{x.V}, nil
	case *kong_plugin_protocol.Number:
		return []any{x.V}, nil
	case *kong_plugin_protocol.Int:
		return []any{float64(x.V)}, nil
	case *kong_plugin_protocol.String:
		return []any{x.V}, nil
	case *kong_plugin_protocol.ByteString:
		return []any{string(x.V)}, nil
	case *kong_plugin_protocol.KV:
		return []any{x.K, luaFromValue(x.V)}, nil
	case *kong_plugin_protocol.Target:
		return []any{x.Host, float64(x.Port)}, nil
	case *kong_plugin_protocol.AuthenticateArgs:
		// pb_unwrap[".kong_plugin_protocol.AuthenticateArgs"]: d.consumer,
		// d.credential, the decoded messages as tables (nil when unset).
		var consumer, credential any
		if x.Consumer != nil {
			consumer = x.Consumer
		}
		if x.Credential != nil {
			credential = x.Credential
		}
		return []any{consumer, credential}, nil
	case *kong_plugin_protocol.ExitArgs:
		var headers any
		if x.Headers != nil {
			headers = luaFromStruct(x.Headers)
		}
		return []any{float64(x.Status), string(x.Body), headers}, nil
	}
	if m.ProtoReflect().Descriptor().FullName() == "google.protobuf.Empty" {
		return nil, nil
	}
	return []any{m}, nil // identity_function
}

// valueFromLua is pb_wrap's structpb_value. A table is a ListValue when
// t[1] ~= nil, otherwise a Struct; nil is sent as null_value = 1 (sic).
func valueFromLua(v any) (*structpb.Value, error) {
	switch x := v.(type) {
	case nil:
		return &structpb.Value{Kind: &structpb.Value_NullValue{NullValue: structpb.NullValue(1)}}, nil
	case bool:
		return structpb.NewBoolValue(x), nil
	case float64:
		return structpb.NewNumberValue(x), nil
	case string:
		return structpb.NewStringValue(x), nil
	case *luaTable:
		if x.first() != nil {
			l, err := listFromLua(x)
			if err != nil {
				return nil, err
			}
			return structpb.NewListValue(l), nil
		}
		s, err := structFromLua(x)
		if err != nil {
			return nil, err
		}
		return structpb.NewStructValue(s), nil
	}
	return nil, throw("cannot encode %s as google.protobuf.Value", luaTypeName(v))
}

func listFromLua(t *luaTable) (*structpb.ListValue, error) {
	l := &structpb.ListValue{}
	for _, e := range t.ipairs() {
		v, err := valueFromLua(e)
		if err != nil {
			return nil, err
		}
		l.Values = append(l.Values, v)
	}
	return l, nil
}

func structFromLua(t *luaTable) (*structpb.Struct, error) {
	s := &structpb.Struct{Fields: map[string]*structpb.Value{}}
	for _, kv := range t.pairs() {
		v, err := valueFromLua(kv.val)
		if err != nil {
			return nil, err
		}
		s.Fields[luaKeyString(kv.key)] = v
	}
	return s, nil
}

// pbWrap is pb_rpc.lua pb_wrap: the output message for a Lua return
// value (nil message = empty reply frame).
func pbWrap(mt protoreflect.MessageType, ret any) (proto.Message, error) {
	switch mt.Descriptor().FullName() {
	case "google.protobuf.Value":
		return valueFromLua(ret)
	case "google.protobuf.ListValue":
		t, ok := ret.(*luaTable)
		if !ok {
			return nil, throw("bad argument to ipairs (table expected, got %s)", luaTypeName(ret))
		}
		return listFromLua(t)
	case "google.protobuf.Struct":
		t, ok := ret.(*luaTable)
		if !ok {
			return nil, throw("bad argument to pairs (table expected, got %s)", luaTypeName(ret))
		}
		return structFromLua(t)
	case "kong_plugin_protocol.String":
		switch x := ret.(type) {
		case nil:
			return &kong_plugin_protocol.String{}, nil
		case string:
			return &kong_plugin_protocol.String{V: x}, nil
		case float64:
			return &kong_plugin_protocol.String{V: fmtNumber(x)}, nil
		}
	case "kong_plugin_protocol.ByteString":
		switch x := ret.(type) {
		case nil:
			return &kong_plugin_protocol.ByteString{}, nil
		case string:
			return &kong_plugin_protocol.ByteString{V: []byte(x)}, nil
		}
	case "kong_plugin_protocol.Int":
		switch x := ret.(type) {
		case nil:
			return &kong_plugin_protocol.Int{}, nil
		case float64:
			if x == math.Trunc(x) && x >= math.MinInt32 && x <= math.MaxInt32 {
				return &kong_plugin_protocol.Int{V: int32(x)}, nil
			}
		}
	case "kong_plugin_protocol.Number":
		switch x := ret.(type) {
		case nil:
			return &kong_plugin_protocol.Number{}, nil
		case float64:
			return &kong_plugin_protocol.Number{V: x}, nil
		}
	case "kong_plugin_protocol.Bool":
		switch x := ret.(type) {
		case nil:
			return &kong_plugin_protocol.Bool{}, nil
		case bool:
			return &kong_plugin_protocol.Bool{V: x}, nil
		}
	case "google.protobuf.Empty":
		if ret == nil {
			return nil, nil
		}
		if _, ok := ret.(*luaTable); ok {
			return mt.New().Interface(), nil
		}
	default:
		return nil, throw("kongsim: wrapping %s is not simulated", mt.Descriptor().FullName())
	}
	return nil, throw("assertion failed! cannot encode %s as %s", luaTypeName(ret), mt.Descriptor().FullName())
}

// ---------------------------------------------------------------------------
// argument helpers

func arg(args []any, i int) any {
	if i < len(args) {
		return args[i]
	}
	return nil
}

func argString(args []any, i int) (string, bool) {
	s, ok := arg(args, i).(string)
	return s, ok
}
