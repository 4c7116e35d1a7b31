// Package k8s builds the Kubernetes node payload labctl's Kubernetes
// scenarios boot: the six Kubernetes commands at one pinned version, compiled
// from the k8s.io/kubernetes module into one multi-call binary, and the pause
// and test workload images as OCI archives, cached by version and build
// inputs.
package k8s

import (
	"bufio"
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"time"

	"github.com/labctl/labctl/images"
	"github.com/labctl/labctl/images/oci"
)

// Name is the image's name in the cache.
const Name = "k8s"

// DefaultVersion is the pinned Kubernetes release: the newest 1.34 patch the
// Go module proxy serves (see docs/architecture.md for the runtime it pairs with).
const DefaultVersion = "v1.34.4"

// BuilderVersion changes whenever the build changes in a way its other
// inputs do not show.
const BuilderVersion = "2"

// Binary is the one file holding all of Commands (kube/main.go).
const Binary = "kube"

// Commands are the names Binary answers to, each a symbolic link to it in
// the image directory and in a node's root.
var Commands = []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy", "kubectl"}

// Tags are Kubernetes' own release build tags: no test code, no gRPC
// tracing, SELinux support compiled in.
const Tags = "selinux,notest,grpcnotrace"

// The local images, by the references the node configuration names.
const (
	PauseRef = "registry.k8s.io/pause:3.10"
	HelloRef = "labctl.local/labhello:1"
)

// Image archive file names in the image directory.
const (
	PauseArchive = "pause.oci.tar"
	HelloArchive = "labhello.oci.tar"
)

// Options say which Kubernetes to build and where to keep it.
type Options struct {
	Version  string // a k8s.io/kubernetes module version, default DefaultVersion
	CacheDir string // default images.DefaultCacheDir
	Go       string // the go command, default "go" from PATH or /usr/local/go/bin/go
	Log      *slog.Logger
}

// The Go sources built: Binary's main and the two workloads'.
//
//go:embed kube/main.go pause/main.go labhello/main.go
var sources embed.FS

var versionRE = regexp.MustCompile(`^v1\.(\d+)\.(\d+)$`)

// Build returns the Kubernetes image directory (Binary and its links, the
// two OCI archives, manifest.json), building it only when the cache has none
// for the same inputs.
func Build(ctx context.Context, opts Options) (*images.Image, error) {
	r, err := NewRecipe(opts)
	if err != nil {
		return nil, err
	}
	return images.OpenCache(opts.CacheDir, opts.Log).Build(ctx, r)
}

// NewRecipe is the Kubernetes build as a cache recipe.
func NewRecipe(opts Options) (images.Recipe, error) {
	if opts.Version == "" {
		opts.Version = DefaultVersion
	}
	if !versionRE.MatchString(opts.Version) {
		return images.Recipe{}, fmt.Errorf("kubernetes version %q: want a release such as %s", opts.Version, DefaultVersion)
	}
	if opts.Go == "" {
		opts.Go = goCommand()
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	goVersion, err := exec.Command(opts.Go, "env", "GOVERSION").Output()
	if err != nil {
		return images.Recipe{}, fmt.Errorf("go toolchain %s: %w", opts.Go, err)
	}
	src, err := images.HashFS(sources)
	if err != nil {
		return images.Recipe{}, err
	}
	return images.Recipe{
		Name: Name,
		Inputs: map[string]any{
			"builder":  BuilderVersion,
			"version":  opts.Version,
			"go":       strings.TrimSpace(string(goVersion)),
			"tags":     Tags,
			"commands": Commands,
			"sources":  src,
		},
		Build: func(ctx context.Context, dir string) error { return build(ctx, dir, opts) },
	}, nil
}

func goCommand() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "/usr/local/go/bin/go"
}

