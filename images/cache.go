// Package images builds the OS images lab machines boot and keeps each build
// in a cache keyed by a hash of its inputs, published atomically.
package images

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

// DefaultCacheDir is where images are kept between runs.
const DefaultCacheDir = "/var/cache/labctl/images"

// ManifestName is the manifest's file name inside an image directory; its
// presence marks a complete image.
const ManifestName = "manifest.json"

// Image is a built image: a directory of files plus its manifest.
type Image struct {
	Dir      string
	Manifest Manifest
	CacheHit bool
}

// Manifest describes an image directory.
type Manifest struct {
	Name      string         `json:"name"`
	Key       string         `json:"key"`    // hash of the build inputs
	Inputs    map[string]any `json:"inputs"` // what went into Key, for humans
	Files     []File         `json:"files"`
	Built     time.Time      `json:"built"`
	BuildTime Duration       `json:"build_time"`
}

// File is one output file of an image.
type File struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Duration marshals as "1m30s".
type Duration time.Duration

func (d Duration) String() string               { return time.Duration(d).String() }
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	*d = Duration(v)
	return err
}

// Options are what a scenario or the command line asks of an image beyond
// its recipe's own defaults. A recipe refuses an option it cannot honour.
type Options struct {
	// Packages are Debian packages added to the recipe's own.
	Packages []string `yaml:"packages" json:"packages,omitempty"`
	// Versions pin what a recipe fetches or builds, by component (for
	// example "kubernetes": "v1.31.2").
	Versions map[string]string `yaml:"versions" json:"versions,omitempty"`
}

// Recipe says how to build one image. Inputs are every value the result
// depends on (options included); Build writes the image's files into dir.
type Recipe struct {
	Name   string
	Inputs map[string]any
	Build  func(ctx context.Context, dir string) error
}

// Key is the hash of the recipe's name and inputs (JSON, sorted keys).
func (r Recipe) Key() (string, error) {
	raw, err := json.Marshal(map[string]any{"name": r.Name, "inputs": r.Inputs})
	if err != nil {
		return "", fmt.Errorf("image %s: hash inputs: %w", r.Name, err)
	}
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:])[:16], nil
}

// Cache is a directory of built images: <Dir>/<name>/<key>/.
type Cache struct {
	Dir string
	Log *slog.Logger
}

// OpenCache is the cache in dir, or in DefaultCacheDir when dir is empty:
// the one way to make a Cache (a nil log logs to slog.Default).
func OpenCache(dir string, log *slog.Logger) *Cache {
	if dir == "" {
		dir = DefaultCacheDir
	}
	return &Cache{Dir: dir, Log: log}
}

// Build returns the cached image for r, building it first if it is missing.
// A build happens in a temporary directory under a lock and is published by
// rename, so an interrupted build leaves no half image and two concurrent
// builds of the same image do the work once.
func (c *Cache) Build(ctx context.Context, r Recipe) (*Image, error) {
	key, err := r.Key()
	if err != nil {
		return nil, err
	}
	base := filepath.Join(c.Dir, r.Name)
	final := filepath.Join(base, key)
	if img, err := load(final); err == nil {
		img.CacheHit = true
		return img, nil
	}
	if err := os.MkdirAll(base, 0o755); err != nil {
		return nil, fmt.Errorf("image %s: %w", r.Name, err)
	}
	unlock, err := lock(ctx, filepath.Join(base, ".lock"))
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", r.Name, err)
	}
	defer unlock()
	if img, err := load(final); err == nil { // built by whoever held the lock
		img.CacheHit = true
		return img, nil
	}
	log := c.Log
	if log == nil {
		log = slog.Default()
	}
	// Leftovers of interrupted builds: we hold the lock, so nobody uses them.
	stale, _ := filepath.Glob(filepath.Join(base, ".tmp-*"))
	for _, s := range stale {
		if err := removeBuildDir(s); err != nil {
			log.Warn("interrupted build left in place", "dir", s, "err", err)
		}
	}
	tmp, err := os.MkdirTemp(base, ".tmp-"+key+"-")
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", r.Name, err)
	}
	defer func() { // nothing to remove after the rename
		if err := removeBuildDir(tmp); err != nil {
			log.Warn("failed build left in place", "dir", tmp, "err", err)
		}
	}()
	log.Info("building image", "image", r.Name, "key", key, "dir", final)
	start := time.Now()
	if err := r.Build(ctx, tmp); err != nil {
		return nil, fmt.Errorf("build image %s: %w", r.Name, err)
	}
	m := Manifest{Name: r.Name, Key: key, Inputs: r.Inputs, Built: time.Now().UTC(), BuildTime: Duration(time.Since(start).Round(time.Millisecond))}
	if m.Files, err = listFiles(tmp); err != nil {
		return nil, fmt.Errorf("image %s: %w", r.Name, err)
	}
	raw, _ := json.MarshalIndent(m, "", "\t")
	if err := os.WriteFile(filepath.Join(tmp, ManifestName), append(raw, '\n'), 0o644); err != nil {
		return nil, fmt.Errorf("image %s: %w", r.Name, err)
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, final); err != nil {
		return nil, fmt.Errorf("image %s: publish: %w", r.Name, err)
	}
	log.Info("built image", "image", r.Name, "dir", final, "took", time.Duration(m.BuildTime))
	return &Image{Dir: final, Manifest: m}, nil
}

