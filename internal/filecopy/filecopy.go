// Package filecopy copies files whole, and trees of files by hard link
// where it can: what several packages need (firmware into a TFTP root,
// NVRAM templates, image files into a lab's assets, test artifacts) and the
// standard library lacks.
package filecopy

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

// LinkFiles places every file at the top of src into dst, hard-linked (or
// copied, across file systems), never symlinked: a server confined to dst
// must be able to serve them.
func LinkFiles(src, dst string) error {
	entries, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	for _, e := range entries {
		from, to := filepath.Join(src, e.Name()), filepath.Join(dst, e.Name())
		os.Remove(to)
		if err := os.Link(from, to); err != nil {
			if err := Copy(from, to); err != nil {
				return err
			}
		}
	}
	return nil
}
