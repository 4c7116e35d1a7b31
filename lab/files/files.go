// Package files holds the file operations several packages of labctl need
// and the standard library lacks: copying one file whole.
package files

import (
	"io"
	"os"
	"path/filepath"
)

// Copy copies the regular file src to dst, replacing dst and creating its
// directory if needed. A missing src is an error matching os.ErrNotExist,
// returned before anything is created.
func Copy(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
