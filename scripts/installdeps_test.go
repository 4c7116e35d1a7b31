package scripts

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/labctl/labctl/images"
	"github.com/labctl/labctl/internal/testenv"
)

// TestInstallGoOnFreshDebian runs `install-deps.sh --go-only` in a Debian
// bookworm root made by mmdebstrap with no Go at all, as on a newcomer's
// machine: it must leave a working Go of the release go.mod names in
// /usr/local/go, and a second run must leave that Go alone. The other
// packages are left out to keep the test within minutes; they are the same
// apt-get install this part uses for golang-go.
func TestInstallGoOnFreshDebian(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a Debian root and fetches the Go toolchain (minutes)")
	}
	testenv.Privileged(t, "mmdebstrap --mode=root mounts and chroots")
	testenv.Tool(t, "mmdebstrap", "mmdebstrap")
	want := goModRelease(t, "../go.mod")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()

	root, err := os.MkdirTemp("", "labctl-install-deps-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeRoot(t, root) })
	start := time.Now()
	run(t, ctx, nil, append([]string{"unshare", "--mount", "--propagation", "private", "--",
		"mmdebstrap", "--mode=root", "--variant=apt", "--format=directory", "--quiet",
		"--dpkgopt=path-exclude=/usr/share/doc/*", "--dpkgopt=path-exclude=/usr/share/man/*",
		"bookworm", root}, aptSources(t)...)...)
	t.Logf("mmdebstrap --variant=apt: %s", time.Since(start).Round(time.Second))
	if _, err := os.Stat(filepath.Join(root, "usr/bin/go")); err == nil {
		t.Fatal("the fresh root already has /usr/bin/go")
	}
	copyFile(t, "../go.mod", filepath.Join(root, "labctl/go.mod"))
	copyFile(t, "install-deps.sh", filepath.Join(root, "labctl/scripts/install-deps.sh"))
	copyFile(t, "/etc/resolv.conf", filepath.Join(root, "etc/resolv.conf"))
	// The machine's own CA bundle, in case its module proxy is reached
	// through a TLS proxy that Debian's bundle does not know.
	copyFile(t, caBundle(), filepath.Join(root, "root/host-ca.pem"))

	start = time.Now()
	out := inRoot(t, ctx, root, "bash", "/labctl/scripts/install-deps.sh", "--go-only")
	t.Logf("install-deps.sh --go-only, no Go: %s", time.Since(start).Round(time.Second))
	for _, w := range []string{
		"install-deps: Go " + want + " is needed (found: no Go)",
		"install-deps: go version go" + want + " linux/" + runtime.GOARCH + " in /usr/local/go (a link to /usr/local/go" + want + ")",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("install-deps.sh output lacks %q:\n%s", w, out)
		}
	}
	if link, err := os.Readlink(filepath.Join(root, "usr/local/go")); err != nil || link != "go"+want {
		t.Errorf("/usr/local/go: link to %q (%v), want go%s", link, err, want)
	}
	if left, _ := filepath.Glob(filepath.Join(root, "usr/local/.labctl-go.*")); len(left) > 0 {
		t.Errorf("download directories left behind: %v", left)
	}

	// The Go it installed builds and runs a program, found as the Makefile
	// finds it (Debian's Go 1.19 is in /usr/bin too).
	writeFile(t, filepath.Join(root, "root/hello/go.mod"), "module hello\n\ngo "+want+"\n")
	writeFile(t, filepath.Join(root, "root/hello/main.go"), "package main\n\nimport (\"fmt\"; \"runtime\")\n\nfunc main() { fmt.Println(\"hello from\", runtime.Version()) }\n")
	if got := strings.TrimSpace(inRoot(t, ctx, root, "sh", "-c", "cd /root/hello && PATH=/usr/local/go/bin:$PATH go run .")); got != "hello from go"+want {
		t.Errorf("go run in the root printed %q, want %q", got, "hello from go"+want)
	}

	// Run again: Go is there at the right release and is left alone.
	info, _ := os.Lstat(filepath.Join(root, "usr/local/go"))
	out = inRoot(t, ctx, root, "bash", "/labctl/scripts/install-deps.sh", "--go-only")
	if w := "install-deps: Go " + want + " is installed (/usr/local/go/bin/go)"; !strings.Contains(out, w) {
		t.Errorf("second run's output lacks %q:\n%s", w, out)
	}
	if again, _ := os.Lstat(filepath.Join(root, "usr/local/go")); info == nil || again == nil || !again.ModTime().Equal(info.ModTime()) {
		t.Error("the second run replaced /usr/local/go")
	}
}

