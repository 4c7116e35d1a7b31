package bootsvc

import (
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path"
	"strings"
)

// rootFS serves files from an os.Root, which refuses any path (.., absolute,
// or a symlink) that leads outside the assets directory. It hands out
// *os.File so that net/http can stream with sendfile and answer Range.
type rootFS struct{ root *os.Root }

func (f rootFS) Open(name string) (http.File, error) {
	name = strings.TrimPrefix(path.Clean("/"+name), "/")
	if name == "" {
		name = "."
	}
	file, err := f.root.Open(name)
	if err != nil && !errors.Is(err, fs.ErrPermission) {
		// An escape attempt is answered like a missing file, not a 500.
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return file, err
}
