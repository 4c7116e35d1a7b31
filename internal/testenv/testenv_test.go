package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
)

// recorder is a testing.TB whose Fatalf and Skipf record the message and
// stop the calling goroutine, as the real ones do.
type recorder struct {
	testing.TB
	fatal, skip string
}

func (r *recorder) Helper()      {}
func (r *recorder) Name() string { return "TestX" }
func (r *recorder) Fatalf(format string, args ...any) {
	r.fatal = fmt.Sprintf(format, args...)
	runtime.Goexit()
}
func (r *recorder) Skipf(format string, args ...any) {
	r.skip = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func run(f func(t testing.TB)) *recorder {
	r := &recorder{}
	done := make(chan struct{})
	go func() { defer close(done); f(r) }()
	<-done
	return r
}

func TestMissingNamesThePackage(t *testing.T) {
	tests := []struct {
		name string
		f    func(t testing.TB)
		want string
	}{
		{"tool", func(t testing.TB) { Tool(t, "labctl-no-such-tool", "labctl-pkg") },
			"labctl-no-such-tool is missing: install Debian's labctl-pkg (scripts/install-deps.sh installs it)"},
		{"file", func(t testing.TB) { File(t, "/nonexistent/labctl", "labctl-pkg") },
			"/nonexistent/labctl is missing: install Debian's labctl-pkg (scripts/install-deps.sh installs it)"},
		{"python module", func(t testing.TB) { PythonModule(t, "python3", "labctl_no_such_module", "python3-labctl") },
			"python3 cannot import labctl_no_such_module: install Debian's python3-labctl (scripts/install-deps.sh installs it)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := run(tt.f)
			if !strings.HasPrefix(r.fatal, tt.want) {
				t.Errorf("failure %q, want it to start with %q", r.fatal, tt.want)
			}
		})
	}
	if r := run(func(t testing.TB) { Tool(t, "sh", "dash") }); r.fatal != "" {
		t.Errorf("sh is installed, yet: %s", r.fatal)
	}
}

func TestNeed(t *testing.T) {
	tests := []struct {
		missing     string
		fatal, skip bool
	}{
		{"", false, false},
		{"CAP_NET_ADMIN", !testing.Short(), testing.Short()},
	}
	for _, tt := range tests {
		r := run(func(t testing.TB) { need(t, "root with CAP_NET_ADMIN", "makes links", tt.missing) })
		if (r.fatal != "") != tt.fatal || (r.skip != "") != tt.skip {
			t.Errorf("missing %q: fatal %q, skip %q", tt.missing, r.fatal, r.skip)
		}
		for _, msg := range []string{r.fatal, r.skip} {
			if msg != "" && !strings.Contains(msg, "TestX needs root with CAP_NET_ADMIN (makes links); this process lacks CAP_NET_ADMIN") {
				t.Errorf("message %q does not name the test, the need and what is missing", msg)
			}
		}
	}
}

// TestPackagesAreInstalled: every Debian package a test names when its tool
// is missing is one scripts/install-deps.sh installs, so the message is a
// cure and a fresh CI machine has the tool.
func TestPackagesAreInstalled(t *testing.T) {
	script, err := os.ReadFile("../../scripts/install-deps.sh")
	if err != nil {
		t.Fatal(err)
	}
	list := regexp.MustCompile(`(?s)\npackages=\((.*?)\n\)`).FindSubmatch(script)
	if list == nil {
		t.Fatal("no packages=( ... ) list in scripts/install-deps.sh")
	}
	installed := map[string]bool{}
	for _, line := range strings.Split(string(list[1]), "\n") {
		line, _, _ = strings.Cut(line, "#")
		for _, p := range strings.Fields(line) {
			installed[p] = true
		}
	}
	named := regexp.MustCompile(`testenv\.(?:Tool|File)\(t, [^,]+, "([^"]+)"\)|testenv\.PythonModule\(t, [^,]+, [^,]+, "([^"]+)"\)`)
	seen := 0
	err = filepath.WalkDir("../..", func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, "_test.go") || strings.Contains(path, "internal/testenv") {
			return err
		}
		src, err := os.ReadFile(path)
		if err != nil || !strings.Contains(string(src), "testenv.") {
			return err
		}
		for _, m := range named.FindAllStringSubmatch(string(src), -1) {
			pkg := m[1] + m[2]
			seen++
			if !installed[pkg] {
				t.Errorf("%s names Debian package %s, which scripts/install-deps.sh does not install", path, pkg)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if seen < 10 {
		t.Errorf("found %d packages named by tests; the pattern no longer matches their calls", seen)
	}
}
