package shipping

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"
)

const module = "github.com/legacy-auth/legacy-auth"

// goList runs go list in the module root and returns its output lines.
func goList(t *testing.T, args ...string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", append([]string{"list"}, args...)...)
	cmd.Dir = root(t)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %s: %v", strings.Join(args, " "), err)
	}
	return strings.Fields(string(out))
}

func isTestPkg(path string) bool {
	return strings.HasPrefix(path, module+"/test/")
}

// What ships (the binaries under cmd/) must not depend on test/: test/ holds
// tests and their fixtures, components the tools ship live under internal/.
func TestShippedBinariesDoNotImportTest(t *testing.T) {
	deps := goList(t, "-deps", "./cmd/...")
	if len(deps) == 0 {
		t.Fatal("go list -deps ./cmd/... listed nothing")
	}
	for _, p := range deps {
		if isTestPkg(p) {
			t.Errorf("go list -deps ./cmd/... shows %s", p)
		}
	}
}

// The same rule for every non-test file outside test/ (plugin/, internal/,
// cmd/): only _test.go files may import test/ helpers such as redistest.
func TestOnlyTestFilesImportTest(t *testing.T) {
	lines := goList(t, "-f", `{{.ImportPath}}{{range .Imports}},{{.}}{{end}}`, "./...")
	for _, line := range lines {
		fields := strings.Split(line, ",")
		pkg, imports := fields[0], fields[1:]
		if isTestPkg(pkg) {
			continue
		}
		for _, imp := range imports {
			if isTestPkg(imp) {
				t.Errorf("%s imports %s outside a _test.go file", pkg, imp)
			}
		}
	}
}
