package main

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/labctl/labctl/images"
	"github.com/labctl/labctl/images/k8s"
	"github.com/labctl/labctl/images/registry"
)

func newImagesCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "images", Short: "Build the OS images lab machines boot"}
	var opts images.Options
	var kubeVersion string
	build := &cobra.Command{
		Use:   "build " + strings.Join(registry.Names(), "|"),
		Short: "Build an image (cached by a hash of its inputs) and print its directory and sizes",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if kubeVersion != "" {
				opts.Versions = map[string]string{"kubernetes": kubeVersion}
			}
			img, err := registry.Build(cmd.Context(), images.OpenCache(g.cacheDir, slog.Default()), args[0], opts)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintln(out, img.Dir)
			for _, f := range img.Manifest.Files {
				fmt.Fprintf(out, "  %-24s %7.1f MiB\n", f.Name, float64(f.Size)/(1<<20))
			}
			state := "built in " + fmt.Sprint(img.Manifest.BuildTime)
			if img.CacheHit {
				state = "cached (built in " + fmt.Sprint(img.Manifest.BuildTime) + ")"
			}
			fmt.Fprintf(out, "  %s, manifest %s\n", state, filepath.Join(img.Dir, images.ManifestName))
			return nil
		},
	}
	build.Flags().StringSliceVar(&opts.Packages, "package", nil, "add a Debian package to the image (repeatable)")
	build.Flags().StringVar(&kubeVersion, "kubernetes-version", "", "k8s.io/kubernetes module version of the k8s images (default "+k8s.DefaultVersion+")")
	cmd.AddCommand(build, newImagesFetchCmd(g))
	return cmd
}
