package vm

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
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
