package filecopy

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestCopy(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	if err := os.WriteFile(src, []byte("firmware bytes"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, src, dst string
		before         string // dst's content before the copy, if any
		want           string
		wantNotExist   bool
	}{
		{name: "new file", src: src, dst: filepath.Join(dir, "new"), want: "firmware bytes"},
		{name: "replaces a longer file", src: src, dst: filepath.Join(dir, "old"), before: "a much longer old content", want: "firmware bytes"},
		{name: "creates the directory", src: src, dst: filepath.Join(dir, "a", "b", "c"), want: "firmware bytes"},
		{name: "missing source creates nothing", src: filepath.Join(dir, "missing"), dst: filepath.Join(dir, "x", "y"), wantNotExist: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.before != "" {
				if err := os.WriteFile(tt.dst, []byte(tt.before), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			err := Copy(tt.src, tt.dst)
			if tt.wantNotExist {
				if !errors.Is(err, os.ErrNotExist) {
					t.Fatalf("Copy = %v, want an error matching os.ErrNotExist", err)
				}
				if _, err := os.Stat(filepath.Dir(tt.dst)); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("Copy of a missing file created %s", filepath.Dir(tt.dst))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(tt.dst)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("dst holds %q, want %q", got, tt.want)
			}
		})
	}
}
