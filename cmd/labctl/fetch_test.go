package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/labctl/labctl/images"
	"github.com/labctl/labctl/images/fetch/fetchtest"
	"github.com/labctl/labctl/images/flatcar"
	"github.com/labctl/labctl/images/registry"
	"github.com/labctl/labctl/lab/control"
)

// A scenario whose published image was never fetched fails before any of
// the lab exists, and says which command fetches it.
func TestUpRefusesUnfetchedImage(t *testing.T) {
	for _, tt := range []struct{ scenario, image string }{
		{"flatcar-etcd3", "flatcar"},
		{"fcos-etcd3", "fcos"},
	} {
		t.Run(tt.scenario, func(t *testing.T) {
			cache, states := t.TempDir(), t.TempDir()
			var out bytes.Buffer
			_, err := control.Up(context.Background(), control.UpOptions{Source: tt.scenario, Provider: "qemu",
				StateRoot: states, CacheDir: cache, Report: (&globals{}).printer(&out)})
			want := "image " + tt.image + ": image " + tt.image + " in " + cache + ": not in the cache: run `labctl images fetch " + tt.image + "` first"
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("error %v\nwant %q", err, want)
			}
			if left, _ := os.ReadDir(states); len(left) > 0 {
				t.Errorf("state left behind: %v", left)
			}
			if left, _ := os.ReadDir(cache); len(left) > 0 {
				t.Errorf("cache written: %v", left)
			}
		})
	}
}

func runLabctl(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := newRootCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(context.Background())
	return out.String(), err
}

func TestImagesFetchFlatcar(t *testing.T) {
	key := fetchtest.NewKey(t, "flatcar-test")
	dir := "/amd64-usr/4230.2.3/"
	m := fetchtest.NewMirror(t, map[string][]byte{
		"/amd64-usr/current/version.txt": []byte("FLATCAR_VERSION=4230.2.3\n"),
		dir + flatcar.Kernel:             []byte("kernel"),
		dir + flatcar.Kernel + ".sig":    key.Sign(t, []byte("kernel")),
		dir + flatcar.Initrd:             []byte("initrd"),
		dir + flatcar.Initrd + ".sig":    key.Sign(t, []byte("initrd")),
	})
	keyFile := filepath.Join(t.TempDir(), "test.asc")
	os.WriteFile(keyFile, key.Public(t), 0o644)
	cache := t.TempDir()

	// Flatcar's own key refuses the test key's signatures; nothing cached.
	_, err := runLabctl(t, "images", "fetch", "flatcar", "--base-url", m.URL, "--cache-dir", cache)
	if err == nil || !strings.Contains(err.Error(), flatcar.Kernel+": signature: signed by a key labctl does not trust") {
		t.Fatalf("with Flatcar's key: %v", err)
	}
	if left, _ := filepath.Glob(filepath.Join(cache, "flatcar", "[0-9a-f]*")); len(left) > 0 {
		t.Fatalf("cached after a failed verification: %v", left)
	}
	out, err := runLabctl(t, "images", "fetch", "flatcar", "--base-url", m.URL, "--cache-dir", cache, "--key-file", keyFile)
	if err != nil || !strings.Contains(out, "fetched and verified") || !strings.Contains(out, flatcar.Initrd) {
		t.Fatalf("fetch: %v\n%s", err, out)
	}
	// What a scenario naming images: [flatcar] then gets.
	img, err := registry.Image(context.Background(), images.OpenCache(cache, nil), "flatcar", images.Options{})
	if err != nil || !strings.HasPrefix(img.Dir, filepath.Join(cache, "flatcar")+"/") {
		t.Fatalf("image for a scenario: %+v, %v", img, err)
	}
	out, err = runLabctl(t, "images", "fetch", "flatcar", "--base-url", m.URL, "--cache-dir", cache, "--key-file", keyFile)
	if err != nil || !strings.Contains(out, "cached (verified when fetched)") {
		t.Fatalf("second fetch: %v\n%s", err, out)
	}
	if _, err := runLabctl(t, "images", "fetch", "debian"); err == nil || !strings.Contains(err.Error(), `no published image "debian"`) {
		t.Fatalf("unknown image: %v", err)
	}
}
