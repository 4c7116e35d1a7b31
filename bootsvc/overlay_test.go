package bootsvc

import (
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"
)

func TestOverlayFS(t *testing.T) {
	base := fstest.MapFS{
		"groups/a.json":     {Data: []byte("A")},
		"groups/c.json":     {Data: []byte("C")},
		"generic/x/old.txt": {Data: []byte("old")},
	}
	names := func(fsys fs.FS, dir string) string {
		entries, err := fs.ReadDir(fsys, dir)
		if err != nil {
			return "error: " + err.Error()
		}
		var out []string
		for _, e := range entries {
			n := e.Name()
			if e.IsDir() {
				n += "/"
			}
			out = append(out, n)
		}
		return strings.Join(out, " ")
	}
	tests := []struct {
		name       string
		o          overlayFS
		dir, want  string
		file, data string // "" data: the file does not exist
	}{
		{"new file between others", overlayFS{base, "groups/b.json", []byte("B")}, "groups", "a.json b.json c.json", "groups/b.json", "B"},
		{"replaced file", overlayFS{base, "groups/a.json", []byte("A2")}, "groups", "a.json c.json", "groups/a.json", "A2"},
		{"deleted file", overlayFS{base, "groups/a.json", nil}, "groups", "c.json", "groups/a.json", ""},
		{"new directory at the top", overlayFS{base, "profiles/p.json", []byte("P")}, ".", "generic/ groups/ profiles/", "profiles/p.json", "P"},
		{"new nested directories", overlayFS{base, "generic/y/z/t.txt", []byte("T")}, "generic/y", "z/", "generic/y/z/t.txt", "T"},
		{"existing directory on the way", overlayFS{base, "generic/x/new.txt", []byte("N")}, "generic", "x/", "generic/x/old.txt", "old"},
		{"delete in a missing directory", overlayFS{base, "cloud/c", nil}, "cloud", "error: open cloud: file does not exist", "cloud/c", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := names(tt.o, tt.dir); got != tt.want {
				t.Errorf("ReadDir(%s) = %q, want %q", tt.dir, got, tt.want)
			}
			data, err := fs.ReadFile(tt.o, tt.file)
			if tt.data == "" && err == nil || tt.data != "" && string(data) != tt.data {
				t.Errorf("ReadFile(%s) = %q, %v; want %q", tt.file, data, err, tt.data)
			}
			// WalkDir (the template loader) finds the file where ReadDir puts it.
			found := false
			fs.WalkDir(tt.o, ".", func(p string, d fs.DirEntry, err error) error {
				found = found || p == tt.file && err == nil && !d.IsDir()
				return err
			})
			if found != (tt.data != "") {
				t.Errorf("WalkDir found %s: %v, want %v", tt.file, found, tt.data != "")
			}
		})
	}
}
