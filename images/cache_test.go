package images

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/labctl/labctl/internal/testenv"
)

func TestCacheBuild(t *testing.T) {
	ctx := context.Background()
	recipe := func(inputs map[string]any, builds *atomic.Int32, fail error) Recipe {
		return Recipe{Name: "test", Inputs: inputs, Build: func(ctx context.Context, dir string) error {
			builds.Add(1)
			if err := os.WriteFile(filepath.Join(dir, "vmlinuz"), []byte("kernel"), 0o644); err != nil {
				return err
			}
			return fail
		}}
	}
	t.Run("second build is a cache hit", func(t *testing.T) {
		c := &Cache{Dir: t.TempDir()}
		var n atomic.Int32
		first, err := c.Build(ctx, recipe(map[string]any{"v": 1}, &n, nil))
		if err != nil || first.CacheHit {
			t.Fatalf("first build: %v, hit %v", err, first != nil && first.CacheHit)
		}
		second, err := c.Build(ctx, recipe(map[string]any{"v": 1}, &n, nil))
		if err != nil || !second.CacheHit || second.Dir != first.Dir || n.Load() != 1 {
			t.Fatalf("second build: %v, hit %v, dir %s (first %s), builds %d", err, second.CacheHit, second.Dir, first.Dir, n.Load())
		}
		if len(second.Manifest.Files) != 1 || second.Manifest.Files[0].Name != "vmlinuz" || second.Manifest.Files[0].Size != 6 {
			t.Fatalf("manifest files %+v", second.Manifest.Files)
		}
	})
	t.Run("changed inputs rebuild", func(t *testing.T) {
		c := &Cache{Dir: t.TempDir()}
		var n atomic.Int32
		a, _ := c.Build(ctx, recipe(map[string]any{"v": 1}, &n, nil))
		b, _ := c.Build(ctx, recipe(map[string]any{"v": 2}, &n, nil))
		if a.Dir == b.Dir || n.Load() != 2 {
			t.Fatalf("dirs %s %s, builds %d", a.Dir, b.Dir, n.Load())
		}
	})
	t.Run("failed build leaves nothing", func(t *testing.T) {
		c := &Cache{Dir: t.TempDir()}
		var n atomic.Int32
		if _, err := c.Build(ctx, recipe(nil, &n, errors.New("boom"))); err == nil {
			t.Fatal("no error")
		}
		entries, _ := os.ReadDir(filepath.Join(c.Dir, "test"))
		for _, e := range entries {
			if e.Name() != ".lock" {
				t.Errorf("left behind: %s", e.Name())
			}
		}
	})
	// A chroot's tool killed mid-way leaves its mounts in the build's
	// directory; one of them may be a bind of the host's own files (here
	// "host", standing for /dev/shm). Removal detaches, never recurses through.
	bindHost := func(t *testing.T, at string) (sentinel string) {
		testenv.Privileged(t, "bind-mounts a directory into the build")
		host := t.TempDir()
		sentinel = filepath.Join(host, "host-file")
		if err := os.WriteFile(sentinel, []byte("keep"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(at, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Mount(host, at, "", syscall.MS_BIND, ""); err != nil {
			t.Fatalf("bind %s (the test needs root): %v", at, err)
		}
		t.Cleanup(func() { syscall.Unmount(at, syscall.MNT_DETACH) })
		return sentinel
	}
	for _, tc := range []struct {
		name  string
		stale bool // mounts left by an earlier build, or by this failing one
	}{{"interrupted build's mounts", true}, {"failed build's mounts", false}} {
		t.Run(tc.name, func(t *testing.T) {
			c := &Cache{Dir: t.TempDir()}
			var sentinel string
			if tc.stale {
				sentinel = bindHost(t, filepath.Join(c.Dir, "test", ".tmp-0123-4", ".root", "dev", "shm"))
			}
			_, err := c.Build(ctx, Recipe{Name: "test", Build: func(ctx context.Context, dir string) error {
				if !tc.stale {
					sentinel = bindHost(t, filepath.Join(dir, ".root", "dev", "shm"))
					return errors.New("killed")
				}
				return nil
			}})
			if tc.stale != (err == nil) {
				t.Fatalf("build: %v", err)
			}
			if raw, err := os.ReadFile(sentinel); err != nil || string(raw) != "keep" {
				t.Fatalf("the host's file behind the mount: %q, %v", raw, err)
			}
			if mounts, _ := MountsUnder(c.Dir); len(mounts) > 0 {
				t.Errorf("still mounted: %v", mounts)
			}
			if tmp, _ := filepath.Glob(filepath.Join(c.Dir, "test", ".tmp-*")); len(tmp) > 0 {
				t.Errorf("build directories left: %v", tmp)
			}
		})
	}
	t.Run("concurrent builds build once", func(t *testing.T) {
		c := &Cache{Dir: t.TempDir()}
		var n atomic.Int32
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := c.Build(ctx, recipe(nil, &n, nil)); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if n.Load() != 1 {
			t.Fatalf("%d builds", n.Load())
		}
	})
}

func TestCacheNewest(t *testing.T) {
	ctx := context.Background()
	c := &Cache{Dir: t.TempDir()}
	if _, err := c.Newest("test"); !errors.Is(err, ErrNotCached) {
		t.Fatalf("empty cache: %v, want ErrNotCached", err)
	}
	var last *Image
	for v := range 3 {
		img, err := c.Build(ctx, Recipe{Name: "test", Inputs: map[string]any{"v": v}, Build: func(ctx context.Context, dir string) error {
			return os.WriteFile(filepath.Join(dir, "f"), []byte{byte(v)}, 0o644)
		}})
		if err != nil {
			t.Fatal(err)
		}
		last = img
	}
	got, err := c.Newest("test")
	if err != nil || got.Dir != last.Dir {
		t.Fatalf("newest: %v, dir %v, want %s", err, got, last.Dir)
	}
}
