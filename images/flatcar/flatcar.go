// Package flatcar knows Flatcar Container Linux's release server: where a
// channel's PXE kernel and initramfs live, how a version is named, and the
// key that signs them.
package flatcar

import (
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/labctl/labctl/images/fetch"
	"github.com/labctl/labctl/images/verify"
)

// Name is the image's cache name and its folder under /assets/.
const Name = "flatcar"

// The PXE files, as Flatcar names them on its release server and as the
// boot service serves them under /assets/flatcar/.
const (
	Kernel = "flatcar_production_pxe.vmlinuz"
	Initrd = "flatcar_production_pxe_image.cpio.gz"
)

// Channels are Flatcar's release channels.
var Channels = []string{"stable", "beta", "alpha"}

// Arch is the only board labctl's labs boot.
const Arch = "amd64-usr"

// signingKey is Flatcar's image-signing key, "Flatcar Buildbot (Official
// Builds) <buildbot@flatcar-linux.org>", primary key fingerprint
// F88C FEDE FF29 A5B4 D952 3864 E25D 9AED 0593 B34A, as published at
// https://www.flatcar.org/security/image-signing-key/ (taken from the
// flatcar/flatcar-website repository, static/security/image-signing-key/).
//
//go:embed Flatcar_Image_Signing_Key.asc
var signingKey []byte

// Keys returns Flatcar's image-signing key.
func Keys() (*verify.Keyring, error) {
	return verify.ParseKeyring(signingKey, "Flatcar's image-signing key (built in)")
}

// BaseURL is a channel's release server; a mirror replaces it with the
// same layout below (amd64-usr/<version>/...).
func BaseURL(channel string) string {
	return "https://" + channel + ".release.flatcar-linux.net"
}

// Options choose a release.
type Options struct {
	Channel string // default "stable"
	Version string // "current" (default) or e.g. "4230.2.3"
	BaseURL string // default BaseURL(Channel)
}

var versionRe = regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+$`)

// Resolve reads the release's version (from <base>/amd64-usr/current/
// version.txt when asked for "current") and returns its PXE files.
func Resolve(ctx context.Context, src fetch.Source, opts Options) (fetch.Release, error) {
	if opts.Channel == "" {
		opts.Channel = "stable"
	}
	if !slices.Contains(Channels, opts.Channel) {
		return fetch.Release{}, fmt.Errorf("flatcar: no channel %q (channels: %s)", opts.Channel, strings.Join(Channels, ", "))
	}
	if opts.BaseURL == "" {
		opts.BaseURL = BaseURL(opts.Channel)
	}
	base := strings.TrimSuffix(opts.BaseURL, "/") + "/" + Arch + "/"
	version := opts.Version
	if version == "" || version == "current" {
		url := base + "current/version.txt"
		raw, err := src.Read(ctx, url)
		if err != nil {
			return fetch.Release{}, fmt.Errorf("flatcar %s: current version: %w", opts.Channel, err)
		}
		if version, err = ParseVersion(raw); err != nil {
			return fetch.Release{}, fmt.Errorf("flatcar %s: %s: %w", opts.Channel, url, err)
		}
	}
	if !versionRe.MatchString(version) {
		return fetch.Release{}, fmt.Errorf("flatcar: version %q is not of the form 4230.2.3", version)
	}
	rel := fetch.Release{Image: Name, Inputs: map[string]any{"channel": opts.Channel, "version": version, "arch": Arch}}
	for _, f := range []string{Kernel, Initrd} {
		url := base + version + "/" + f
		rel.Artifacts = append(rel.Artifacts, fetch.Artifact{Name: f, URL: url, SignatureURL: url + ".sig"})
	}
	return rel, nil
}

// ParseVersion reads FLATCAR_VERSION from a release's version.txt (shell
// variable assignments, one a line).
func ParseVersion(raw []byte) (string, error) {
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "=")
		if ok && k == "FLATCAR_VERSION" {
			v = strings.Trim(v, `"'`)
			if !versionRe.MatchString(v) {
				return "", fmt.Errorf("FLATCAR_VERSION %q is not of the form 4230.2.3", v)
			}
			return v, nil
		}
	}
	return "", fmt.Errorf("no FLATCAR_VERSION line")
}
