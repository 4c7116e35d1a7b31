package oci

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/labctl/labctl/internal/testenv"
)

func TestWriteIsDeterministicAndComplete(t *testing.T) {
	img := Image{Ref: "labctl.local/x:1", Entrypoint: []string{"/bin/x"}, User: "65534",
		Files: []File{{Path: "/bin/x", Mode: 0o755, Data: []byte("#!/bin/sh\necho x\n")}}}
	var a, b bytes.Buffer
	if err := Write(&a, img); err != nil {
		t.Fatal(err)
	}
	if err := Write(&b, img); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("two writes of one image differ")
	}
	names := map[string]bool{}
	tr := tar.NewReader(&a)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names[h.Name] = true
	}
	for _, want := range []string{"oci-layout", "index.json"} {
		if !names[want] {
			t.Errorf("archive lacks %s (has %v)", want, names)
		}
	}
	if blobs := len(names) - 4; blobs != 3 { // less the two files and two dirs
		t.Errorf("archive has %d blobs, want 3 (manifest, config, layer)", blobs)
	}
}

func TestWriteRefusesBadInput(t *testing.T) {
	for _, tc := range []struct {
		name string
		img  Image
		want string
	}{
		{"no tag", Image{Ref: "labctl.local/x"}, `image reference "labctl.local/x" has no tag`},
		{"relative path", Image{Ref: "x:1", Files: []File{{Path: "bin/x"}}}, `file path "bin/x" is not absolute and clean`},
		{"unclean path", Image{Ref: "x:1", Files: []File{{Path: "/bin/../x"}}}, `file path "/bin/../x" is not absolute and clean`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Write(io.Discard, tc.img)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

// TestUmociUnpacks has an independent OCI implementation (umoci, from
// Debian) read the archive and unpack the file back.
func TestUmociUnpacks(t *testing.T) {
	testenv.Tool(t, "umoci", "umoci")
	dir := t.TempDir()
	var buf bytes.Buffer
	data := []byte("hello from the layer\n")
	if err := Write(&buf, Image{Ref: "labctl.local/x:1", Entrypoint: []string{"/bin/x"}, Files: []File{{Path: "/bin/x", Mode: 0o755, Data: data}}}); err != nil {
		t.Fatal(err)
	}
	layout := filepath.Join(dir, "layout")
	tr := tar.NewReader(&buf)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		p := filepath.Join(layout, h.Name)
		if h.Typeflag == tar.TypeDir {
			os.MkdirAll(p, 0o755)
			continue
		}
		raw, _ := io.ReadAll(tr)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, raw, 0o644)
	}
	bundle := filepath.Join(dir, "bundle")
	if out, err := exec.Command("umoci", "unpack", "--image", layout+":1", bundle).CombinedOutput(); err != nil {
		t.Fatalf("umoci unpack: %v\n%s", err, out)
	}
	got, err := os.ReadFile(filepath.Join(bundle, "rootfs", "bin", "x"))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("unpacked /bin/x = %q, %v; want %q", got, err, data)
	}
	cfg, _ := os.ReadFile(filepath.Join(bundle, "config.json"))
	if !strings.Contains(string(cfg), `"/bin/x"`) {
		t.Errorf("runtime config lacks the entrypoint: %s", cfg)
	}
}
