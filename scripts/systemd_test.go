package scripts

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The serve unit is one systemd reads without a complaint (a misspelt key
// is only a warning to systemd, and its hardening would be silently lost),
// and it keeps the hardening docs/racks.md promises.
func TestServeUnit(t *testing.T) {
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Fatalf("systemd-analyze is missing: install Debian's systemd (scripts/install-deps.sh)")
	}
	unit, err := os.ReadFile("systemd/labctl-serve.service")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"NoNewPrivileges=yes",
		"CapabilityBoundingSet=CAP_NET_BIND_SERVICE CAP_NET_ADMIN CAP_NET_RAW",
		"AmbientCapabilities=CAP_NET_BIND_SERVICE CAP_NET_ADMIN CAP_NET_RAW",
		"StateDirectory=labctl", "ProtectSystem=strict", "ReadWritePaths=/var/lib/labctl",
		"ExecReload=/bin/kill -HUP $MAINPID", "KillMode=mixed",
	} {
		if !strings.Contains(string(unit), "\n"+want+"\n") {
			t.Errorf("the unit lacks %q", want)
		}
	}
	// verify wants the binary to exist; the unit is checked as written otherwise.
	checked := filepath.Join(t.TempDir(), "labctl-serve.service")
	os.WriteFile(checked, []byte(strings.ReplaceAll(string(unit), "/usr/local/bin/labctl", "/bin/true")), 0o644)
	out, err := exec.Command("systemd-analyze", "verify", checked).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}
