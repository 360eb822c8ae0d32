package configdoc

import (
	"flag"
	"os"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite README.md's configuration tables from the schema")

const readmePath = "../../README.md"

// TestREADMEConfigTable fails when README.md's configuration tables are not
// what the schema gives. `make docs` (this test with -update) rewrites them.
func TestREADMEConfigTable(t *testing.T) {
	fields, err := Fields()
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	want, err := Update(readme, fields)
	if err != nil {
		t.Fatal(err)
	}
	if string(want) == string(readme) {
		return
	}
	if *update {
		if err := os.WriteFile(readmePath, want, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Log("rewrote README.md's configuration tables")
		return
	}
	t.Errorf("README.md's configuration tables differ from plugin/schema.go: run make docs\n%s",
		firstDiff(string(readme), string(want)))
}

func firstDiff(have, want string) string {
	h, w := strings.Split(have, "\n"), strings.Split(want, "\n")
	for i := 0; i < len(h) && i < len(w); i++ {
		if h[i] != w[i] {
			return "line " + strconv.Itoa(i+1) + ":\n  have: " + h[i] + "\n  want: " + w[i]
		}
	}
	return "README.md differs in length"
}

// Every config field of the schema is in exactly one table, with its
// description.
func TestEveryFieldInOneTable(t *testing.T) {
	fields, err := Fields()
	if err != nil {
		t.Fatal(err)
	}
	if len(fields) < 20 {
		t.Fatalf("only %d config fields found", len(fields))
	}
	for _, f := range fields {
		n := 0
		for _, g := range Groups {
			if strings.Contains(Table(fields, g), "| `"+f.Name+"` |") {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%s is in %d tables, want 1", f.Name, n)
		}
		if str(f.Attrs["description"]) == "" {
			t.Errorf("%s has no description in the schema", f.Name)
		}
	}
}

func TestRow(t *testing.T) {
	all := Group{"t", func(string) bool { return true }}
	tests := []struct {
		name  string
		field Field
		want  string
	}{
		{"required, pattern", Field{Name: "auth_url", Attrs: map[string]any{"type": "string", "required": true,
			"match": `^https?://[^%s/?#]+[^%s]*$`, "description": "The URL."}},
			"| `auth_url` | string | *(required)* | an http(s) URL | The URL. |"},
		{"default and bounds", Field{Name: "timeout", Attrs: map[string]any{"type": "number", "required": true,
			"default": 2000.0, "between": []any{1.0, 60000.0}, "description": "Milliseconds."}},
			"| `timeout` | number | `2000` | 1–60000 | Milliseconds. |"},
		{"one_of", Field{Name: "m", Attrs: map[string]any{"type": "string", "default": "POST",
			"one_of": []any{"GET", "POST"}, "description": "Method."}},
			"| `m` | string | `POST` | `GET`, `POST` | Method. |"},
		{"optional, together", Field{Name: "cert", Attrs: map[string]any{"type": "string", "description": "A | B"},
			Together: []string{"key"}},
			"| `cert` | string | none | only with `key` | A \\| B |"},
		{"array default", Field{Name: "a", Attrs: map[string]any{"type": "array", "default": []any{},
			"elements": map[string]any{"type": "string", "match": "^[%w!#$%%&'*+.^_`|~-]+$"}, "description": "D."}},
			"| `a` | array of string | `[]` | each a header name | D. |"},
		{"map", Field{Name: "x", Attrs: map[string]any{"type": "map", "len_max": 16.0,
			"keys": map[string]any{"type": "string"}, "values": map[string]any{"type": "string"}, "description": "D."}},
			"| `x` | map string → string | none | at most 16 | D. |"},
		{"boolean, vault", Field{Name: "p", Attrs: map[string]any{"type": "string", "referenceable": true, "description": "D."}},
			"| `p` | string | none | a Kong vault reference | D. |"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			lines := strings.Split(strings.TrimSpace(Table([]Field{tc.field}, all)), "\n")
			if got := lines[len(lines)-1]; got != tc.want {
				t.Errorf("row\n got: %s\nwant: %s", got, tc.want)
			}
		})
	}
}

func TestUpdate(t *testing.T) {
	f := []Field{{Name: "a", Attrs: map[string]any{"type": "string", "description": "A."}},
		{Name: "redis_b", Attrs: map[string]any{"type": "string", "description": "B."}},
		{Name: "jwt_issuers[].c", Attrs: map[string]any{"type": "string", "description": "C."}}}
	in := "intro\n<!-- config-table:start -->\nold\n<!-- config-table:end -->\nmid\n" +
		"<!-- config-table:redis:start -->\n<!-- config-table:redis:end -->\n" +
		"<!-- config-table:issuers:start -->\n<!-- config-table:issuers:end -->\nend\n"
	out, err := Update([]byte(in), f)
	if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	if strings.Contains(s, "old") || !strings.Contains(s, "| `a` |") || !strings.Contains(s, "| `redis_b` |") || !strings.Contains(s, "| `jwt_issuers[].c` |") ||
		!strings.HasPrefix(s, "intro\n") || !strings.HasSuffix(s, "end\n") || !strings.Contains(s, "\nmid\n") {
		t.Errorf("Update gave\n%s", s)
	}
	if _, err := Update([]byte("no markers"), f); err == nil {
		t.Error("Update without markers: no error")
	}
}
