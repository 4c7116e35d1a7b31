// Package registry is the one list of image recipes: `labctl images`, `labctl
// up` and tests build every image through it. A new image joins by adding
// one entry to recipes.
package registry

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/labctl/labctl/images"
	"github.com/labctl/labctl/images/labos"
	"github.com/labctl/labctl/images/smoke"
)

// recipes makes each image's recipe from the options asked of it.
var recipes = map[string]func(images.Options) (images.Recipe, error){
	labos.Name: labos.Recipe,
	smoke.Name: smoke.Recipe,
}

// Names lists the images, sorted.
func Names() []string {
	names := make([]string, 0, len(recipes))
	for n := range recipes {
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
	r, err := Recipe(name, opts)
	if err != nil {
		return nil, err
	}
	return cache.Build(ctx, r)
}
