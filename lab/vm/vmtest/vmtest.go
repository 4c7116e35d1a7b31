// Package vmtest holds what the providers' disk tests read from their
// images: which file an overlay is backed by, and whether two names are
// one file (a hard link, not a copy); and a value kept in a software TPM's
// NV, written into its state and read back (tpm.go).
package vmtest

import (
	"encoding/json"
	"os"
	"os/exec"
	"syscall"
	"testing"
)

// Backing is the backing file image names (-U: QEMU may hold it open).
func Backing(t *testing.T, image string) string {
	t.Helper()
	out, err := exec.Command("qemu-img", "info", "-U", "--output=json", image).Output()
	if err != nil {
		t.Fatalf("qemu-img info %s: %v", image, err)
	}
	var info struct {
		Backing string `json:"backing-filename"`
	}
	if err := json.Unmarshal(out, &info); err != nil {
		t.Fatalf("qemu-img info %s: %v", image, err)
	}
	return info.Backing
}

// Inode is path's inode number.
func Inode(t *testing.T, path string) uint64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Sys().(*syscall.Stat_t).Ino
}