// removeBuildDir removes a build's directory. A build killed mid-way (its
// chroot's tool killed before it cleaned up) can leave proc, sys, dev/pts or
// dev/shm mounted inside it: those are detached first, and a directory that
// still holds a mount is refused, since removing through a mount removes
// the host's own files.
func removeBuildDir(dir string) error {
	mounts, err := MountsUnder(dir)
	if err != nil {
		return err
	}
	for _, m := range mounts { // deepest first
		if err := syscall.Unmount(m, syscall.MNT_DETACH); err != nil {
			return fmt.Errorf("unmount %s: %w", m, err)
		}
	}
	if mounts, err = MountsUnder(dir); err != nil || len(mounts) > 0 {
		return fmt.Errorf("%s still has mounts %v (%v)", dir, mounts, err)
	}
	return os.RemoveAll(dir)
}

// MountsUnder lists the mount points at or below dir in this mount
// namespace, deepest first.
func MountsUnder(dir string) ([]string, error) {
	raw, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	var mounts []string
	for _, line := range strings.Split(string(raw), "\n") {
		// Field 5 is the mount point, with space, tab, newline and
		// backslash octal-escaped; a build directory has none of those.
		if f := strings.Fields(line); len(f) > 4 && (f[4] == dir || strings.HasPrefix(f[4], dir+"/")) {
			mounts = append(mounts, f[4])
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(mounts)))
	return mounts, nil
}

// ErrNotCached is returned by Newest when the cache holds no such image.
var ErrNotCached = errors.New("not in the cache")

// Newest returns the most recently made image called name. Images fetched
// from a publisher are found this way: what a scenario names is the image,
// not one version's inputs.
func (c *Cache) Newest(name string) (*Image, error) {
	dirs, _ := filepath.Glob(filepath.Join(c.Dir, name, "*"))
	var newest *Image
	for _, d := range dirs {
		if strings.HasPrefix(filepath.Base(d), ".") {
			continue
		}
		if img, err := load(d); err == nil && (newest == nil || img.Manifest.Built.After(newest.Manifest.Built)) {
			newest = img
		}
	}
	if newest == nil {
		return nil, fmt.Errorf("image %s in %s: %w", name, c.Dir, ErrNotCached)
	}
	newest.CacheHit = true
	return newest, nil
}

func load(dir string) (*Image, error) {
	raw, err := os.ReadFile(filepath.Join(dir, ManifestName))
	if err != nil {
		return nil, err
	}
	img := &Image{Dir: dir}
	if err := json.Unmarshal(raw, &img.Manifest); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, ManifestName), err)
	}
	return img, nil
}

// listFiles hashes the regular files at the top of dir (the outputs).
func listFiles(dir string) ([]File, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var files []File
	for _, e := range entries {
		if !e.Type().IsRegular() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		f, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		h := sha256.New()
		n, err := io.Copy(h, f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("hash %s: %w", e.Name(), err)
		}
		files = append(files, File{Name: e.Name(), Size: n, SHA256: hex.EncodeToString(h.Sum(nil))})
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Name < files[j].Name })
	return files, nil
}

// lock takes an exclusive flock on path, polling so that ctx can cancel the
// wait. The lock dies with the process, so a crashed build never wedges it.
func lock(ctx context.Context, path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("wait for lock %s: %w", path, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// HashFS hashes every file of fsys (paths and contents), for recipes whose
// inputs include embedded scripts.
func HashFS(fsys fs.FS) (string, error) {
	h := sha256.New()
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		raw, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", p, len(raw))
		h.Write(raw)
		return nil
	})
	return hex.EncodeToString(h.Sum(nil))[:16], err
}
