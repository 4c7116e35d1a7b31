package vm

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestProbeAccel(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a probe guest")
	}
	cache := filepath.Join(t.TempDir(), "accel.json")
	accel, why := ProbeAccel(context.Background(), "qemu-system-x86_64", cache)
	t.Logf("accel %s: %s", accel, why)
	if accel != KVM && accel != TCG {
		t.Fatalf("accel = %q", accel)
	}
	again, why2 := ProbeAccel(context.Background(), "qemu-system-x86_64", cache)
	if again != accel || !strings.Contains(why2, "cached") {
		t.Errorf("second probe = %s (%s), want the cached %s", again, why2, accel)
	}
}

// A probe that merely timed out is believed for probeRetry, then probed
// again; a definite answer is kept.
func TestProbeAccelRetriesATimeout(t *testing.T) {
	const binary = "qemu-system-x86_64"
	tests := []struct {
		name      string
		first     bool // the first probe timed out
		age       time.Duration
		wantProbe bool // the second call probes again
	}{
		{"timed out, still believed", true, 0, false},
		{"timed out over an hour ago: probed again", true, probeRetry + time.Minute, true},
		{"a definite answer is kept", false, 48 * time.Hour, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cache := filepath.Join(t.TempDir(), "accel.json")
			probes := 0
			probe := func(context.Context, string) (Accel, string, bool) {
				probes++
				return TCG, "probe guest", tt.first && probes == 1
			}
			probeCached(context.Background(), binary, cache, probe)
			if tt.age > 0 { // age the cached answer
				raw, _ := os.ReadFile(cache)
				var c map[string]any
				json.Unmarshal(raw, &c)
				if _, ok := c["Expires"]; ok {
					c["Expires"] = time.Now().Add(probeRetry - tt.age)
				}
				raw, _ = json.Marshal(c)
				os.WriteFile(cache, raw, 0o644)
			}
			_, why := probeCached(context.Background(), binary, cache, probe)
			if got := probes == 2; got != tt.wantProbe {
				t.Errorf("probed again: %v, want %v (why %q)", got, tt.wantProbe, why)
			}
		})
	}
}
