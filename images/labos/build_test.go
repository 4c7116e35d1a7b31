package labos

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/labctl/labctl/images"
	"github.com/labctl/labctl/internal/testenv"
)

// A variant's regular file arrives with its content and mode; a symbolic link
// arrives as the same link (the Kubernetes commands are links to one binary,
// and a copy of each would be six binaries in the root).
func TestStageFilesKeepsLinksAsLinks(t *testing.T) {
	src, overlay := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "kube"), []byte("binary"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("kube", filepath.Join(src, "kubelet")); err != nil {
		t.Fatal(err)
	}
	err := stageFiles(overlay, map[string]string{
		"/usr/local/bin/kube":    filepath.Join(src, "kube"),
		"/usr/local/bin/kubelet": filepath.Join(src, "kubelet"),
	})
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(overlay, "usr/local/bin")
	for _, tc := range []struct {
		name, link string
		mode       os.FileMode
	}{
		{"kube", "", 0o755},
		{"kubelet", "kube", os.ModeSymlink},
	} {
		st, err := os.Lstat(filepath.Join(bin, tc.name))
		if err != nil {
			t.Fatal(err)
		}
		if tc.link != "" {
			if got, err := os.Readlink(filepath.Join(bin, tc.name)); err != nil || got != tc.link || st.Mode()&os.ModeSymlink == 0 {
				t.Errorf("%s: link to %q (%v), mode %v; want a link to %q", tc.name, got, err, st.Mode(), tc.link)
			}
			continue
		}
		if st.Mode() != tc.mode {
			t.Errorf("%s: mode %v, want %v", tc.name, st.Mode(), tc.mode)
		}
	}
	if raw, err := os.ReadFile(filepath.Join(bin, "kubelet")); err != nil || string(raw) != "binary" {
		t.Errorf("kubelet through its link: %q, %v", raw, err)
	}
}

// A build cancelled while mmdebstrap holds its chroot's mounts (proc, sys,
// dev/pts and a bind of the host's /dev/shm) stops mmdebstrap and leaves no
// mount, no process and no build directory: an interrupted `labctl images
// build` or test run must not strand them on the machine.
func TestBuildCancelledLeavesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("runs mmdebstrap for minutes, until it mounts its chroot")
	}
	testenv.Privileged(t, "mmdebstrap mounts proc, sys and /dev/shm in its chroot")
	cache := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := Build(ctx, Options{CacheDir: cache})
		done <- err
	}()
	deadline := time.Now().Add(5 * time.Minute)
	for !hasMounts(t, cache) {
		select {
		case err := <-done:
			t.Fatalf("the build ended before it mounted anything: %v", err)
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("no mount under the build directory after 5 minutes")
		}
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("build: %v, want context.Canceled", err)
		}
	case <-time.After(3 * time.Minute):
		t.Fatal("the build did not return within 3 minutes of its cancel")
	}
	if hasMounts(t, cache) {
		t.Errorf("mounts left under %s", cache)
	}
	if out, err := exec.Command("pgrep", "-f", "mmdebstrap.*"+cache).Output(); err == nil {
		t.Errorf("mmdebstrap still running: %s", out)
	}
	if left, _ := filepath.Glob(filepath.Join(cache, Name, ".tmp-*")); len(left) > 0 {
		t.Errorf("build directories left: %v", left)
	}
}

func hasMounts(t *testing.T, dir string) bool {
	mounts, err := images.MountsUnder(dir)
	if err != nil {
		t.Fatal(err)
	}
	return len(mounts) > 0
}
