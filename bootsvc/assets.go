package bootsvc

import (
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
	return f.root.Open(name)
}
