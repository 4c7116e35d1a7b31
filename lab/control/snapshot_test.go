package control

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/labctl/labctl/images"
	"github.com/labctl/labctl/lab/scenario"
	"github.com/labctl/labctl/lab/snapshot"
	"github.com/labctl/labctl/lab/state"
)

// Restoring is refused, before anything is made, with the reason named:
// an image changed or gone, another lab's snapshot, a flag asking for what
// the snapshot was not saved with, the lab already up, no such snapshot.
func TestRestoreRefusals(t *testing.T) {
	sc, err := scenario.Find("etcd3")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		setup func(t *testing.T, root, imgDir string)
		o     UpOptions
		want  string
	}{
		{"image changed", func(t *testing.T, _, imgDir string) {
			os.WriteFile(filepath.Join(imgDir, "vmlinuz"), []byte("another kernel"), 0o644)
		}, UpOptions{Source: "etcd3"}, "snapshot gold cannot be restored: image labos in IMG changed: file vmlinuz is not the one saved"},
		{"image gone", func(t *testing.T, _, imgDir string) { os.RemoveAll(imgDir) },
			UpOptions{Source: "etcd3"}, "snapshot gold cannot be restored: image labos is gone (it was in IMG)"},
		{"another lab's", nil, UpOptions{Source: "pxe-smoke"}, "snapshot gold is of lab etcd3, not pxe-smoke"},
		{"another namespace", nil, UpOptions{Source: "etcd3", Netns: "labctl-other"}, "--netns labctl-other: snapshot gold was saved with labctl-snaptest"},
		{"another accelerator", nil, UpOptions{Source: "etcd3", Accel: "kvm"}, "--accel kvm: snapshot gold was saved with tcg"},
		{"no such snapshot", nil, UpOptions{Source: "etcd3", FromSnapshot: "silver"}, "no snapshot silver"},
		{"lab up", func(t *testing.T, root, _ string) {
			l := sc.Lab(state.Dir(root, "etcd3"), "labctl-snaptest")
			if err := state.Create(&state.State{Source: "etcd3", Lab: l, Provider: "qemu"}); err != nil {
				t.Fatal(err)
			}
		}, UpOptions{Source: "etcd3"}, "lab etcd3 is already up"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			imgDir := filepath.Join(t.TempDir(), "labos", "k1")
			os.MkdirAll(imgDir, 0o755)
			os.WriteFile(filepath.Join(imgDir, "vmlinuz"), []byte("kernel"), 0o644)
			raw, _ := json.Marshal(images.Manifest{Name: "labos", Key: "k1", Files: []images.File{{Name: "vmlinuz", Size: 6}}})
			os.WriteFile(filepath.Join(imgDir, images.ManifestName), raw, 0o644)
			img, err := snapshot.IdentifyImage("labos", imgDir)
			if err != nil {
				t.Fatal(err)
			}
			sroot := snapshot.Root(root)
			tmp, err := snapshot.Begin(sroot, "gold")
			if err != nil {
				t.Fatal(err)
			}
			l := sc.Lab(state.Dir(root, "etcd3"), "labctl-snaptest")
			m := &snapshot.Manifest{Name: "gold", Created: time.Now(), Images: []snapshot.Image{img},
				State: &state.State{Source: "etcd3", Lab: l, Provider: "qemu", Accel: "tcg"}}
			if err := snapshot.Commit(sroot, tmp, m); err != nil {
				t.Fatal(err)
			}
			if tt.setup != nil {
				tt.setup(t, root, imgDir)
			}
			o := tt.o
			o.StateRoot = root
			if o.FromSnapshot == "" {
				o.FromSnapshot = "gold"
			}
			_, err = Check(o)
			want := strings.ReplaceAll(tt.want, "IMG", imgDir)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("Check = %v, want refused with %q", err, want)
			}
			if _, err := os.Stat(filepath.Join(state.Dir(root, "etcd3"), state.FileName)); err == nil && tt.name != "lab up" {
				t.Error("a refused restore made the lab's state")
			}
		})
	}
}
