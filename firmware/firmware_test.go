package firmware

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/labctl/labctl/internal/testenv"
)

// userDir makes a directory like Debian's: one real file, two links.
func userDir(t *testing.T) string {
	t.Helper()
	dir, elsewhere := t.TempDir(), t.TempDir()
	for _, name := range Files {
		real := filepath.Join(elsewhere, name)
		if err := os.WriteFile(real, []byte("firmware "+name), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(real, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestCopyTo(t *testing.T) {
	tests := []struct {
		name string
		dir  func(t *testing.T) string
	}{
		{"user directory with links", userDir},
		{"debian", func(t *testing.T) string {
			testenv.File(t, DebianDir, "ipxe")
			return ""
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := tt.dir(t)
			dst := t.TempDir()
			if err := CopyTo(src, dst); err != nil {
				t.Fatal(err)
			}
			for _, name := range Files {
				st, err := os.Lstat(filepath.Join(dst, name))
				if err != nil {
					t.Fatal(err)
				}
				if !st.Mode().IsRegular() || st.Size() == 0 {
					t.Errorf("%s: mode %v size %d, want a non-empty regular file", name, st.Mode(), st.Size())
				}
				if src != "" {
					got, _ := os.ReadFile(filepath.Join(dst, name))
					if !bytes.Equal(got, []byte("firmware "+name)) {
						t.Errorf("%s = %q", name, got)
					}
				}
			}
		})
	}
}

func TestFindMissing(t *testing.T) {
	_, err := Find(t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "undionly.kpxe") {
		t.Fatalf("err = %v, want one naming undionly.kpxe", err)
	}
}
