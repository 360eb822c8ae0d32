// Command bench measures what legacy-auth costs Kong and what it saves the
// Rails monolith, in one run on one machine, and writes docs/benchmarks.md.
//
//	go run ./test/bench            (what make bench runs)
//	go run ./test/bench -quick     (a smoke run: seconds, for CI)
//
// Every figure comes from this run: PDK calls are counted by the harness
// (internal/kongsim), the plugin's own cost by go test -bench, end-to-end
// latency by a Go load generator against the local gateway on 127.0.0.1,
// with the compared configurations interleaved rep by rep so that machine
// noise hits them alike. Medians are reported with the spread (min-max).
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

func main() {
	quick := flag.Bool("quick", false, "tiny run (CI smoke test): short durations, few reps")
	out := flag.String("out", "docs/benchmarks.md", "Markdown report to write")
	duration := flag.Duration("duration", 3*time.Second, "length of one load run")
	reps := flag.Int("reps", 5, "interleaved repetitions of each load run")
	conc := flag.Int("c", 32, "concurrent client connections in load runs")
	only := flag.String("only", "", `run one section and replace it in -out, keeping the others: "konglua" or "surge"`)
	klRounds := flag.Int("konglua-rounds", 15, "interleaved rounds inside Kong's Lua runloop")
	klDuration := flag.Duration("konglua-duration", time.Second, "length of one wrk run inside Kong's Lua runloop (whole seconds)")
	var klBaselines stringList
	flag.Var(&klBaselines, "konglua-baseline", "label=path of another legacy-auth binary whose cache hit is measured inside Kong's Lua too (repeatable)")
	flag.Parse()
	if *quick {
		*duration, *reps = 300*time.Millisecond, 1
		*klRounds, *klDuration = 1, time.Second
	}
	if *only != "" && *only != "konglua" && *only != "surge" {
		log.Fatalf("-only %q: the selectable sections are konglua and surge", *only)
	}

	root, err := moduleRoot()
	if err != nil {
		log.Fatal(err)
	}
	if err := os.Chdir(root); err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()

	if *only == "konglua" {
		kl, err := kongLuaRun(ctx, *klRounds, *klDuration, klBaselines, *quick)
		if err != nil {
			log.Fatal(err)
		}
		doc, err := os.ReadFile(*out)
		if err != nil && !os.IsNotExist(err) {
			log.Fatal(err)
		}
		md := spliceSection(string(doc), kongLuaSection, kl.markdown())
		if err := os.WriteFile(*out, []byte(md), 0o644); err != nil {
			log.Fatal(err)
		}
		fmt.Print(kl.markdown())
		log.Printf("replaced %q in %s", kongLuaSection, *out)
		return
	}

	env, err := newBenchEnv(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer env.close()

	if *only == "surge" {
		s, err := env.surgeSection(ctx, *quick)
		if err != nil {
			log.Fatal(err)
		}
		doc, err := os.ReadFile(*out)
		if err != nil && !os.IsNotExist(err) {
			log.Fatal(err)
		}
		md := surgeMarkdown(s)
		if err := os.WriteFile(*out, []byte(spliceSection(string(doc), surgeSection, strings.TrimPrefix(md, "\n"))), 0o644); err != nil {
			log.Fatal(err)
		}
		fmt.Print(md)
		log.Printf("replaced %q in %s", surgeSection, *out)
		return
	}

	r := &report{Date: time.Now().UTC().Format("2006-01-02 15:04 MST"), Machine: machine(), Quick: *quick,
		Duration: *duration, Reps: *reps, Concurrency: *conc}

	log.Print("1/7 PDK calls per path")
	if r.PDK, err = env.pdkCalls(ctx); err != nil {
		log.Fatal(err)
	}
	events := 5000
	if *quick {
		events = 200
	}
	if r.EventP50, r.EventP99, err = env.eventLatency(ctx, events); err != nil {
		log.Fatal(err)
	}
	r.Events = events
	log.Print("2/7 in-process benchmarks (go test -bench)")
	if r.InProcess, r.BytesPerEntry, err = inProcess(ctx, *quick, filepath.Join(filepath.Dir(*out), rawBenchName)); err != nil {
		log.Fatal(err)
	}
	log.Print("3/7 end to end through the local gateway")
	if r.E2E, err = env.endToEnd(ctx, *duration, *reps, *conc); err != nil {
		log.Fatal(err)
	}
	log.Print("4/7 offload")
	users, perUser, offConc := 500, 20, 64
	if *quick {
		users, perUser = 50, 5
	}
	r.OffloadUsers = users
	if r.Offload, err = env.offload(ctx, users, perUser, offConc); err != nil {
		log.Fatal(err)
	}
	log.Print("5/7 memory per identity (from 2/5)")
	log.Print("6/7 inside Kong's Lua runloop (kong-lua, wrk)")
	if r.KongLua, err = kongLuaRun(ctx, *klRounds, *klDuration, klBaselines, *quick); err != nil {
		log.Fatal(err)
	}

	log.Print("7/7 Rails under a surge")
	s, err := env.surgeSection(ctx, *quick)
	if err != nil {
		log.Fatal(err)
	}
	r.Surge = s

	md := r.markdown()
	if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(*out, []byte(md), 0o644); err != nil {
		log.Fatal(err)
	}
	fmt.Print(md)
	log.Printf("wrote %s", *out)
}

func moduleRoot() (string, error) {
	b, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(b))
	if mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("not inside the module")
	}
	return filepath.Dir(mod), nil
}

// machine describes where the figures were taken.
func machine() string {
	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "model name") {
				cpu = strings.TrimSpace(strings.SplitN(line, ":", 2)[1])
				break
			}
		}
	}
	return fmt.Sprintf("%s, %d cores (GOMAXPROCS %d), %s %s/%s", cpu, runtime.NumCPU(), runtime.GOMAXPROCS(0),
		runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }
