package vm

import (
	"os"
	"path/filepath"

	"github.com/labctl/labctl/internal/filecopy"
)

// CopyTPMState copies a software TPM's state files (swtpm's directory:
// tpm2-00.permall, the TPM's seeds and NV) from src into dst, for a
// snapshot and back. swtpm's lock file stays with the swtpm that holds it.
// A missing src is an error matching os.ErrNotExist.
func CopyTPMState(src, dst string) error {
	entries, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dst, 0o700); err != nil {
		return err
	}
	for _, e := range entries {
		if !e.Type().IsRegular() || e.Name() == ".lock" {
			continue
		}
		to := filepath.Join(dst, e.Name())
		if err := filecopy.Copy(filepath.Join(src, e.Name()), to); err != nil {
			return err
		}
		if err := os.Chmod(to, 0o600); err != nil {
			return err
		}
	}
	return nil
}