func build(ctx context.Context, dir string, opts Options) error {
	mod, err := os.MkdirTemp("", "labctl-k8s-build-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(mod)
	if err := writeBuildModule(ctx, mod, opts); err != nil {
		return err
	}
	if err := buildBinary(ctx, mod, dir, opts); err != nil {
		return err
	}
	return buildImages(ctx, mod, dir, opts)
}

// writeBuildModule writes a module that requires k8s.io/kubernetes and
// repeats its replace lines for the staging modules (Go ignores a
// dependency's replace and godebug lines), with kube/main.go as its main
// package, then resolves go.sum.
func writeBuildModule(ctx context.Context, mod string, opts Options) error {
	out, err := goCmd(ctx, mod, opts, "mod", "download", "-json", "k8s.io/kubernetes@"+opts.Version).Output()
	if err != nil {
		return fmt.Errorf("download k8s.io/kubernetes@%s: %w", opts.Version, stderrOf(err))
	}
	var info struct{ GoMod, Error string }
	if err := json.Unmarshal(out, &info); err != nil || info.Error != "" {
		return fmt.Errorf("download k8s.io/kubernetes@%s: %s %v", opts.Version, info.Error, err)
	}
	upstream, err := os.ReadFile(info.GoMod)
	if err != nil {
		return err
	}
	gomod, err := BuildModule(upstream, opts.Version)
	if err != nil {
		return fmt.Errorf("k8s.io/kubernetes@%s go.mod: %w", opts.Version, err)
	}
	if err := os.WriteFile(filepath.Join(mod, "go.mod"), gomod, 0o644); err != nil {
		return err
	}
	// Without its "ignore" constraint, which only keeps it out of labctl.
	kubeMain, _ := sources.ReadFile("kube/main.go")
	main := bytes.Replace(kubeMain, []byte("//go:build ignore\n"), nil, 1)
	if err := os.WriteFile(filepath.Join(mod, "main.go"), main, 0o644); err != nil {
		return err
	}
	opts.Log.Info("resolving the Kubernetes build module", "version", opts.Version)
	if err := run(goCmd(ctx, mod, opts, "mod", "tidy")); err != nil {
		return fmt.Errorf("go mod tidy of the Kubernetes build module: %w", err)
	}
	return nil
}

var (
	stagingRE = regexp.MustCompile(`(?m)^\s*(?:replace\s+)?(k8s\.io/[a-z0-9-]+)\s+=>\s+\./staging/`)
	godebugRE = regexp.MustCompile(`(?m)^godebug\s+(.+)$`)
	goRE      = regexp.MustCompile(`(?m)^go\s+(\S+)$`)
)

// BuildModule is the go.mod of labctl's build module for a Kubernetes
// version, made from that version's own go.mod: its go and godebug lines and
// a replace of each staging module by its published v0.MINOR.PATCH.
func BuildModule(upstream []byte, version string) ([]byte, error) {
	m := versionRE.FindStringSubmatch(version)
	if m == nil {
		return nil, fmt.Errorf("version %q is not a release", version)
	}
	staging := stagingRE.FindAllSubmatch(upstream, -1)
	if len(staging) == 0 {
		return nil, fmt.Errorf("no ./staging replace lines")
	}
	goLine := goRE.FindSubmatch(upstream)
	if goLine == nil {
		return nil, fmt.Errorf("no go line")
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "// Generated by labctl: builds Kubernetes %s.\nmodule labctl.local/k8sbuild\n\ngo %s\n\n", version, goLine[1])
	for _, g := range godebugRE.FindAllSubmatch(upstream, -1) {
		fmt.Fprintf(&b, "godebug %s\n\n", g[1])
	}
	fmt.Fprintf(&b, "require k8s.io/kubernetes %s\n\n", version)
	for _, s := range staging {
		fmt.Fprintf(&b, "replace %s => %s v0.%s.%s\n", s[1], s[1], m[1], m[2])
	}
	return b.Bytes(), nil
}

// LDFlags stamp the version into both version packages, so that `--version`
// and each node's reported kubelet version are the real release.
func LDFlags(version string, built time.Time) string {
	m := versionRE.FindStringSubmatch(version)
	flags := []string{"-s", "-w"}
	for _, pkg := range []string{"k8s.io/client-go/pkg/version", "k8s.io/component-base/version"} {
		for _, kv := range [][2]string{{"gitVersion", version}, {"gitMajor", "1"}, {"gitMinor", m[1]}, {"gitTreeState", "clean"}, {"buildDate", built.UTC().Format(time.RFC3339)}} {
			flags = append(flags, "-X", pkg+"."+kv[0]+"="+kv[1])
		}
	}
	return strings.Join(flags, " ")
}

// buildBinary builds Binary and links Commands to it, logging how many
// packages are compiled as it goes.
func buildBinary(ctx context.Context, mod, dir string, opts Options) error {
	// Standard packages count too: `go build -v` names them when it
	// compiles them (an empty build cache).
	list := goCmd(ctx, mod, opts, "list", "-deps", "-tags", Tags, "-f", "{{.ImportPath}}", ".")
	out, err := list.Output()
	if err != nil {
		return fmt.Errorf("go list the Kubernetes packages: %w", stderrOf(err))
	}
	total := strings.Count(string(out), "\n")
	// A fixed build date keeps the binary identical for identical inputs.
	cmd := goCmd(ctx, mod, opts, "build", "-v", "-trimpath", "-tags", Tags, "-ldflags", LDFlags(opts.Version, time.Unix(0, 0)), "-o", filepath.Join(dir, Binary), ".")
	cmd.Env = append(cmd.Env, "CGO_ENABLED=0")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	opts.Log.Info("building Kubernetes", "version", opts.Version, "commands", strings.Join(Commands, ","), "packages", total)
	if err := cmd.Start(); err != nil {
		return err
	}
	var compiled atomic.Int64
	var tail []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			if strings.Contains(line, " ") || strings.HasPrefix(line, "#") { // not a package name
				tail = append(tail, line)
				if len(tail) > 20 {
					tail = tail[1:]
				}
				continue
			}
			compiled.Add(1)
		}
	}()
	tick := time.NewTicker(15 * time.Second)
	defer tick.Stop()
	start := time.Now()
	for running := true; running; {
		select {
		case <-done:
			running = false
		case <-tick.C:
			opts.Log.Info("building Kubernetes", "compiled", fmt.Sprintf("%d/%d packages", compiled.Load(), total), "elapsed", time.Since(start).Round(time.Second))
		}
	}
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("go build Kubernetes %s: %w\n%s", opts.Version, err, strings.Join(tail, "\n"))
	}
	opts.Log.Info("built Kubernetes", "compiled", compiled.Load(), "took", time.Since(start).Round(time.Second))
	for _, c := range Commands {
		if err := os.Symlink(Binary, filepath.Join(dir, c)); err != nil {
			return err
		}
	}
	return nil
}

