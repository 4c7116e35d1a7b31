// Command labctl runs network-boot labs, their boot service and their checks.
// This package only parses flags, prints and sets the exit status; the work
// is done by the library packages it calls (lab/control above all).
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/labctl/labctl/images"
	"github.com/labctl/labctl/lab/control"
	"github.com/labctl/labctl/lab/netns"
	"github.com/labctl/labctl/lab/state"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCmd().ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "labctl:", err)
		os.Exit(exitCode(err))
	}
}

// exitError carries a specific exit status (for example `labctl ssh`, which
// passes the remote command's status through).
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func exitCode(err error) int {
	if e, ok := err.(*exitError); ok {
		return e.code
	}
	return 1
}

// globals are the flags every command shares.
type globals struct {
	verbose  bool
	stateDir string // parent of every lab's directory
	cacheDir string // built images
	self     string // labctl as the user can run it again, for the commands it suggests
	log      *slog.Logger
}

// logger is the log of what the libraries labctl drives do, on stderr.
func (g *globals) logger() *slog.Logger {
	if g.log == nil {
		return slog.Default()
	}
	return g.log
}

// invokedAs is how to run this labctl again: "labctl" when PATH finds it,
// else the path it was started by (bin/labctl after `make lab`), so that a
// suggested command works as printed.
func invokedAs(arg0 string) string {
	if !strings.Contains(arg0, "/") {
		return "labctl"
	}
	onPath, err := exec.LookPath("labctl")
	if err == nil && sameFile(onPath, arg0) {
		return "labctl"
	}
	return arg0
}

func sameFile(a, b string) bool {
	fa, err := os.Stat(a)
	if err != nil {
		return false
	}
	fb, err := os.Stat(b)
	return err == nil && os.SameFile(fa, fb)
}

func newRootCmd() *cobra.Command {
	g := &globals{self: invokedAs(os.Args[0])}
	root := &cobra.Command{
		Use:           "labctl",
		Short:         "Network-boot labs, a matchbox-compatible boot service, BMCs and end-to-end checks",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if err := flagsFromEnv(cmd.Flags()); err != nil {
				return err
			}
			level := slog.LevelInfo
			if g.verbose {
				level = slog.LevelDebug
			}
			g.log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
			slog.SetDefault(g.log)
			return nil
		},
	}
	pf := root.PersistentFlags()
	pf.BoolVarP(&g.verbose, "verbose", "v", false, "debug logging")
	pf.StringVar(&g.stateDir, "state-dir", state.DefaultRoot, "where labs keep their state, disks and logs")
	pf.StringVar(&g.cacheDir, "cache-dir", images.DefaultCacheDir, "where built images are kept")
	root.AddCommand(
		newUpCmd(g),
		newTestCmd(g),
		newVerifyCmd(g),
		newDownCmd(g),
		newStatusCmd(g),
		newConsoleCmd(g),
		newLogsCmd(g),
		newSSHCmd(g),
		newServeCmd(),
		newImagesCmd(g),
		newKubectlCmd(g),
		newBMCCmd(g),
		newReprovisionCmd(g),
		newFaultCmd(g),
		newLabDaemonCmd(),
		newLsCmd(g),
		newSnapshotCmd(g),
		newDashboardCmd(g),
		newScenariosCmd(),
	)
	completeArgs(root, g)
	explainErrors(root, g)
	return root
}

// explainErrors has every command's error explained by explain.
func explainErrors(c *cobra.Command, g *globals) {
	if run := c.RunE; run != nil {
		c.RunE = func(cmd *cobra.Command, args []string) error { return explain(run(cmd, args), g) }
	}
	for _, sub := range c.Commands() {
		explainErrors(sub, g)
	}
}

// explain adds to an error what only the CLI can say: for a lab that is not
// up, the flag that names where labs are looked for and how to list them.
func explain(err error, g *globals) error {
	var notUp *control.NotUpError
	if errors.As(err, &notUp) {
		return fmt.Errorf("%w: --state-dir (or LABCTL_STATE_DIR) names another place; %s ls lists the labs there", err, g.self)
	}
	var exists *netns.ExistsError
	if errors.As(err, &exists) {
		return fmt.Errorf("%w: choose another --netns", err)
	}
	return err
}

// flagsFromEnv sets every flag the user did not give from LABCTL_<NAME>
// (upper case, '-' as '_'), so that `--data` can also be LABCTL_DATA.
func flagsFromEnv(fs *pflag.FlagSet) error {
	var err error
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Changed || err != nil {
			return
		}
		name := "LABCTL_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(name); ok {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("environment variable %s: %w", name, e)
			}
		}
	})
	return err
}
