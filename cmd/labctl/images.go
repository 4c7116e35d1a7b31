package main

import (
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/labctl/labctl/images"
	"github.com/labctl/labctl/images/labos"
)

func newImagesCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "images", Short: "Build the OS images lab machines boot"}
	var cacheDir string
	build := &cobra.Command{
		Use:   "build labos",
		Short: "Build an image (cached by a hash of its inputs) and print its directory and sizes",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if args[0] != labos.Name {
				return fmt.Errorf("no image %q: the images are %s", args[0], labos.Name)
			}
			img, err := labos.Build(cmd.Context(), labos.Options{CacheDir: cacheDir, Log: slog.Default()})
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintln(out, img.Dir)
			for _, f := range img.Manifest.Files {
				fmt.Fprintf(out, "  %-16s %7.1f MiB\n", f.Name, float64(f.Size)/(1<<20))
			}
			state := "built in " + fmt.Sprint(img.Manifest.BuildTime)
			if img.CacheHit {
				state = "cached (built in " + fmt.Sprint(img.Manifest.BuildTime) + ")"
			}
			fmt.Fprintf(out, "  %s, manifest %s\n", state, filepath.Join(img.Dir, images.ManifestName))
			return nil
		},
	}
	build.Flags().StringVar(&cacheDir, "cache-dir", images.DefaultCacheDir, "where built images are kept")
	cmd.AddCommand(build, newImagesFetchCmd())
	return cmd
}
