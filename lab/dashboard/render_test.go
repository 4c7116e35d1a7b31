package dashboard

import (
	"testing"
	"time"
)

// Ages are to the minute, so a live page is not resent every second, and
// never negative.
func TestAge(t *testing.T) {
	now := time.Date(2026, 12, 6, 18, 30, 0, 0, time.UTC)
	for _, tc := range []struct {
		ago  time.Duration
		want string
	}{
		{-5 * time.Second, "under a minute"}, // a clock a little ahead
		{23 * time.Second, "under a minute"},
		{time.Minute + 59*time.Second, "1m"},
		{2*time.Hour + 3*time.Minute + 4*time.Second, "2h3m"},
	} {
		if got := age(now.Add(-tc.ago), now); got != tc.want {
			t.Errorf("age %s: %q, want %q", tc.ago, got, tc.want)
		}
	}
	if got := age(time.Time{}, now); got != "unknown" {
		t.Errorf("age of no time: %q", got)
	}
}