// goModRelease is the Go release go.mod names: its toolchain line, else its go line.
func goModRelease(t *testing.T, file string) string {
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for _, re := range []string{`(?m)^toolchain go(\d+\.\d+\.\d+)\s*$`, `(?m)^go (\d+\.\d+\.\d+)\s*$`} {
		if m := regexp.MustCompile(re).FindSubmatch(raw); m != nil {
			return string(m[1])
		}
	}
	t.Fatalf("%s names no Go release (go 1.X.Y or toolchain go1.X.Y)", file)
	return ""
}

// aptSources are the machine's Debian apt sources (those signed by Debian's
// archive key), so that the root comes from the same mirror.
func aptSources(t *testing.T) []string {
	var out []string
	files, _ := filepath.Glob("/etc/apt/sources.list.d/*.sources")
	for _, f := range files {
		if raw, err := os.ReadFile(f); err == nil && strings.Contains(string(raw), "debian-archive-keyring") {
			out = append(out, f)
		}
	}
	if st, err := os.Stat("/etc/apt/sources.list"); len(out) == 0 && err == nil && st.Size() > 0 {
		out = append(out, "/etc/apt/sources.list")
	}
	if len(out) == 0 {
		t.Fatal("no Debian apt sources in /etc/apt/sources.list.d/*.sources or /etc/apt/sources.list")
	}
	return out
}

func caBundle() string {
	if f := os.Getenv("SSL_CERT_FILE"); f != "" {
		return f
	}
	return "/etc/ssl/certs/ca-certificates.crt"
}

// inRoot runs a command chrooted in root with /proc and /dev mounted in a
// mount namespace of its own: the mounts end with the command, however it
// ends. The environment is a fresh one plus what reaches the module proxy.
func inRoot(t *testing.T, ctx context.Context, root string, args ...string) string {
	env := []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root", "LC_ALL=C.UTF-8",
		"SSL_CERT_FILE=/root/host-ca.pem"}
	for _, k := range []string{"GOPROXY", "GOSUMDB", "GONOSUMDB", "GOPRIVATE", "GONOPROXY", "GOINSECURE", "GOFLAGS",
		"http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	script := `mount -t proc proc "$1/proc" && mount --rbind /dev "$1/dev" && root=$1 && shift && exec chroot "$root" "$@"`
	return run(t, ctx, env, append([]string{"unshare", "--mount", "--propagation", "private", "--pid", "--fork", "--",
		"sh", "-c", script, "sh", root}, args...)...)
}

func run(t *testing.T, ctx context.Context, env []string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func copyFile(t *testing.T, from, to string) {
	raw, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(to) // resolv.conf may be a link into the host's /run
	writeFile(t, to, string(raw))
}

func writeFile(t *testing.T, file, content string) {
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, []byte(content), 0o755); err != nil {
		t.Fatal(err)
	}
}

// removeRoot removes the root unless something is still mounted under it in
// this mount namespace (the mounts were made in namespaces of their own, so
// none should be): removing it through a mount of /dev would remove the
// machine's own device nodes.
func removeRoot(t *testing.T, root string) {
	mounts, err := images.MountsUnder(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(mounts) > 0 {
		t.Errorf("%v mounted; not removing %s", mounts, root)
		return
	}
	if err := os.RemoveAll(root); err != nil {
		t.Error(err)
	}
}