// buildImages compiles pause and labhello statically and packs each into
// an OCI archive.
func buildImages(ctx context.Context, mod, dir string, opts Options) error {
	for _, w := range []struct {
		src, archive string
		image        oci.Image
	}{
		{"pause/main.go", PauseArchive, oci.Image{Ref: PauseRef, Entrypoint: []string{"/pause"}, User: "65535"}},
		{"labhello/main.go", HelloArchive, oci.Image{Ref: HelloRef, Entrypoint: []string{"/labhello"}, User: "65534"}},
	} {
		name := filepath.Dir(w.src)
		work := filepath.Join(mod, "workloads", name)
		if err := os.MkdirAll(work, 0o755); err != nil {
			return err
		}
		raw, _ := sources.ReadFile(w.src)
		if err := os.WriteFile(filepath.Join(work, "main.go"), raw, 0o644); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(work, "go.mod"), []byte("module "+name+"\n\ngo 1.24\n"), 0o644); err != nil {
			return err
		}
		cmd := goCmd(ctx, work, opts, "build", "-trimpath", "-ldflags", "-s -w", "-o", name, ".")
		cmd.Env = append(cmd.Env, "CGO_ENABLED=0")
		if err := run(cmd); err != nil {
			return fmt.Errorf("build %s: %w", name, err)
		}
		bin, err := os.ReadFile(filepath.Join(work, name))
		if err != nil {
			return err
		}
		w.image.Files = []oci.File{{Path: "/" + name, Mode: 0o755, Data: bin}}
		f, err := os.Create(filepath.Join(dir, w.archive))
		if err != nil {
			return err
		}
		if err := oci.Write(f, w.image); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	return nil
}

func goCmd(ctx context.Context, dir string, opts Options, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, opts.Go, args...)
	cmd.Dir = dir
	// The build module is self-contained: no workspace, no vendoring.
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod -buildvcs=false")
	return cmd
}

// run runs cmd, adding the end of its output to its error.
func run(cmd *exec.Cmd) error {
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%w: %s", err, bytes.TrimSpace(lastBytes(out, 2000)))
	}
	return nil
}

// stderrOf adds a failed command's standard error to its error.
func stderrOf(err error) error {
	if ee, ok := err.(*exec.ExitError); ok && len(ee.Stderr) > 0 {
		return fmt.Errorf("%w: %s", err, bytes.TrimSpace(lastBytes(ee.Stderr, 2000)))
	}
	return err
}

func lastBytes(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
