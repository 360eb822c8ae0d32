package plugin

import (
	"fmt"
	"testing"
	"time"

	"github.com/legacy-auth/legacy-auth/internal/identity"
)

// TestEvery503HasRetryAfter (issue 20, item 4): an open breaker says when
// it lets a probe through; a shed call and an auth service that did not
// answer say a second.
func TestEvery503HasRetryAfter(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err     error
		retry   string
		outcome string
	}{
		{&identity.OpenError{RetryAfter: 7 * time.Second}, "7", "error_breaker_open"},
		{&identity.ShedError{RetryAfter: time.Second}, "1", "error_shed"},
		{fmt.Errorf("calling: %w", identity.ErrUnavailable), "1", "error_unavailable"},
	} {
		status, _, h := response(tc.err)
		if status != 503 || len(h["Retry-After"]) != 1 || h["Retry-After"][0] != tc.retry {
			t.Errorf("%v: %d, Retry-After %q; want 503 with %s", tc.err, status, h["Retry-After"], tc.retry)
		}
		if got := classify(tc.err).outcome; got != tc.outcome {
			t.Errorf("%v counted as %q, want %q", tc.err, got, tc.outcome)
		}
	}
	if _, _, h := response(&identity.RejectedError{Status: 401}); h["Retry-After"] != nil {
		t.Error("a 401 carries Retry-After")
	}
}
