package bootsvc

import (
	"errors"
	"io/fs"
	"path"
	"slices"
	"strings"
	"time"
)

// overlayFS is the data directory as one write would leave it: base with the
// file at name holding data, or gone when data is nil. Loading it judges a
// write by the loader's own rules before the write is made. The loader reads
// through ReadFile, ReadDir and Stat, which see the change; Open is base's.
type overlayFS struct {
	base fs.FS
	name string // slash-separated, relative to the data directory
	data []byte
}

func (o overlayFS) Open(name string) (fs.File, error) { return o.base.Open(name) }

func (o overlayFS) ReadFile(name string) ([]byte, error) {
	if name == o.name {
		if o.data == nil {
			return nil, &fs.PathError{Op: "read", Path: name, Err: fs.ErrNotExist}
		}
		return slices.Clone(o.data), nil
	}
	return fs.ReadFile(o.base, name)
}

func (o overlayFS) Stat(name string) (fs.FileInfo, error) {
	switch {
	case name == o.name && o.data == nil:
		return nil, &fs.PathError{Op: "stat", Path: name, Err: fs.ErrNotExist}
	case name == o.name:
		return overlayInfo{name: path.Base(name), size: int64(len(o.data))}, nil
	}
	fi, err := fs.Stat(o.base, name)
	if err != nil && o.data != nil && o.isAncestor(name) {
		return overlayInfo{name: path.Base(name), dir: true}, nil // made by the write
	}
	return fi, err
}

func (o overlayFS) ReadDir(dir string) ([]fs.DirEntry, error) {
	entries, err := fs.ReadDir(o.base, dir)
	if !o.isAncestor(dir) {
		return entries, err
	}
	if err != nil {
		if o.data == nil || !errors.Is(err, fs.ErrNotExist) {
			return entries, err
		}
		entries = nil // the write makes this directory
	}
	rest := strings.TrimPrefix(o.name, dir+"/")
	if dir == "." {
		rest = o.name
	}
	child, deeper := rest, false
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		child, deeper = rest[:i], true
	}
	i, found := slices.BinarySearchFunc(entries, child, func(e fs.DirEntry, n string) int { return strings.Compare(e.Name(), n) })
	switch {
	case deeper && (found || o.data == nil):
		// the directory on the way exists already, or a delete leaves it
	case deeper:
		entries = slices.Insert(entries, i, fs.FileInfoToDirEntry(overlayInfo{name: child, dir: true}))
	case o.data == nil && found:
		entries = slices.Delete(entries, i, i+1)
	case o.data != nil && found:
		entries[i] = fs.FileInfoToDirEntry(overlayInfo{name: child, size: int64(len(o.data))})
	case o.data != nil:
		entries = slices.Insert(entries, i, fs.FileInfoToDirEntry(overlayInfo{name: child, size: int64(len(o.data))}))
	}
	return entries, nil
}

// isAncestor reports whether dir contains the changed file, at any depth.
func (o overlayFS) isAncestor(dir string) bool {
	return dir == "." || strings.HasPrefix(o.name, dir+"/")
}

type overlayInfo struct {
	name string
	size int64
	dir  bool
}

func (i overlayInfo) Name() string { return i.name }
func (i overlayInfo) Size() int64  { return i.size }
func (i overlayInfo) Mode() fs.FileMode {
	if i.dir {
		return fs.ModeDir | 0o755
	}
	return 0o644
}
func (i overlayInfo) ModTime() time.Time { return time.Time{} }
func (i overlayInfo) IsDir() bool        { return i.dir }
func (i overlayInfo) Sys() any           { return nil }
