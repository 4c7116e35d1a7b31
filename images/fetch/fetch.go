// Package fetch downloads a published OS image's files into the image cache,
// verified: each file's detached OpenPGP signature and, where the publisher
// gives one, its SHA-256. Nothing unverified is ever cached.
package fetch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/labctl/labctl/images"
	"github.com/labctl/labctl/images/verify"
)

// Artifact is one file of a published image and what proves it genuine.
type Artifact struct {
	Name         string // file name in the image directory (and under /assets/<image>/)
	URL          string
	SignatureURL string // detached OpenPGP signature; required
	SHA256       string // hex; empty when the publisher gives only a signature
}

// Release is one version of a published image.
type Release struct {
	Image     string         // cache name, e.g. "flatcar"
	Inputs    map[string]any // what identifies the version (channel, version, ...)
	Artifacts []Artifact
}

// Fetcher brings releases into a cache.
type Fetcher struct {
	Cache    *images.Cache
	Source   Source
	Keys     *verify.Keyring
	Progress Progress // may be nil
}

// partialDir keeps interrupted downloads between runs, beside the image
// versions it feeds; the cache's lock on the image name guards it.
const partialDir = ".partial"

// Fetch returns the cached release, downloading and verifying it first if
// the cache lacks it. Concurrent fetches of one release download it once.
func (f *Fetcher) Fetch(ctx context.Context, rel Release) (*images.Image, error) {
	if f.Keys == nil {
		return nil, errors.New("fetch: no keys to verify signatures with")
	}
	for _, a := range rel.Artifacts {
		if a.SignatureURL == "" {
			return nil, &verify.Error{File: a.Name, Check: "signature", Err: errors.New("the release names no signature for it")}
		}
	}
	return f.Cache.Build(ctx, images.Recipe{Name: rel.Image, Inputs: rel.Inputs, Build: func(ctx context.Context, dir string) error {
		partial := filepath.Join(filepath.Dir(dir), partialDir)
		if err := os.MkdirAll(partial, 0o755); err != nil {
			return err
		}
		for _, a := range rel.Artifacts {
			if err := f.fetchOne(ctx, a, partial, dir); err != nil {
				return err
			}
		}
		return nil
	}})
}

// fetchOne downloads a into partial, verifies it and moves it into dir.
func (f *Fetcher) fetchOne(ctx context.Context, a Artifact, partial, dir string) error {
	sum := sha256.Sum256([]byte(a.URL))
	data := filepath.Join(partial, hex.EncodeToString(sum[:8])+"-"+a.Name)
	sig := data + ".sig"
	if err := f.Source.Get(ctx, a.URL, data, f.Progress); err != nil {
		return fmt.Errorf("%s: download %s: %w", a.Name, a.URL, err)
	}
	// A signature is small: always fetch it whole, never trust an old one.
	os.Remove(sig)
	if err := f.Source.Get(ctx, a.SignatureURL, sig, nil); err != nil {
		os.Remove(sig)
		if errors.Is(err, fs.ErrNotExist) { // unsigned: never kept, not even to resume
			os.Remove(data)
		}
		return &verify.Error{File: a.Name, Check: "signature", Err: fmt.Errorf("download %s: %w", a.SignatureURL, err)}
	}
	err := f.Keys.Signature(a.Name, data, sig)
	if err == nil && a.SHA256 != "" {
		err = verify.SHA256(a.Name, data, a.SHA256)
	}
	if err != nil {
		// A file that fails verification is never resumed or kept.
		os.Remove(data)
		os.Remove(sig)
		return err
	}
	if err := os.Rename(sig, filepath.Join(dir, a.Name+".sig")); err != nil {
		return err
	}
	return os.Rename(data, filepath.Join(dir, a.Name))
}

// Options are the user's choices common to every published image.
type Options struct {
	CacheDir string   // default images.DefaultCacheDir
	From     string   // a directory of files downloaded elsewhere, instead of HTTP
	KeyFile  string   // keys to trust instead of the publisher's built-in ones
	Progress Progress // may be nil
}

// New makes a Fetcher from opts; builtin gives the publisher's own keys.
func New(opts Options, builtin func() (*verify.Keyring, error)) (*Fetcher, error) {
	f := &Fetcher{Cache: images.OpenCache(opts.CacheDir, nil), Source: &HTTP{}, Progress: opts.Progress}
	if opts.From != "" {
		if st, err := os.Stat(opts.From); err != nil || !st.IsDir() {
			return nil, fmt.Errorf("--from %s: not a directory", opts.From)
		}
		f.Source = Dir(opts.From)
	}
	var err error
	if opts.KeyFile != "" {
		f.Keys, err = verify.LoadKeyring(opts.KeyFile)
	} else {
		f.Keys, err = builtin()
	}
	return f, err
}
