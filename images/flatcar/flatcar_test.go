package flatcar

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/labctl/labctl/images"
	"github.com/labctl/labctl/images/fetch"
	"github.com/labctl/labctl/images/fetch/fetchtest"
	"github.com/labctl/labctl/images/verify"
)

// versionTxt has the layout of a release's version.txt (a fixture).
const versionTxt = `FLATCAR_BUILD=4230
FLATCAR_BRANCH=2
FLATCAR_PATCH=3
FLATCAR_VERSION=4230.2.3
FLATCAR_VERSION_ID=4230.2.3
FLATCAR_BUILD_ID=""
FLATCAR_SDK_VERSION=4230.1.0
`

func TestParseVersion(t *testing.T) {
	tests := []struct {
		in, want, err string
	}{
		{versionTxt, "4230.2.3", ""},
		{"FLATCAR_VERSION='3815.2.5'\n", "3815.2.5", ""},
		{"FLATCAR_BUILD=4230\n", "", "no FLATCAR_VERSION line"},
		{"FLATCAR_VERSION=../../etc\n", "", `FLATCAR_VERSION "../../etc" is not of the form 4230.2.3`},
	}
	for _, tt := range tests {
		got, err := ParseVersion([]byte(tt.in))
		if got != tt.want || (err == nil) != (tt.err == "") || (err != nil && err.Error() != tt.err) {
			t.Errorf("ParseVersion(%q) = %q, %v; want %q, %q", tt.in, got, err, tt.want, tt.err)
		}
	}
}

// The built-in key is Flatcar's, with the fingerprint the docs record.
func TestKeys(t *testing.T) {
	k, err := Keys()
	if err != nil {
		t.Fatal(err)
	}
	if got := k.Fingerprints(); len(got) != 1 || got[0] != "F88CFEDEFF29A5B4D9523864E25D9AED0593B34A" {
		t.Fatalf("fingerprints %v", got)
	}
}

func TestResolveFromMirror(t *testing.T) {
	key := fetchtest.NewKey(t, "flatcar-test")
	dir := "/amd64-usr/4230.2.3/"
	m := fetchtest.NewMirror(t, map[string][]byte{
		"/amd64-usr/current/version.txt": []byte(versionTxt),
		dir + Kernel:                     []byte("kernel"),
		dir + Kernel + ".sig":            key.Sign(t, []byte("kernel")),
		dir + Initrd:                     []byte("initrd"),
		dir + Initrd + ".sig":            key.Sign(t, []byte("initrd")),
	})
	ctx := context.Background()
	if _, err := Resolve(ctx, &fetch.HTTP{}, Options{Channel: "lts"}); err == nil || err.Error() != `flatcar: no channel "lts" (channels: stable, beta, alpha)` {
		t.Fatalf("unknown channel: %v", err)
	}
	if _, err := Resolve(ctx, &fetch.HTTP{}, Options{Version: "4230.2"}); err == nil || !strings.Contains(err.Error(), `version "4230.2" is not of the form`) {
		t.Fatalf("bad version: %v", err)
	}
	rel, err := Resolve(ctx, &fetch.HTTP{}, Options{Channel: "beta", BaseURL: m.URL})
	if err != nil {
		t.Fatal(err)
	}
	if rel.Inputs["version"] != "4230.2.3" || rel.Artifacts[1].SignatureURL != m.URL+dir+Initrd+".sig" {
		t.Fatalf("release %+v", rel)
	}
	keys, _ := verify.ParseKeyring(key.Public(t), "test")
	img, err := (&fetch.Fetcher{Cache: images.OpenCache(t.TempDir(), nil), Source: &fetch.HTTP{}, Keys: keys}).Fetch(ctx, rel)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(img.Dir, Kernel)); string(got) != "kernel" {
		t.Fatalf("kernel %q", got)
	}
	// Flatcar's real key does not trust the test key's signatures.
	flatcarKey, _ := Keys()
	_, err = (&fetch.Fetcher{Cache: images.OpenCache(t.TempDir(), nil), Source: &fetch.HTTP{}, Keys: flatcarKey}).Fetch(ctx, rel)
	if err == nil || !strings.Contains(err.Error(), Kernel+": signature: signed by a key labctl does not trust (keys: Flatcar's image-signing key (built in))") {
		t.Fatalf("fetch with Flatcar's key: %v", err)
	}
}
