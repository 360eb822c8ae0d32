package identity

import (
	"encoding/json"
	"os"
	"sort"
	"testing"
	"time"
)

// TestEngineAnswersFixture (issue 18, item 6): every answer the Rails
// engine renders (test/fixtures/answers.json, checked against the engine
// by its Ruby tests) is accepted by the plugin, and the cases the engine
// normalises are ones the plugin would refuse as is.
func TestEngineAnswersFixture(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../../test/fixtures/answers.json")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Cases []struct {
			Name  string `json:"name"`
			Input struct {
				UserID any            `json:"user_id"`
				Roles  []string       `json:"roles"`
				Extra  map[string]any `json:"extra"`
			} `json:"input"`
			Answer     map[string]any `json:"answer"`
			RawRefused bool           `json:"raw_refused"`
		} `json:"cases"`
	}
	if err := json.Unmarshal(b, &f); err != nil || len(f.Cases) < 10 {
		t.Fatalf("fixture: %v (%d cases)", err, len(f.Cases))
	}
	for _, c := range f.Cases {
		var extras []ExtraHeader
		for field := range c.Input.Extra {
			extras = append(extras, ExtraHeader{Field: field, Header: "X-" + field})
		}
		sort.Slice(extras, func(i, j int) bool { return extras[i].Field < extras[j].Field })
		if c.Answer != nil {
			body, _ := json.Marshal(c.Answer)
			if _, err := parseIdentity(body, extras, time.Now()); err != nil {
				t.Errorf("%s: the plugin refuses the engine's answer: %v", c.Name, err)
			}
		}
		raw := map[string]any{"user_id": c.Input.UserID, "roles": c.Input.Roles}
		for k, v := range c.Input.Extra {
			raw[k] = v
		}
		body, _ := json.Marshal(raw)
		_, err := parseIdentity(body, extras, time.Now())
		if refused := err != nil; refused != c.RawRefused {
			t.Errorf("%s: the plugin refuses the raw fields: %t, fixture says %t (%v)", c.Name, refused, c.RawRefused, err)
		}
	}
}
