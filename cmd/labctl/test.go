package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/labctl/labctl/lab/files"
	"github.com/labctl/labctl/lab/labd"
	"github.com/labctl/labctl/lab/progress"
	"github.com/labctl/labctl/lab/state"
	"github.com/labctl/labctl/scenarios"
	"github.com/labctl/labctl/scenarios/check"
)

func newTestCmd() *cobra.Command {
	var provider, ns, artifacts string
	var keep bool
	cmd := &cobra.Command{
		Use:   "test SCENARIO",
		Short: "Bring a lab up, wait for the scenario's checks, collect artifacts, take it down",
		Args:  scenarioArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			out := cmd.OutOrStdout()
			sc, err := scenarios.Find(args[0])
			if err != nil {
				return err
			}
			if artifacts == "" {
				artifacts = filepath.Join("_artifacts", sc.Name)
			}
			if err := os.MkdirAll(artifacts, 0o755); err != nil {
				return err
			}
			// The progress lines are also the run's timeline, kept with the artifacts.
			timeline, err := os.Create(filepath.Join(artifacts, "timeline.txt"))
			if err != nil {
				return err
			}
			defer timeline.Close()
			out = io.MultiWriter(out, timeline)
			st, err := startLab(cmd.Context(), out, args[0], provider, ns)
			if err != nil {
				return err
			}
			results, runErr := converge(cmd.Context(), out, st, sc)
			// Collect and take down even when interrupted.
			ctx := context.WithoutCancel(cmd.Context())
			if err := collect(ctx, st, artifacts, results); err != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "collect artifacts: %v\n", err)
			} else {
				fmt.Fprintf(out, "artifacts and JUnit report in %s\n", artifacts)
			}
			if keep {
				fmt.Fprintf(out, "lab %s kept up (--keep): labctl ssh %s NODE, labctl down %s\n", st.Lab.Name, st.Lab.Name, st.Lab.Name)
			} else if err := labd.Down(ctx, st.Lab.Dir, slog.Default()); err != nil {
				return fmt.Errorf("down %s: %w", st.Lab.Name, err)
			}
			if runErr != nil {
				return fmt.Errorf("scenario %s: %w", sc.Name, runErr)
			}
			fmt.Fprintf(out, "scenario %s: all %d checks passed\n", sc.Name, len(results))
			return nil
		},
	}
	cmd.Flags().StringVar(&provider, "provider", "", "qemu or libvirt (default as for up)")
	cmd.Flags().StringVar(&ns, "netns", "", "network namespace for the lab (default labctl-SCENARIO)")
	cmd.Flags().StringVar(&artifacts, "artifacts", "", "directory for logs and the machine log (default _artifacts/SCENARIO)")
	cmd.Flags().BoolVar(&keep, "keep", false, "leave the lab up afterwards")
	return cmd
}

// collect copies the lab's logs, serial consoles, the boot service's
// machine log and the check results (as JUnit XML) into dst.
func collect(ctx context.Context, st *state.State, dst string, results []check.Result) error {
	dir := st.Lab.Dir
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	junit, err := os.Create(filepath.Join(dst, "junit.xml"))
	if err != nil {
		return err
	}
	err = check.WriteJUnit(junit, st.Lab.Name, results)
	if cerr := junit.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	logs := []string{labd.ProcessLog(dir), labd.BootsvcLog(dir), labd.DnsmasqLog(dir), filepath.Join(dir, "dnsmasq.conf"), filepath.Join(dir, state.FileName)}
	machineFiles, _ := filepath.Glob(filepath.Join(dir, "machines", "*", "*.log"))
	for _, f := range append(logs, machineFiles...) {
		rel, _ := filepath.Rel(dir, f)
		if err := files.Copy(f, filepath.Join(dst, rel)); err != nil && !os.IsNotExist(err) {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	ms, err := progress.Machines(ctx, progress.Client(st.Lab.Netns), st.Lab)
	if err != nil {
		return err
	}
	raw, _ := json.MarshalIndent(ms, "", "  ")
	return os.WriteFile(filepath.Join(dst, "machines.json"), raw, 0o644)
}
