package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// inProcessRow is the median of one go test benchmark over -count runs.
type inProcessRow struct {
	Name               string
	NsOp, NsMin, NsMax float64
	BytesOp, AllocsOp  float64
	Runs               int
}

// rawBenchName is the raw go test output, kept next to the report in the
// format benchstat reads (benchstat docs/bench-inprocess.txt).
const rawBenchName = "bench-inprocess.txt"

var benchLine = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+\d+\s+(.*)$`)

// inProcess runs the plugin package's benchmarks and returns their medians
// and the cache's bytes per entry.
func inProcess(ctx context.Context, quick bool, rawFile string) ([]inProcessRow, float64, error) {
	count, benchtime := "6", "1s"
	if quick {
		count, benchtime = "1", "2000x"
	}
	cmd := exec.CommandContext(ctx, "go", "test", "./internal/identity", "-run", "^$", "-bench", "BenchmarkAccess|BenchmarkRevocation100k",
		"-benchmem", "-count", count, "-benchtime", benchtime)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, 0, fmt.Errorf("go test -bench: %w\n%s", err, out)
	}
	mem, err := exec.CommandContext(ctx, "go", "test", "./internal/identity", "-run", "^$", "-bench", "BenchmarkCacheMemory",
		"-benchtime", "1x").Output()
	if err != nil {
		return nil, 0, fmt.Errorf("go test -bench BenchmarkCacheMemory: %w\n%s", err, mem)
	}
	if err := os.MkdirAll(filepath.Dir(rawFile), 0o755); err == nil {
		os.WriteFile(rawFile, append(out, mem...), 0o644)
	}

	samples := map[string][]map[string]float64{}
	var order []string
	for _, line := range strings.Split(string(out)+string(mem), "\n") {
		m := benchLine.FindStringSubmatch(strings.TrimSpace(line))
		if m == nil {
			continue
		}
		f := strings.Fields(m[2])
		vals := map[string]float64{}
		for i := 0; i+1 < len(f); i += 2 {
			if v, err := strconv.ParseFloat(f[i], 64); err == nil {
				vals[f[i+1]] = v
			}
		}
		if _, seen := samples[m[1]]; !seen {
			order = append(order, m[1])
		}
		samples[m[1]] = append(samples[m[1]], vals)
	}
	var rows []inProcessRow
	var bytesPerEntry float64
	for _, name := range order {
		s := samples[name]
		if name == "BenchmarkCacheMemory" {
			bytesPerEntry = s[0]["bytes/entry"]
			continue
		}
		med := func(unit string) (float64, float64, float64) {
			v := make([]float64, len(s))
			for i := range s {
				v[i] = s[i][unit]
			}
			slices.Sort(v)
			return v[len(v)/2], v[0], v[len(v)-1]
		}
		ns, lo, hi := med("ns/op")
		b, _, _ := med("B/op")
		a, _, _ := med("allocs/op")
		rows = append(rows, inProcessRow{Name: strings.TrimPrefix(name, "Benchmark"), NsOp: ns, NsMin: lo, NsMax: hi, BytesOp: b, AllocsOp: a, Runs: len(s)})
	}
	if len(rows) == 0 || bytesPerEntry == 0 {
		return nil, 0, fmt.Errorf("no benchmark results parsed from:\n%s%s", out, mem)
	}
	return rows, bytesPerEntry, nil
}
