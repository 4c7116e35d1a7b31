package images

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
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
