package e2e

import (
	"net/http"
	"testing"
	"time"

	"github.com/legacy-auth/legacy-auth/internal/fakerails"
	"github.com/legacy-auth/legacy-auth/test/testutil"
)

// TestMetrics starts a plugin process with LEGACY_AUTH_METRICS_ADDR (as a
// container would set it), runs a miss, a hit and a rejection, and reads
// /metrics: the outcome counters, the auth-call histogram and the cache
// gauges match that traffic.
func TestMetrics(t *testing.T) {
	addr := testutil.FreeAddr(t)
	s, out := startServer(t, "LEGACY_AUTH_METRICS_ADDR="+addr)
	if line, ok := waitOutput(out, "serving metrics on"); ok {
		t.Logf("plugin: %s", line)
	}
	metricsURL := "http://" + addr + "/metrics"
	probe := &http.Client{Timeout: time.Second}
	if !waitUntil(30*time.Second, func() bool {
		resp, err := probe.Get(metricsURL)
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	}) {
		t.Fatalf("metrics endpoint %s not reachable\n%s", metricsURL, out.String())
	}

	a := newAuth(t)
	good, bad := newToken("metrics"), newToken("metricsbad")
	a.Set(good, fakerails.OK("u-m", "r"))
	a.SetDelay(5 * time.Millisecond)
	cfg := config(t, map[string]any{"auth_url": a.url})
	p := newPlugin()
	wantProxied(t, access(t, s, p, cfg, request("Authorization", good)), "X-User-ID", "u-m", "X-User-Roles", "r") // miss
	wantProxied(t, access(t, s, p, cfg, request("Authorization", good)), "X-User-ID", "u-m", "X-User-Roles", "r") // hit
	wantExit(t, access(t, s, p, cfg, request("Authorization", bad)), 401, "Invalid credentials")                  // rejected

	m := scrape(t, metricsURL)
	series := []struct {
		name     string
		min, max float64
	}{
		{`legacy_auth_requests_total{outcome="hit"}`, 1, 1},
		{`legacy_auth_requests_total{outcome="miss"}`, 1, 1},
		{`legacy_auth_requests_total{outcome="rejected"}`, 1, 1},
		{`legacy_auth_auth_call_duration_seconds_count{result="ok"}`, 1, 1},
		{`legacy_auth_auth_call_duration_seconds_count{result="rejected"}`, 1, 1},
		{`legacy_auth_auth_call_duration_seconds_sum{result="ok"}`, 0.004, 5}, // the fake waits 5 ms
		{`legacy_auth_auth_call_duration_seconds_bucket{result="ok",le="+Inf"}`, 1, 1},
		{`legacy_auth_cache_entries`, 1, 1},
		{`legacy_auth_rejection_cache_entries`, 1, 1},
		{`process_resident_memory_bytes`, 1 << 20, 1 << 30},
	}
	for _, s := range series {
		v, ok := m[s.name]
		t.Logf("%s = %g (present: %t)", s.name, v, ok)
		switch {
		case !ok:
			t.Errorf("%s missing from /metrics", s.name)
		case v < s.min || v > s.max:
			t.Errorf("%s = %g, want %g..%g", s.name, v, s.min, s.max)
		}
	}
	if a.Calls() != 2 {
		t.Errorf("auth calls = %d, want 2 (the miss and the rejection)", a.Calls())
	}
}
