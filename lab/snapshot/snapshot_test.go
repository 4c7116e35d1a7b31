package snapshot

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/labctl/labctl/images"
	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/lab/state"
)

// writeImage makes an image directory as the cache publishes one.
func writeImage(t *testing.T, dir, key string, files map[string]string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	m := images.Manifest{Name: "labos", Key: key}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		m.Files = append(m.Files, images.File{Name: name, Size: int64(len(content))})
	}
	raw, _ := json.Marshal(m)
	if err := os.WriteFile(filepath.Join(dir, images.ManifestName), raw, 0o644); err != nil {
		t.Fatal(err)
	}
}

// A snapshot is refused when its image was rebuilt, a file of it changed
// or went, or the image is gone: each refusal names the image and why.
func TestImageCheck(t *testing.T) {
	tests := []struct {
		name   string
		change func(t *testing.T, dir string)
		want   string // in the refusal; "" means accepted
	}{
		{"unchanged", func(*testing.T, string) {}, ""},
		{"rebuilt", func(t *testing.T, dir string) {
			writeImage(t, dir, "key2", map[string]string{"vmlinuz": "kernel", "initrd.img": "initrd"})
		}, "image labos in " + "DIR" + " changed: key key2, saved with key1"},
		{"a file rewritten", func(t *testing.T, dir string) {
			p := filepath.Join(dir, "initrd.img")
			os.WriteFile(p, []byte("INITRD"), 0o644)
			os.Chtimes(p, time.Now(), time.Now().Add(time.Hour))
		}, "file initrd.img is not the one saved"},
		{"a file gone", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, "initrd.img"))
		}, "initrd.img: no such file"},
		{"image gone", func(t *testing.T, dir string) { os.RemoveAll(dir) }, "image labos is gone (it was in DIR)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "labos", "key1")
			writeImage(t, dir, "key1", map[string]string{"vmlinuz": "kernel", "initrd.img": "initrd"})
			img, err := IdentifyImage("labos", dir)
			if err != nil {
				t.Fatal(err)
			}
			tt.change(t, dir)
			err = img.Check()
			want := strings.ReplaceAll(tt.want, "DIR", dir)
			switch {
			case want == "" && err != nil:
				t.Fatalf("unchanged image refused: %v", err)
			case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
				t.Fatalf("Check = %v, want an error containing %q", err, want)
			}
		})
	}
}

func TestCheckName(t *testing.T) {
	for name, ok := range map[string]bool{"gold": true, "etcd3-2026.12.06": true, "": false, "../x": false, "a/b": false, "A": false, ".hidden": false} {
		if err := CheckName(name); (err == nil) != ok {
			t.Errorf("CheckName(%q) = %v, want ok %v", name, err, ok)
		}
	}
}

// Begin, Commit, List, Load and Remove: a snapshot exists only once
// committed, a taken name is refused, an unfinished one is never listed.
func TestLifecycle(t *testing.T) {
	root := filepath.Join(t.TempDir(), ".snapshots")
	tmp, err := Begin(root, "gold")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Load(root, "gold"); !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "no snapshot gold") {
		t.Fatalf("Load of an unfinished snapshot = %v, want no snapshot gold", err)
	}
	if l, _ := List(root); len(l) != 0 {
		t.Fatalf("List shows an unfinished snapshot: %+v", l)
	}
	os.WriteFile(filepath.Join(tmp, "state"), make([]byte, 8192), 0o600)
	m := &Manifest{Name: "gold", Created: time.Now(), Images: []Image{{Name: "labos"}},
		State: &state.State{Source: "etcd3", Provider: "libvirt", Lab: &lab.Lab{Name: "etcd3", Machines: []lab.Machine{{Name: "node1"}}}}}
	if err := Commit(root, tmp, m); err != nil {
		t.Fatal(err)
	}
	l, err := List(root)
	if err != nil || len(l) != 1 || l[0].Name != "gold" || l[0].Lab != "etcd3" || l[0].Provider != "libvirt" || l[0].Machines != 1 || l[0].Bytes < 8192 || l[0].Images[0] != "labos" {
		t.Fatalf("List = %+v, %v", l, err)
	}
	if _, err := Begin(root, "gold"); err == nil || !strings.Contains(err.Error(), "snapshot gold exists") {
		t.Fatalf("Begin of a taken name = %v", err)
	}
	if err := Remove(root, "gold"); err != nil {
		t.Fatal(err)
	}
	if err := Remove(root, "gold"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("second Remove = %v, want not found", err)
	}
	if entries, _ := os.ReadDir(root); len(entries) != 0 {
		t.Errorf("Remove left %v", entries)
	}
}

// CopyLabFiles copies what a lab needs again (keys with their modes, the
// boot service's data, leases) and none of what is the machines', the
// images' or the state's.
func TestCopyLabFiles(t *testing.T) {
	src, dst := t.TempDir(), filepath.Join(t.TempDir(), "lab")
	for name, mode := range map[string]os.FileMode{
		"ssh/id_ed25519": 0o600, "data/groups/node1.json": 0o644, "dnsmasq.leases": 0o644,
		"machines/node1/disk.qcow2": 0o644, "assets/labos/vmlinuz": 0o644, "state.json": 0o644, "state.json.123": 0o644, "state.lock": 0o600,
	} {
		p := filepath.Join(src, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(name), mode); err != nil {
			t.Fatal(err)
		}
	}
	if err := CopyLabFiles(src, dst); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]os.FileMode{"ssh/id_ed25519": 0o600, "data/groups/node1.json": 0o644, "dnsmasq.leases": 0o644} {
		st, err := os.Stat(filepath.Join(dst, name))
		if err != nil || st.Mode().Perm() != want {
			t.Errorf("%s: %v, mode %v; want mode %v", name, err, st, want)
		}
	}
	for _, name := range []string{"machines", "assets", "state.json", "state.json.123", "state.lock"} {
		if _, err := os.Stat(filepath.Join(dst, name)); err == nil {
			t.Errorf("%s was copied", name)
		}
	}
}

// Sweep removes a crashed save's directory, never one a live process
// is writing.
func TestSweep(t *testing.T) {
	root := t.TempDir()
	live, err := Begin(root, "gold")
	if err != nil {
		t.Fatal(err)
	}
	// A pid that is surely gone: beyond the kernel's pid_max default.
	dead := filepath.Join(root, ".gold.tmp-99999999-1")
	os.Mkdir(dead, 0o700)
	Sweep(root)
	if _, err := os.Stat(live); err != nil {
		t.Errorf("Sweep removed a live save's directory: %v", err)
	}
	if _, err := os.Stat(dead); err == nil {
		t.Error("Sweep left a crashed save's directory")
	}
}
