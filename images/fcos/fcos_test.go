package fcos

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/labctl/labctl/images"
	"github.com/labctl/labctl/images/fetch"
	"github.com/labctl/labctl/images/fetch/fetchtest"
	"github.com/labctl/labctl/images/verify"
)

// testdata/stable.json is a hand-written fixture following the real schema.
func TestParseStreamFixture(t *testing.T) {
	raw, err := os.ReadFile("testdata/stable.json")
	if err != nil {
		t.Fatal(err)
	}
	s, err := ParseStream(raw, "stable.json")
	if err != nil {
		t.Fatal(err)
	}
	pxe, err := s.PXE("x86_64")
	if err != nil {
		t.Fatal(err)
	}
	build := "https://builds.coreos.fedoraproject.org/prod/streams/stable/builds/43.20261109.3.1/x86_64/"
	if pxe.Release != "43.20261109.3.1" ||
		pxe.Kernel.Location != build+"fedora-coreos-43.20261109.3.1-live-kernel.x86_64" ||
		pxe.Kernel.Signature != pxe.Kernel.Location+".sig" ||
		pxe.Initramfs.SHA256 != strings.Repeat("5", 64) ||
		pxe.Rootfs.Location != build+"fedora-coreos-43.20261109.3.1-live-rootfs.x86_64.img" {
		t.Fatalf("pxe %+v", pxe)
	}
}

func TestParseStreamRefuses(t *testing.T) {
	raw, _ := os.ReadFile("testdata/stable.json")
	// edit removes or changes one field of the fixture.
	edit := func(f func(doc map[string]any)) []byte {
		var doc map[string]any
		json.Unmarshal(raw, &doc)
		f(doc)
		b, _ := json.Marshal(doc)
		return b
	}
	metal := func(doc map[string]any) map[string]any {
		return doc["architectures"].(map[string]any)["x86_64"].(map[string]any)["artifacts"].(map[string]any)["metal"].(map[string]any)
	}
	pxe := func(doc map[string]any) map[string]any {
		return metal(doc)["formats"].(map[string]any)["pxe"].(map[string]any)
	}
	tests := []struct {
		name string
		doc  []byte
		want string
	}{
		{"not json", []byte("<html>"), "doc.json: invalid character '<'"},
		{"not a stream", []byte(`{"architectures": {}}`), `doc.json: no "stream" field`},
		{"no x86_64", edit(func(d map[string]any) { delete(d["architectures"].(map[string]any), "x86_64") }), "stream stable has no architectures.x86_64"},
		{"no rootfs", edit(func(d map[string]any) { delete(pxe(d), "rootfs") }), "stream stable has no architectures.x86_64.artifacts.metal.formats.pxe.rootfs"},
		{"no signature", edit(func(d map[string]any) { delete(pxe(d)["kernel"].(map[string]any), "signature") }), "formats.pxe.kernel lacks a location, signature or sha256"},
		{"short sha256", edit(func(d map[string]any) { pxe(d)["initramfs"].(map[string]any)["sha256"] = "abc" }), "formats.pxe.initramfs lacks a location, signature or sha256"},
		{"no release", edit(func(d map[string]any) { delete(metal(d), "release") }), "artifacts.metal has no release"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := ParseStream(tt.doc, "doc.json")
			if err == nil {
				_, err = s.PXE("x86_64")
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
		})
	}
}

// The built-in keys are Fedora's, with the fingerprints the docs record.
func TestKeys(t *testing.T) {
	k, err := Keys()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"C6E7F081CF80E13146676E88829B606631645531", // Fedora 43
		"36F612DCF27F7D1A48A835E4DBFCF71C6D9F90A6", // Fedora 44
		"4F50A6114CD5C6976A7F1179655A4B02F577861E", // Fedora 45
	}
	if got := k.Fingerprints(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("fingerprints %v, want %v", got, want)
	}
}

// A mirror of the stream and its build, signed by a test key: Resolve reads
// the stream from the mirror and fetches the builds there too.
func TestResolveFromMirror(t *testing.T) {
	key := fetchtest.NewKey(t, "fedora-test")
	build := "/prod/streams/testing/builds/44.20261120.2.0/x86_64/"
	files := map[string][]byte{}
	artifact := func(name, content string) map[string]any {
		files[build+name] = []byte(content)
		files[build+name+".sig"] = key.Sign(t, []byte(content))
		sum := sha256.Sum256([]byte(content))
		return map[string]any{"location": DefaultBaseURL + build + name, "signature": DefaultBaseURL + build + name + ".sig", "sha256": hex.EncodeToString(sum[:])}
	}
	doc := map[string]any{"stream": "testing", "architectures": map[string]any{"x86_64": map[string]any{"artifacts": map[string]any{"metal": map[string]any{
		"release": "44.20261120.2.0",
		"formats": map[string]any{"pxe": map[string]any{
			"kernel":    artifact("fedora-coreos-44.20261120.2.0-live-kernel.x86_64", "kernel"),
			"initramfs": artifact("fedora-coreos-44.20261120.2.0-live-initramfs.x86_64.img", "initramfs"),
			"rootfs":    artifact("fedora-coreos-44.20261120.2.0-live-rootfs.x86_64.img", "rootfs"),
		}},
	}}}}}
	files["/streams/testing.json"], _ = json.Marshal(doc)
	m := fetchtest.NewMirror(t, files)
	ctx := context.Background()

	if _, err := Resolve(ctx, &fetch.HTTP{}, Options{Stream: "stable", BaseURL: m.URL}); err == nil || !strings.Contains(err.Error(), "streams/stable.json: 404") {
		t.Fatalf("absent stream: %v", err)
	}
	if _, err := Resolve(ctx, &fetch.HTTP{}, Options{Stream: "rawhide"}); err == nil || err.Error() != `fcos: no stream "rawhide" (streams: stable, testing, next)` {
		t.Fatalf("unknown stream: %v", err)
	}
	rel, err := Resolve(ctx, &fetch.HTTP{}, Options{Stream: "testing", BaseURL: m.URL + "/"})
	if err != nil {
		t.Fatal(err)
	}
	if rel.Artifacts[0].URL != m.URL+build+"fedora-coreos-44.20261120.2.0-live-kernel.x86_64" || rel.Inputs["release"] != "44.20261120.2.0" {
		t.Fatalf("release %+v", rel)
	}
	keys, _ := verify.ParseKeyring(key.Public(t), "test")
	f := &fetch.Fetcher{Cache: images.OpenCache(t.TempDir(), nil), Source: &fetch.HTTP{}, Keys: keys}
	img, err := f.Fetch(ctx, rel)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{Kernel: "kernel", Initrd: "initramfs", Rootfs: "rootfs"} {
		if got, _ := os.ReadFile(filepath.Join(img.Dir, name)); string(got) != want {
			t.Errorf("%s: %q", name, got)
		}
	}
	// Fedora's real keys do not trust the test key's signatures.
	fedora, _ := Keys()
	f = &fetch.Fetcher{Cache: images.OpenCache(t.TempDir(), nil), Source: &fetch.HTTP{}, Keys: fedora}
	if _, err := f.Fetch(ctx, rel); err == nil || !strings.Contains(err.Error(), Kernel+": signature: signed by a key labctl does not trust") {
		t.Fatalf("fetch with Fedora's keys: %v", err)
	}
}
