package fetch_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/labctl/labctl/images"
	"github.com/labctl/labctl/images/fetch"
	"github.com/labctl/labctl/images/fetch/fetchtest"
	"github.com/labctl/labctl/images/verify"
)

var (
	kernel = bytes.Repeat([]byte("kernel "), 40000) // 280 KB: long enough to cut
	initrd = []byte("initramfs contents")
)

func sum(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// setup serves a signed two-file release and returns a fetcher trusting key.
func setup(t *testing.T, signer, trusted *fetchtest.Key) (*fetchtest.Mirror, *fetch.Fetcher, fetch.Release) {
	t.Helper()
	m := fetchtest.NewMirror(t, map[string][]byte{
		"/r/1/vmlinuz":       kernel,
		"/r/1/vmlinuz.sig":   signer.Sign(t, kernel),
		"/r/1/initrd.gz":     initrd,
		"/r/1/initrd.gz.sig": signer.Sign(t, initrd),
	})
	keys, err := verify.ParseKeyring(trusted.Public(t), "test key")
	if err != nil {
		t.Fatal(err)
	}
	f := &fetch.Fetcher{Cache: images.OpenCache(t.TempDir(), nil), Source: &fetch.HTTP{}, Keys: keys}
	rel := fetch.Release{Image: "os", Inputs: map[string]any{"version": "1"}}
	for _, a := range []struct {
		name string
		body []byte
	}{{"vmlinuz", kernel}, {"initrd.gz", initrd}} {
		u := m.URL + "/r/1/" + a.name
		rel.Artifacts = append(rel.Artifacts, fetch.Artifact{Name: a.name, URL: u, SignatureURL: u + ".sig", SHA256: sum(a.body)})
	}
	return m, f, rel
}

// cached lists what the cache holds for the image, hidden entries aside
// from the partial downloads' directory, which must be empty.
func cached(t *testing.T, f *fetch.Fetcher, image string) []string {
	t.Helper()
	var out []string
	entries, _ := os.ReadDir(filepath.Join(f.Cache.Dir, image))
	for _, e := range entries {
		if e.Name() == ".partial" {
			if left, _ := os.ReadDir(filepath.Join(f.Cache.Dir, image, e.Name())); len(left) > 0 {
				out = append(out, ".partial/"+left[0].Name())
			}
			continue
		}
		if e.Name() != ".lock" {
			out = append(out, e.Name())
		}
	}
	return out
}

func TestFetchVerifies(t *testing.T) {
	publisher := fetchtest.NewKey(t, "publisher")
	stranger := fetchtest.NewKey(t, "stranger")
	ctx := context.Background()
	tests := []struct {
		name    string
		signer  *fetchtest.Key
		change  func(m *fetchtest.Mirror, rel *fetch.Release)
		check   string // the failed check, "" for success
		errText string
	}{
		{name: "signed and summed", signer: publisher},
		{name: "tampered file", signer: publisher, check: "signature",
			change: func(m *fetchtest.Mirror, rel *fetch.Release) {
				m.Set("/r/1/initrd.gz", []byte("initramfs c0ntents"))
				rel.Artifacts[1].SHA256 = "" // the signature alone must catch it
			},
			errText: "initrd.gz: signature: openpgp: invalid signature"},
		{name: "checksum mismatch", signer: publisher, check: "checksum",
			change: func(m *fetchtest.Mirror, rel *fetch.Release) {
				rel.Artifacts[1].SHA256 = sum([]byte("something else"))
			},
			errText: "initrd.gz: checksum: sha256 is " + sum(initrd)},
		{name: "wrong key", signer: stranger, check: "signature",
			errText: "vmlinuz: signature: signed by a key labctl does not trust (keys: test key)"},
		{name: "unsigned file", signer: publisher, check: "signature",
			change:  func(m *fetchtest.Mirror, rel *fetch.Release) { m.Set("/r/1/initrd.gz.sig", nil) },
			errText: "initrd.gz: signature: download " + "MIRROR/r/1/initrd.gz.sig: GET MIRROR/r/1/initrd.gz.sig: 404 Not Found"},
		{name: "no signature named", signer: publisher, check: "signature",
			change:  func(m *fetchtest.Mirror, rel *fetch.Release) { rel.Artifacts[0].SignatureURL = "" },
			errText: "vmlinuz: signature: the release names no signature for it"},
		{name: "empty signature", signer: publisher, check: "signature",
			change:  func(m *fetchtest.Mirror, rel *fetch.Release) { m.Set("/r/1/vmlinuz.sig", []byte{}) },
			errText: "vmlinuz: signature: signature file is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, f, rel := setup(t, tt.signer, publisher)
			if tt.change != nil {
				tt.change(m, &rel)
			}
			img, err := f.Fetch(ctx, rel)
			if tt.check == "" {
				if err != nil {
					t.Fatal(err)
				}
				for name, want := range map[string][]byte{"vmlinuz": kernel, "initrd.gz": initrd} {
					got, err := os.ReadFile(filepath.Join(img.Dir, name))
					if err != nil || !bytes.Equal(got, want) {
						t.Errorf("%s: %v, %d bytes", name, err, len(got))
					}
					if _, err := os.Stat(filepath.Join(img.Dir, name+".sig")); err != nil {
						t.Errorf("signature not kept: %v", err)
					}
				}
				if again, err := f.Fetch(ctx, rel); err != nil || !again.CacheHit || again.Dir != img.Dir {
					t.Errorf("second fetch: %v, hit %v", err, again != nil && again.CacheHit)
				}
				return
			}
			var verr *verify.Error
			if !errors.As(err, &verr) || verr.Check != tt.check {
				t.Fatalf("error %v, want a %s failure", err, tt.check)
			}
			if want := strings.ReplaceAll(tt.errText, "MIRROR", m.URL); !strings.Contains(err.Error(), want) {
				t.Errorf("error %q\nwant it to contain %q", err, want)
			}
			if left := cached(t, f, "os"); len(left) > 0 {
				t.Errorf("cached after a failed verification: %v", left)
			}
		})
	}
}

