// Command echoplugin is a throwaway go-pdk plugin used by kongsim's tests.
// Its access handler reads the request headers, optionally does what
// "x-..." request headers ask for, and echoes information upstream.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/Kong/go-pdk"
	"github.com/Kong/go-pdk/server"
)

// Config is the plugin configuration (go-pdk derives the schema from it).
type Config struct {
	Greeting string   `json:"greeting"`
	Limit    int      `json:"limit"`
	Tags     []string `json:"tags"`
	id       int64
}

var instances atomic.Int64

// New is the go-pdk constructor, called once per started instance.
func New() interface{} { return &Config{id: instances.Add(1)} }

// Access is the access-phase handler.
func (c *Config) Access(kong *pdk.PDK) {
	h, err := kong.Request.GetHeaders(-1)
	if err != nil {
		_ = kong.Log.Err("get_headers: ", err.Error())
		return
	}
	_ = kong.Log.Info("access ", c.Greeting)

	if _, ok := h["x-exit"]; ok {
		kong.Response.Exit(401, []byte(`{"message":"Unauthorized"}`), map[string][]string{
			"Content-Type":     {"application/json"},
			"WWW-Authenticate": {"Basic"},
		})
		return
	}
	if _, ok := h["x-unknown-method"]; ok {
		_ = kong.Log.Ask("kong.nope.nothing", nil, nil)
		return
	}
	if _, ok := h["x-not-simulated"]; ok {
		_, _ = kong.Request.GetRawBody()
		return
	}
	if _, ok := h["x-bad-max"]; ok {
		_, _ = kong.Request.GetHeaders(0)
		return
	}
	if v, ok := h["x-sleep"]; ok {
		d, _ := time.ParseDuration(v[0])
		// Tests wait for this line to know the event is in the handler.
		fmt.Fprintf(os.Stderr, "echoplugin: sleeping %s\n", d)
		time.Sleep(d)
	}
	set := map[string][]string{
		"X-Echo-Count": {strconv.Itoa(len(h))},
		"X-Greeting":   {c.Greeting},
		"X-Instance":   {strconv.FormatInt(c.id, 10)},
		"X-User-ID":    {},
	}
	if v, ok := h["x-get-header"]; ok {
		got, _ := kong.Request.GetHeader(v[0])
		set["X-Got"] = []string{got}
	}
	if v, ok := h["x-shared-json"]; ok {
		var val interface{}
		_ = json.Unmarshal([]byte(v[0]), &val)
		_ = kong.Ctx.SetShared("v", val)
		back, _ := kong.Ctx.GetSharedAny("v")
		b, _ := json.Marshal(back)
		set["X-Shared-Back"] = []string{string(b)}
	}
	if v, ok := h["x-var"]; ok {
		got, _ := kong.Nginx.GetVar(v[0])
		set["X-Var"] = []string{got}
	}
	_ = kong.Ctx.SetShared("instance", float64(c.id))
	_ = kong.ServiceRequest.SetHeaders(set)
}

func main() {
	_ = server.StartServer(New, "0.1.0", 1000)
}
