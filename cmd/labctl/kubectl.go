package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/labctl/labctl/images/k8s"
	"github.com/labctl/labctl/lab/control"
	"github.com/labctl/labctl/lab/netns"
)

func newKubectlCmd(g *globals) *cobra.Command {
	var kubeVersion string
	cmd := &cobra.Command{
		Use:   "kubectl SCENARIO -- ARGS...",
		Short: "Run the cluster's kubectl with the lab's admin kubeconfig inside the lab's namespace",
		Args:  labArgs(g, cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := control.Load(g.stateDir, args[0])
			if err != nil {
				return err
			}
			kubeconfig := st.Lab.Kubeconfig()
			if _, err := os.Stat(kubeconfig); err != nil {
				return fmt.Errorf("lab %s has no kubeconfig (is it a Kubernetes scenario?): %w", st.Lab.Name, err)
			}
			// The cached build is the kubectl of the cluster's own version,
			// which up recorded from the scenario.
			version := kubeVersion
			if version == "" {
				version = st.Kubernetes
			}
			if version == "" {
				return fmt.Errorf("lab %s records no Kubernetes version: give --kubernetes-version", st.Lab.Name)
			}
			img, err := k8s.Build(cmd.Context(), k8s.Options{Version: version, CacheDir: g.cacheDir})
			if err != nil {
				return err
			}
			argv := append([]string{filepath.Join(img.Dir, "kubectl"), "--kubeconfig", kubeconfig}, args[1:]...)
			c := netns.Command(cmd.Context(), st.Lab.Netns, argv...)
			c.Stdin, c.Stdout, c.Stderr = os.Stdin, cmd.OutOrStdout(), cmd.ErrOrStderr()
			err = c.Run()
			var exit *exec.ExitError
			if errors.As(err, &exit) { // kubectl said why; pass its status through
				return &exitError{code: exit.ExitCode(), err: fmt.Errorf("kubectl: exit status %d", exit.ExitCode())}
			}
			return err
		},
	}
	cmd.Flags().StringVar(&kubeVersion, "kubernetes-version", "", "version of the kubectl to run (default: the cluster's, as the lab recorded it)")
	return cmd
}
