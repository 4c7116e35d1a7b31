// Package testenv holds what tests ask of the machine they run on: a tool
// from a Debian package, a Python module, root with namespace privileges.
// A missing tool fails the test, naming the package scripts/install-deps.sh
// installs; only -short skips, and it says which test and why.
package testenv

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Tool returns the path of the command name, or fails t naming the Debian
// package that provides it.
func Tool(t testing.TB, name, debianPackage string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is missing: install Debian's %s (scripts/install-deps.sh installs it): %v", name, debianPackage, err)
	}
	return p
}

// PythonModule fails t unless python imports module, naming the Debian
// package that provides it.
func PythonModule(t testing.TB, python, module, debianPackage string) {
	t.Helper()
	Tool(t, python, "python3")
	if out, err := exec.Command(python, "-c", "import "+module).CombinedOutput(); err != nil {
		t.Fatalf("%s cannot import %s: install Debian's %s (scripts/install-deps.sh installs it): %v\n%s", python, module, debianPackage, err, out)
	}
}

// File fails t unless path exists, naming the Debian package that installs it.
func File(t testing.TB, path, debianPackage string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("%s is missing: install Debian's %s (scripts/install-deps.sh installs it): %v", path, debianPackage, err)
	}
}

// Linux capabilities (linux/capability.h) that namespace and mount tests need.
const (
	capNetAdmin = 12
	capSysAdmin = 21
)

// Privileged is for a test that creates network namespaces, links or
// mounts. Without root, CAP_SYS_ADMIN and CAP_NET_ADMIN (as in the
// unprivileged container of the check workflow) -short skips it, naming
// what is missing; a full run fails.
func Privileged(t testing.TB, why string) {
	t.Helper()
	need(t, "root with CAP_SYS_ADMIN and CAP_NET_ADMIN", why, missingPrivileges())
}

// Root is for a test that needs only to be root (a daemon that runs
// commands as root), as Privileged.
func Root(t testing.TB, why string) {
	t.Helper()
	missing := ""
	if os.Geteuid() != 0 {
		missing = "root (euid " + strconv.Itoa(os.Geteuid()) + ")"
	}
	need(t, "root", why, missing)
}

func need(t testing.TB, what, why, missing string) {
	t.Helper()
	switch {
	case missing == "":
	case testing.Short():
		t.Skipf("skipped under -short: %s needs %s (%s); this process lacks %s", t.Name(), what, why, missing)
	default:
		t.Fatalf("%s needs %s (%s); this process lacks %s: run the full suite as root, or -short to skip it", t.Name(), what, why, missing)
	}
}

// missingPrivileges names what this process lacks of root, CAP_SYS_ADMIN
// and CAP_NET_ADMIN (effective set), or returns "".
func missingPrivileges() string {
	if os.Geteuid() != 0 {
		return "root (euid " + strconv.Itoa(os.Geteuid()) + ")"
	}
	eff, err := effectiveCaps()
	if err != nil {
		return err.Error()
	}
	var missing []string
	for _, c := range []struct {
		bit  uint
		name string
	}{{capSysAdmin, "CAP_SYS_ADMIN"}, {capNetAdmin, "CAP_NET_ADMIN"}} {
		if eff&(1<<c.bit) == 0 {
			missing = append(missing, c.name)
		}
	}
	return strings.Join(missing, " and ")
}

func effectiveCaps() (uint64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, fmt.Errorf("read capabilities: %w", err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "CapEff:"); ok {
			caps, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			if err != nil {
				return 0, fmt.Errorf("read capabilities: CapEff %q: %w", v, err)
			}
			return caps, nil
		}
	}
	return 0, fmt.Errorf("read capabilities: no CapEff in /proc/self/status")
}

// Buffer is a bytes.Buffer that a process or service writes while the test
// reads it (a log it waits on).
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
