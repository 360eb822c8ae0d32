package shipping

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestComposeExposesMetrics: the compose stack's start command runs the
// image's binary with the image's -kong-prefix, adds -metrics-addr (the
// worker's environment is cleared, so the variable would not arrive), the
// binary accepts those flags, and the metrics port is published.
func TestComposeExposesMetrics(t *testing.T) {
	dir := root(t)
	b, err := os.ReadFile(filepath.Join(dir, "examples", "docker-compose.yml"))
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
	kong := c.Services["kong"]
	const key = "KONG_PLUGINSERVER_LEGACY_AUTH_START_CMD"
	cmd := strings.Fields(kong.Environment[key])
	image, _ := dockerEnv(t, filepath.Join(dir, "Dockerfile"))
	imageCmd := strings.Fields(image[key])
	if len(cmd) == 0 || len(imageCmd) == 0 || cmd[0] != imageCmd[0] {
		t.Fatalf("compose %s = %q, want the image's binary (%q)", key, cmd, imageCmd)
	}
	flagValue := func(args []string, name string) string {
		for i, a := range args {
			if a == name && i+1 < len(args) {
				return args[i+1]
			}
		}
		return ""
	}
	if got, want := flagValue(cmd, "-kong-prefix"), flagValue(imageCmd, "-kong-prefix"); got != want {
		t.Errorf("compose -kong-prefix %q, image's %q", got, want)
	}
	addr := flagValue(cmd, "-metrics-addr")
	_, port, ok := strings.Cut(addr, ":")
	if !ok || port == "" {
		t.Fatalf("compose %s = %q: no -metrics-addr host:port", key, kong.Environment[key])
	}
	published := false
	for _, p := range kong.Ports {
		if strings.HasSuffix(p, ":"+port+":"+port) {
			published = true
		}
	}
	if !published {
		t.Errorf("metrics port %s not published: %v", port, kong.Ports)
	}
	// -version after the start command's flags: an unknown flag fails the parse.
	out, err := exec.Command(build(t, dir), append(cmd[1:], "-version")...).CombinedOutput()
	if err != nil {
		t.Errorf("legacy-auth %s -version: %v\n%s", strings.Join(cmd[1:], " "), err, out)
	}
}