func TestFetchResumesTruncatedDownload(t *testing.T) {
	publisher := fetchtest.NewKey(t, "publisher")
	m, f, rel := setup(t, publisher, publisher)
	const cut = 100000
	m.CutNext("/r/1/vmlinuz", cut)
	img, err := f.Fetch(context.Background(), rel)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(filepath.Join(img.Dir, "vmlinuz"))
	if !bytes.Equal(got, kernel) {
		t.Fatalf("kernel: %d bytes, want %d", len(got), len(kernel))
	}
	var ranges []string
	for _, r := range m.Requests() {
		if r.Path == "/r/1/vmlinuz" {
			ranges = append(ranges, r.Range)
		}
	}
	if want := []string{"", "bytes=100000-"}; strings.Join(ranges, "|") != strings.Join(want, "|") {
		t.Fatalf("kernel requests with Range %q, want %q", ranges, want)
	}
}

func TestFetchResumesAcrossRuns(t *testing.T) {
	publisher := fetchtest.NewKey(t, "publisher")
	m, f, rel := setup(t, publisher, publisher)
	// The first run dies (no retries left) after part of the kernel.
	f.Source = &fetch.HTTP{Attempts: 1}
	m.CutNext("/r/1/vmlinuz", 5000)
	if _, err := f.Fetch(context.Background(), rel); err == nil || !strings.Contains(err.Error(), "vmlinuz: download") {
		t.Fatalf("first run: %v, want a download error", err)
	}
	if _, err := f.Fetch(context.Background(), rel); err != nil {
		t.Fatal(err)
	}
	reqs := m.Requests()
	var last fetchtest.Request
	for _, r := range reqs {
		if r.Path == "/r/1/vmlinuz" {
			last = r
		}
	}
	if last.Range != "bytes=5000-" {
		t.Fatalf("second run asked for %q, want bytes=5000-", last.Range)
	}
}

func TestFetchConcurrent(t *testing.T) {
	publisher := fetchtest.NewKey(t, "publisher")
	m, f, rel := setup(t, publisher, publisher)
	var wg sync.WaitGroup
	dirs := make([]string, 4)
	for i := range dirs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Each fetch its own Fetcher on the same cache, as two labctl
			// processes would be.
			other := *f
			img, err := other.Fetch(context.Background(), rel)
			if err != nil {
				t.Error(err)
				return
			}
			dirs[i] = img.Dir
		}()
	}
	wg.Wait()
	n := 0
	for _, r := range m.Requests() {
		if r.Path == "/r/1/vmlinuz" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("kernel downloaded %d times, want once", n)
	}
	for _, d := range dirs[1:] {
		if d != dirs[0] {
			t.Errorf("dirs differ: %v", dirs)
		}
	}
	got, _ := os.ReadFile(filepath.Join(dirs[0], "vmlinuz"))
	if !bytes.Equal(got, kernel) {
		t.Errorf("kernel corrupt: %d bytes", len(got))
	}
}

func TestFetchFromDir(t *testing.T) {
	publisher := fetchtest.NewKey(t, "publisher")
	_, f, rel := setup(t, publisher, publisher)
	dir := t.TempDir()
	write := func(name string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("vmlinuz", kernel)
	write("vmlinuz.sig", publisher.Sign(t, kernel))
	write("initrd.gz", []byte("initramfs altered"))
	write("initrd.gz.sig", publisher.Sign(t, initrd))
	f.Source = fetch.Dir(dir)
	var verr *verify.Error
	if _, err := f.Fetch(context.Background(), rel); !errors.As(err, &verr) || verr.File != "initrd.gz" || verr.Check != "signature" {
		t.Fatalf("tampered file from a directory: %v, want an initrd.gz signature failure", err)
	}
	write("initrd.gz", initrd)
	img, err := f.Fetch(context.Background(), rel)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(img.Dir, "initrd.gz")); !bytes.Equal(got, initrd) {
		t.Fatalf("initrd: %q", got)
	}
}
