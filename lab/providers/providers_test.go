package providers

import (
	"slices"
	"strings"
	"testing"
)

func TestNew(t *testing.T) {
	for _, name := range Names() {
		p, err := New(name, Config{})
		if err != nil || p.Name() != name {
			t.Errorf("New(%q) = %v, %v", name, p, err)
		}
	}
	if _, err := New("vbox", Config{}); err == nil || !strings.Contains(err.Error(), `unknown provider "vbox" (known: libvirt, qemu, rack)`) {
		t.Errorf("New(vbox): %v", err)
	}
	if d := Default(); !slices.Contains(Names(), d) {
		t.Errorf("Default() = %q", d)
	}
}
