package shipping

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestComposeKeepsTheAdminAPIInside (issue 18, item 8): DB-less Kong's
// Admin API accepts POST /config (a whole new configuration), so the
// compose stack neither publishes it nor listens on it beyond the
// container's loopback.
func TestComposeKeepsTheAdminAPIInside(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root(t), "examples", "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Services map[string]struct {
			Environment map[string]string `yaml:"environment"`
			Ports       []string          `yaml:"ports"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	kong, ok := c.Services["kong"]
	if !ok {
		t.Fatal("no kong service")
	}
	admin := kong.Environment["KONG_ADMIN_LISTEN"]
	for _, l := range strings.Split(admin, ",") {
		if host := strings.TrimSpace(l); !strings.HasPrefix(host, "127.0.0.1:") && host != "off" {
			t.Errorf("KONG_ADMIN_LISTEN %q listens beyond the container's loopback", admin)
		}
	}
	port := "8001"
	if i := strings.LastIndex(admin, ":"); i >= 0 {
		port = strings.Fields(admin[i+1:])[0]
	}
	for _, p := range kong.Ports {
		if strings.HasSuffix(p, ":"+port) {
			t.Errorf("the Admin API port is published: %q", p)
		}
	}
}
