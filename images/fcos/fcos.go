// Package fcos knows Fedora CoreOS's stream metadata: which live PXE
// kernel, initramfs and rootfs a stream currently ships, their SHA-256 sums
// and signatures, and Fedora's keys that sign them.
package fcos

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/labctl/labctl/images/fetch"
	"github.com/labctl/labctl/images/verify"
)

// Name is the image's cache name and its folder under /assets/.
const Name = "fcos"

// The live PXE files as the boot service serves them under /assets/fcos/:
// fixed names, so that scenario profiles need not know the version.
const (
	Kernel = "fedora-coreos-live-kernel.x86_64"
	Initrd = "fedora-coreos-live-initramfs.x86_64.img"
	Rootfs = "fedora-coreos-live-rootfs.x86_64.img"
)

// Streams are Fedora CoreOS's update streams.
var Streams = []string{"stable", "testing", "next"}

// DefaultBaseURL serves streams/<stream>.json and the builds it names.
const DefaultBaseURL = "https://builds.coreos.fedoraproject.org"

// Arch is the only architecture labctl's labs boot.
const Arch = "x86_64"

// fedoraKeys are the Fedora 43, 44 and 45 primary keys, which sign Fedora
// CoreOS's artifacts (each release by its Fedora version's key), taken from
// the coreos/coreos-installer repository's src/signing-keys.asc, which
// carries fedora-repos' RPM-GPG-KEY-fedora-N-primary files:
//
//	Fedora 43: C6E7 F081 CF80 E131 4667 6E88 829B 6066 3164 5531
//	Fedora 44: 36F6 12DC F27F 7D1A 48A8 35E4 DBFC F71C 6D9F 90A6
//	Fedora 45: 4F50 A611 4CD5 C697 6A7F 1179 655A 4B02 F577 861E
//
//go:embed fedora-keys.asc
var fedoraKeys []byte

// Keys returns Fedora's keys.
func Keys() (*verify.Keyring, error) {
	return verify.ParseKeyring(fedoraKeys, "Fedora's keys 43-45 (built in)")
}

// Stream is the part of a stream metadata document labctl reads.
type Stream struct {
	Stream   string `json:"stream"`
	Metadata struct {
		LastModified string `json:"last-modified"`
	} `json:"metadata"`
	Architectures map[string]struct {
		Artifacts map[string]Platform `json:"artifacts"`
	} `json:"architectures"`
}

// Platform is one platform's build ("metal", "qemu", ...).
type Platform struct {
	Release string                         `json:"release"`
	Formats map[string]map[string]Artifact `json:"formats"` // format ("pxe") → artifact ("kernel") → file
}

// Artifact is one downloadable file.
type Artifact struct {
	Location  string `json:"location"`
	Signature string `json:"signature"`
	SHA256    string `json:"sha256"`
}

// ParseStream reads a stream document; source names it in errors.
func ParseStream(raw []byte, source string) (*Stream, error) {
	var s Stream
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	if s.Stream == "" {
		return nil, fmt.Errorf("%s: no \"stream\" field: not a stream metadata document", source)
	}
	return &s, nil
}

// PXE is a stream's metal live PXE build for one architecture.
type PXE struct {
	Release                   string
	Kernel, Initramfs, Rootfs Artifact
}

// PXE returns the metal live PXE files of arch.
func (s *Stream) PXE(arch string) (PXE, error) {
	field := "architectures." + arch
	a, ok := s.Architectures[arch]
	if !ok {
		return PXE{}, fmt.Errorf("stream %s has no %s", s.Stream, field)
	}
	field += ".artifacts.metal"
	metal, ok := a.Artifacts["metal"]
	if !ok {
		return PXE{}, fmt.Errorf("stream %s has no %s", s.Stream, field)
	}
	if metal.Release == "" {
		return PXE{}, fmt.Errorf("stream %s: %s has no release", s.Stream, field)
	}
	p := PXE{Release: metal.Release}
	for _, f := range []struct {
		name string
		dst  *Artifact
	}{{"kernel", &p.Kernel}, {"initramfs", &p.Initramfs}, {"rootfs", &p.Rootfs}} {
		art, ok := metal.Formats["pxe"][f.name]
		if !ok {
			return PXE{}, fmt.Errorf("stream %s has no %s.formats.pxe.%s", s.Stream, field, f.name)
		}
		if art.Location == "" || art.Signature == "" || len(art.SHA256) != 64 {
			return PXE{}, fmt.Errorf("stream %s: %s.formats.pxe.%s lacks a location, signature or sha256", s.Stream, field, f.name)
		}
		*f.dst = art
	}
	return p, nil
}

// Options choose a stream and where to read it.
type Options struct {
	Stream  string // default "stable"
	BaseURL string // default DefaultBaseURL; a mirror with the same layout
}

// Resolve reads the stream's metadata and returns its current PXE files.
// With a mirror, locations under DefaultBaseURL are read from the mirror.
func Resolve(ctx context.Context, src fetch.Source, opts Options) (fetch.Release, error) {
	if opts.Stream == "" {
		opts.Stream = "stable"
	}
	if !slices.Contains(Streams, opts.Stream) {
		return fetch.Release{}, fmt.Errorf("fcos: no stream %q (streams: %s)", opts.Stream, strings.Join(Streams, ", "))
	}
	base := strings.TrimSuffix(opts.BaseURL, "/")
	if base == "" {
		base = DefaultBaseURL
	}
	url := base + "/streams/" + opts.Stream + ".json"
	raw, err := src.Read(ctx, url)
	if err != nil {
		return fetch.Release{}, fmt.Errorf("fcos %s: stream metadata: %w", opts.Stream, err)
	}
	s, err := ParseStream(raw, url)
	if err != nil {
		return fetch.Release{}, err
	}
	if s.Stream != opts.Stream {
		return fetch.Release{}, fmt.Errorf("%s: the document is for stream %q", url, s.Stream)
	}
	pxe, err := s.PXE(Arch)
	if err != nil {
		return fetch.Release{}, fmt.Errorf("%s: %w", url, err)
	}
	mirror := func(u string) string {
		if rest, ok := strings.CutPrefix(u, DefaultBaseURL); ok {
			return base + rest
		}
		return u
	}
	rel := fetch.Release{Image: Name, Inputs: map[string]any{"stream": opts.Stream, "release": pxe.Release, "arch": Arch}}
	for _, f := range []struct {
		name string
		a    Artifact
	}{{Kernel, pxe.Kernel}, {Initrd, pxe.Initramfs}, {Rootfs, pxe.Rootfs}} {
		rel.Artifacts = append(rel.Artifacts, fetch.Artifact{Name: f.name, URL: mirror(f.a.Location), SignatureURL: mirror(f.a.Signature), SHA256: f.a.SHA256})
	}
	return rel, nil
}
