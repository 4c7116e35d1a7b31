package main

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/labctl/labctl/images"
	"github.com/labctl/labctl/images/registry"
)

// newImagesFetchCmd is `labctl images fetch flatcar|fcos`: a published
// image, downloaded and verified into the same cache labos is built in.
func newImagesFetchCmd(g *globals) *cobra.Command {
	var opts registry.FetchOptions
	cmd := &cobra.Command{
		Use:   "fetch flatcar|fcos",
		Short: "Download a published image's PXE files, verify their signatures (and sums) and cache them",
		Long: `Download Flatcar's or Fedora CoreOS's live PXE files into the image cache,
where scenarios find them by name (images: [flatcar] or [fcos]). Every file's
detached OpenPGP signature is checked against the publisher's key built into
labctl (or --key-file), and Fedora CoreOS files also against the SHA-256 of
the stream metadata; a file that fails is not cached.`,
		Args:      cobra.ExactArgs(1),
		ValidArgs: registry.Published(),
		RunE: func(cmd *cobra.Command, args []string) error {
			out := cmd.OutOrStdout()
			opts.Progress = func(file string, done, total int64) {
				if total > 0 {
					fmt.Fprintf(cmd.ErrOrStderr(), "  %s: %.1f of %.1f MiB\n", file, float64(done)/(1<<20), float64(total)/(1<<20))
				} else {
					fmt.Fprintf(cmd.ErrOrStderr(), "  %s: %.1f MiB\n", file, float64(done)/(1<<20))
				}
			}
			opts.CacheDir = g.cacheDir
			f, rel, err := registry.Release(cmd.Context(), args[0], opts)
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "%s %v: verifying with %v\n", rel.Image, rel.Inputs, f.Keys.Fingerprints())
			img, err := f.Fetch(cmd.Context(), rel)
			if err != nil {
				return err
			}
			fmt.Fprintln(out, img.Dir)
			for _, file := range img.Manifest.Files {
				fmt.Fprintf(out, "  %-44s %7.1f MiB\n", file.Name, float64(file.Size)/(1<<20))
			}
			state := "fetched and verified"
			if img.CacheHit {
				state = "cached (verified when fetched)"
			}
			fmt.Fprintf(out, "  %s, manifest %s\n", state, filepath.Join(img.Dir, images.ManifestName))
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.Channel, "channel", "stable", "flatcar: release channel (stable, beta, alpha)")
	fl.StringVar(&opts.Version, "version", "current", "flatcar: release version, e.g. 4230.2.3, or current")
	fl.StringVar(&opts.Stream, "stream", "stable", "fcos: stream (stable, testing, next)")
	fl.StringVar(&opts.BaseURL, "base-url", "", "a mirror with the publisher's layout (default: the publisher's own server)")
	fl.StringVar(&opts.From, "from", "", "a directory of files downloaded elsewhere (flatcar: version.txt, the files and .sig; fcos: STREAM.json, the files and .sig), verified the same way")
	fl.StringVar(&opts.KeyFile, "key-file", "", "OpenPGP public keys to trust instead of the publisher's built-in ones")
	return cmd
}
