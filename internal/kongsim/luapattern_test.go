package kongsim

import (
	"reflect"
	"testing"
)

func TestLuaMatch(t *testing.T) {
	tests := []struct {
		s, p    string
		ok      bool
		capture []string
	}{
		// plain characters and '.'
		{"hello", "ell", true, []string{"ell"}},
		{"hello", "h.l", true, []string{"hel"}},
		{"hello", "xyz", false, nil},
		{"", "", true, []string{""}},
		// anchors: '^' only at the start, '$' only at the end
		{"https://x", "^https?://", true, []string{"https://"}},
		{"xhttps://", "^https?://", false, nil},
		{"a^b", "a^b", true, []string{"a^b"}},
		{"abc", "bc$", true, []string{"bc"}},
		{"abcd", "bc$", false, nil},
		{"a$b", "a$b", true, []string{"a$b"}},
		{"abc", "^abc$", true, []string{"abc"}},
		// classes and their negations
		{"abc123", "%a+", true, []string{"abc"}},
		{"abc123", "%d+", true, []string{"123"}},
		{"abc123", "^%w+$", true, []string{"abc123"}},
		{"ab c", "%s", true, []string{" "}},
		{"ab,c", "%p", true, []string{","}},
		{"aBc", "%u", true, []string{"B"}},
		{"ABc", "%l", true, []string{"c"}},
		{"zzF0", "%x+", true, []string{"F0"}},
		{"a\tb", "%c", true, []string{"\t"}},
		{"abc123", "%D+", true, []string{"abc"}},
		{"123abc", "%A+", true, []string{"123"}},
		{"  x", "%S", true, []string{"x"}},
		{"a.b", "%.", true, []string{"."}},
		{"a%b", "%%", true, []string{"%"}},
		{"é", "%a", false, nil}, // C locale: non-ASCII bytes are not letters
		// sets
		{"hello", "[aeiou]+", true, []string{"e"}},
		{"HELLO", "[a-z]", false, nil},
		{"a-b", "[a%-]+", true, []string{"a-"}},
		{"x]y", "[]]", true, []string{"]"}},
		{"abc", "[^a]+", true, []string{"bc"}},
		{"a1_", "^[%w_]+$", true, []string{"a1_"}},
		{"a b", "^[%w_]+$", false, nil},
		{"z-", "[a-]", true, []string{"-"}},
		// quantifiers
		{"aaa", "a*", true, []string{"aaa"}},
		{"bbb", "a*", true, []string{""}},
		{"aaa", "a+", true, []string{"aaa"}},
		{"aaa", "a-", true, []string{""}},
		{"<a><b>", "<.->", true, []string{"<a>"}},
		{"<a><b>", "<.*>", true, []string{"<a><b>"}},
		{"color", "colou?r", true, []string{"color"}},
		{"colour", "colou?r", true, []string{"colour"}},
		// captures, position captures, back-references, %b, %f
		{"key=val", "(%w+)=(%w+)", true, []string{"key", "val"}},
		{"abc", "()b()", true, []string{"2", "3"}},
		{"xyyx", "(x)yy%1", true, []string{"x"}},
		{"f(a(b)c)d", "%b()", true, []string{"(a(b)c)"}},
		{"THE (quick) fox", "%f[%a]%a+", true, []string{"THE"}},
		{"hello world", "%f[%w]world", true, []string{"world"}},
	}
	for _, tt := range tests {
		got, ok, err := luaMatch(tt.s, tt.p)
		if err != nil {
			t.Errorf("luaMatch(%q, %q): unexpected error %v", tt.s, tt.p, err)
			continue
		}
		if ok != tt.ok || !reflect.DeepEqual(got, tt.capture) {
			t.Errorf("luaMatch(%q, %q) = %q, %v; want %q, %v", tt.s, tt.p, got, ok, tt.capture, tt.ok)
		}
	}
}

func TestLuaMatchErrors(t *testing.T) {
	tests := []struct{ p, want string }{
		{"abc%", "malformed pattern (ends with '%')"},
		{"[abc", "malformed pattern (missing ']')"},
		{"(abc", "unfinished capture"},
		{"abc)", "invalid pattern capture"},
		{"%1", "invalid capture index"},
		{"%b", "unbalanced pattern"},
		{"%fx", "missing '[' after '%f' in pattern"},
	}
	for _, tt := range tests {
		_, _, err := luaMatch("abc", tt.p)
		if err == nil || err.Error() != tt.want || !isLuaPatternError(err) {
			t.Errorf("luaMatch(%q) error = %v, want %q", tt.p, err, tt.want)
		}
	}
}
