package main

import (
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/labctl/labctl/images"
	"github.com/labctl/labctl/images/k8s"
	"github.com/labctl/labctl/images/labos"
)

func newImagesCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "images", Short: "Build the OS images lab machines boot"}
	var cacheDir, kubeVersion string
	build := &cobra.Command{
		Use:   "build labos|k8s|labos-k8s",
		Short: "Build an image (cached by a hash of its inputs) and print its directory and sizes",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, log := cmd.Context(), slog.Default()
			kube := k8s.Options{Version: kubeVersion, CacheDir: cacheDir, Log: log}
			var img *images.Image
			var err error
			switch args[0] {
			case labos.Name:
				img, err = labos.Build(ctx, labos.Options{CacheDir: cacheDir, Log: log})
			case k8s.Name:
				img, err = k8s.Build(ctx, kube)
			case k8s.NodeName:
				img, err = k8s.BuildNode(ctx, k8s.NodeOptions{Kubernetes: kube, Labos: labos.Options{CacheDir: cacheDir}, Log: log})
			default:
				return fmt.Errorf("no image %q: the images are %s, %s, %s", args[0], labos.Name, k8s.Name, k8s.NodeName)
			}
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
	build.Flags().StringVar(&cacheDir, "cache-dir", images.DefaultCacheDir, "where built images are kept")
	build.Flags().StringVar(&kubeVersion, "kubernetes-version", k8s.DefaultVersion, "k8s.io/kubernetes module version of the k8s images")
	cmd.AddCommand(build, newImagesFetchCmd())
	return cmd
}
