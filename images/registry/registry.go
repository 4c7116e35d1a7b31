// Package registry is the one list of images: `labctl images`, `labctl up`
// and tests build (or find) every image through it. A new image joins by
// adding one entry to recipes (built from one recipe), builders (built from
// other images) or published (fetched).
package registry

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/labctl/labctl/firmware"
	"github.com/labctl/labctl/images"
	"github.com/labctl/labctl/images/fcos"
	"github.com/labctl/labctl/images/fetch"
	"github.com/labctl/labctl/images/flatcar"
	"github.com/labctl/labctl/images/k8s"
	"github.com/labctl/labctl/images/labos"
	"github.com/labctl/labctl/images/smoke"
	"github.com/labctl/labctl/images/verify"
)

// recipes makes each image's recipe from the options asked of it.
var recipes = map[string]func(images.Options) (images.Recipe, error){
	labos.Name: labos.Recipe,
	smoke.Name: smokeRecipe,
	k8s.Name:   kubernetes,
}

// builder makes an image from other images in the cache.
type builder func(ctx context.Context, c *images.Cache, opts images.Options) (*images.Image, error)

// builders are the images built from other images.
var builders = map[string]builder{
	k8s.NodeName: kubernetesNode,
}

// smokeRecipe is the smoke image, carrying Debian's signed shim and disk
// GRUB for its installs to disk.
func smokeRecipe(opts images.Options) (images.Recipe, error) {
	return smoke.Recipe(opts, firmware.DebianSignedDisk)
}

// kubernetes is the Kubernetes binaries and workload images; the version
// is Versions["kubernetes"] (default k8s.DefaultVersion).
func kubernetes(opts images.Options) (images.Recipe, error) {
	if len(opts.Packages) > 0 {
		return images.Recipe{}, fmt.Errorf("image %s takes no packages", k8s.Name)
	}
	return k8s.NewRecipe(k8s.Options{Version: opts.Versions["kubernetes"]})
}

// Kubernetes is the version of Kubernetes the image called name holds when
// built with opts, or "" for an image without Kubernetes: what a lab records
// so that `labctl kubectl` runs the kubectl of its cluster.
func Kubernetes(name string, opts images.Options) string {
	if name != k8s.Name && name != k8s.NodeName {
		return ""
	}
	if v := opts.Versions["kubernetes"]; v != "" {
		return v
	}
	return k8s.DefaultVersion
}

// kubernetesNode is labos with the Kubernetes binaries (built first) and
// the node packages plus opts.Packages.
func kubernetesNode(ctx context.Context, c *images.Cache, opts images.Options) (*images.Image, error) {
	o := k8s.NodeOptions{Kubernetes: k8s.Options{Version: opts.Versions["kubernetes"], CacheDir: c.Dir},
		Labos: labos.Options{CacheDir: c.Dir}, Log: c.Log}
	if len(opts.Packages) > 0 {
		o.Packages = append(slices.Clone(k8s.NodePackages), opts.Packages...)
	}
	return k8s.BuildNode(ctx, o)
}

// Names lists the images that are built, sorted.
func Names() []string {
	names := make([]string, 0, len(recipes)+len(builders))
	for n := range recipes {
		names = append(names, n)
	}
	for n := range builders {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Recipe returns the recipe of the image called name, with opts.
func Recipe(name string, opts images.Options) (images.Recipe, error) {
	recipe, ok := recipes[name]
	if !ok {
		return images.Recipe{}, fmt.Errorf("no image %q: the images are %s", name, strings.Join(Names(), ", "))
	}
	return recipe(opts)
}

// Build returns the image called name from cache, building it first if the
// cache has none made from the same inputs.
func Build(ctx context.Context, cache *images.Cache, name string, opts images.Options) (*images.Image, error) {
	if b, ok := builders[name]; ok {
		return b(ctx, cache, opts)
	}
	r, err := Recipe(name, opts)
	if err != nil {
		return nil, err
	}
	return cache.Build(ctx, r)
}

// published are the images fetched from their publishers (labctl images
// fetch), verified by signature, never built.
var published = map[string]struct {
	keys    func() (*verify.Keyring, error)
	resolve func(ctx context.Context, src fetch.Source, o FetchOptions) (fetch.Release, error)
}{
	flatcar.Name: {flatcar.Keys, func(ctx context.Context, src fetch.Source, o FetchOptions) (fetch.Release, error) {
		return flatcar.Resolve(ctx, src, flatcar.Options{Channel: o.Channel, Version: o.Version, BaseURL: o.BaseURL})
	}},
	fcos.Name: {fcos.Keys, func(ctx context.Context, src fetch.Source, o FetchOptions) (fetch.Release, error) {
		return fcos.Resolve(ctx, src, fcos.Options{Stream: o.Stream, BaseURL: o.BaseURL})
	}},
}

// Published lists the images fetched rather than built, sorted.
func Published() []string {
	names := make([]string, 0, len(published))
	for n := range published {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// FetchOptions say which release of a published image to fetch, and how.
type FetchOptions struct {
	fetch.Options
	Channel, Version string // flatcar
	Stream           string // fcos
	BaseURL          string // a mirror with the publisher's layout
}

// Release resolves the release of the published image called name and
// returns it with the fetcher that downloads and verifies it.
func Release(ctx context.Context, name string, o FetchOptions) (*fetch.Fetcher, fetch.Release, error) {
	p, ok := published[name]
	if !ok {
		return nil, fetch.Release{}, fmt.Errorf("no published image %q: the images are %s", name, strings.Join(Published(), " and "))
	}
	f, err := fetch.New(o.Options, p.keys)
	if err != nil {
		return nil, fetch.Release{}, err
	}
	rel, err := p.resolve(ctx, f.Source, o)
	return f, rel, err
}

// Image returns the image called name for a lab: a recipe's built (or
// found in the cache), a published image's newest fetched copy. Published
// images are fetched by the user, never behind their back: one that is not
// in the cache is an error saying how to fetch it.
func Image(ctx context.Context, cache *images.Cache, name string, opts images.Options) (*images.Image, error) {
	if _, ok := published[name]; !ok {
		return Build(ctx, cache, name, opts)
	}
	img, err := cache.Newest(name)
	if errors.Is(err, images.ErrNotCached) {
		return nil, fmt.Errorf("%w: run `labctl images fetch %s` first (it downloads the image and verifies its signatures)", err, name)
	}
	return img, err
}
