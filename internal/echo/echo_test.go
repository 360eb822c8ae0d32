package echo

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"
)

// rawRoundTrips writes raw requests on one connection and reads one
// response per request, so keep-alive and exact spelling are both tested.
func rawRoundTrips(t *testing.T, addr string, requests ...string) []Reply {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)
	var out []Reply
	for _, raw := range requests {
		if _, err := io.WriteString(c, raw); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("reading response to %q: %v", raw, err)
		}
		var r Reply
		err = json.NewDecoder(resp.Body).Decode(&r)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("status %d, decode: %v", resp.StatusCode, err)
		}
		out = append(out, r)
	}
	return out
}

func TestServerKeepsSpelling(t *testing.T) {
	t.Parallel()
	s := New()
	t.Cleanup(s.Close)

	tests := []struct {
		name string
		raw  string
		want Reply
	}{
		{
			name: "spellings kept apart",
			raw:  "GET /a%20b/c?x=1&y=2 HTTP/1.1\r\nHost: up\r\nX-User-ID: 42\r\nx-user-id: 7\r\nX_User_ID: spoof\r\n\r\n",
			want: Reply{Method: "GET", Path: "/a%20b/c", Query: "x=1&y=2", Headers: map[string][]string{
				"Host": {"up"}, "X-User-ID": {"42"}, "x-user-id": {"7"}, "X_User_ID": {"spoof"},
			}},
		},
		{
			name: "repeated header and chunked body",
			raw:  "POST /p HTTP/1.1\r\nHost: up\r\nTransfer-Encoding: chunked\r\nX-Roles: a\r\nX-Roles: b\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
			want: Reply{Method: "POST", Path: "/p", Headers: map[string][]string{
				"Host": {"up"}, "Transfer-Encoding": {"chunked"}, "X-Roles": {"a", "b"},
			}},
		},
		{
			name: "bare LF and content length",
			raw:  "PUT / HTTP/1.1\nhost: up\ncontent-length: 2\n\nhi",
			want: Reply{Method: "PUT", Path: "/", Headers: map[string][]string{"host": {"up"}, "content-length": {"2"}}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := rawRoundTrips(t, s.Addr(), tc.raw)[0]
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestServerKeepAlive(t *testing.T) {
	t.Parallel()
	s := New()
	t.Cleanup(s.Close)
	got := rawRoundTrips(t, s.Addr(),
		"POST /1 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
		"GET /2 HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /3 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
	)
	for i, want := range []string{"/1", "/2", "/3"} {
		if got[i].Path != want {
			t.Errorf("request %d: path %q, want %q", i, got[i].Path, want)
		}
	}
}

func TestServerWithGoClient(t *testing.T) {
	t.Parallel()
	s := New()
	t.Cleanup(s.Close)
	req, _ := http.NewRequest("GET", s.URL()+"/x?q=1", nil)
	// A non-canonical map key is written as is by Go's client: this is how
	// the gateway forwards the plugin's header spelling.
	req.Header["X-User-ID"] = []string{"42"}
	client := &http.Client{Timeout: 5 * time.Second}
	for range 3 { // reuses the pooled connection
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var r Reply
		err = json.NewDecoder(resp.Body).Decode(&r)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if got := r.Headers["X-User-ID"]; len(got) != 1 || got[0] != "42" {
			t.Errorf("X-User-ID = %v in %v", got, r.Headers)
		}
		if r.Path != "/x" || r.Query != "q=1" || r.Method != "GET" {
			t.Errorf("got %+v", r)
		}
		if g := r.Get("x-user-id"); len(g) != 1 {
			t.Errorf("Get = %v", g)
		}
	}
}

func TestServerRejectsGarbage(t *testing.T) {
	t.Parallel()
	s := New()
	t.Cleanup(s.Close)
	c, err := net.DialTimeout("tcp", s.Addr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	_, _ = io.WriteString(c, "NOT HTTP\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("status %d, want 400", resp.StatusCode)
	}
}

func TestHandler(t *testing.T) {
	t.Parallel()
	ts := httptest.NewServer(Handler())
	t.Cleanup(ts.Close)
	tests := []struct {
		name, method, target string
		want                 Reply
	}{
		{"get with query", "GET", "/a/b?c=d", Reply{Method: "GET", Path: "/a/b", Query: "c=d"}},
		{"delete", "DELETE", "/x%2Fy", Reply{Method: "DELETE", Path: "/x%2Fy"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			req, _ := http.NewRequest(tc.method, ts.URL+tc.target, nil)
			req.Header["x-custom"] = []string{"v"}
			resp, err := ts.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var got Reply
			if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
				t.Fatal(err)
			}
			if got.Method != tc.want.Method || got.Path != tc.want.Path || got.Query != tc.want.Query {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
			// net/http canonicalizes: documented limitation of Handler.
			if v := got.Headers["X-Custom"]; len(v) != 1 || v[0] != "v" {
				t.Errorf("headers %v", got.Headers)
			}
			if !strings.HasPrefix(strings.Join(got.Headers["Host"], ""), "127.0.0.1:") {
				t.Errorf("Host = %v", got.Headers["Host"])
			}
		})
	}
}

func TestStartRejectsNonLoopback(t *testing.T) {
	t.Parallel()
	for _, addr := range []string{"0.0.0.0:0", ":0", "bad"} {
		if s, err := Start(addr); err == nil {
			s.Close()
			t.Errorf("Start(%q) succeeded", addr)
		}
	}
}

// Both flavours end their answer with a newline, so `curl -s` output does
// not run into the shell prompt.
func TestReplyEndsWithNewline(t *testing.T) {
	t.Parallel()
	s := New()
	t.Cleanup(s.Close)
	ts := httptest.NewServer(Handler())
	t.Cleanup(ts.Close)
	for name, url := range map[string]string{"Server": s.URL(), "Handler": ts.URL} {
		resp, err := http.Get(url + "/x")
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(string(body), "}\n") {
			t.Errorf("%s: body %q does not end with a newline", name, body)
		}
	}
}
