package lab

import (
	"strings"
	"testing"
)

// A provider's own files live in the machine's directory, beside the files
// both providers keep.
func TestMachineFiles(t *testing.T) {
	l := &Lab{Dir: "/labs/t"}
	f := l.MachineFiles("m1")
	if f.Dir != l.MachineDir("m1") || f.Dir != "/labs/t/machines/m1" {
		t.Errorf("machine directory %s, MachineDir %s; want /labs/t/machines/m1", f.Dir, l.MachineDir("m1"))
	}
	for _, p := range []string{f.Disk, f.NVRAM, f.SerialLog, f.Console, f.Record} {
		if !strings.HasPrefix(p, f.Dir+"/") {
			t.Errorf("%s is not in %s", p, f.Dir)
		}
	}
}

// The probe's answer sits beside the image cache, wherever the cache is.
func TestAccelFile(t *testing.T) {
	for cache, want := range map[string]string{
		"/var/cache/labctl/images": "/var/cache/labctl/accel.json",
		"/tmp/e2e/cache/":          "/tmp/e2e/accel.json",
		"relative/images":          "relative/accel.json",
	} {
		if got := AccelFile(cache); got != want {
			t.Errorf("AccelFile(%q) = %s, want %s", cache, got, want)
		}
	}
}
