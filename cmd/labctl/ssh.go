package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/crypto/ssh"
	"golang.org/x/term"

	"github.com/labctl/labctl/lab/check"
	"github.com/labctl/labctl/lab/control"
)

func newSSHCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "ssh SCENARIO NODE [-- COMMAND...]",
		Short: "Open a shell on a lab machine, or run a command there (one argument: a shell command line; several: each kept as given) and pass its exit status through",
		Args:  labArgs(g, cobra.MinimumNArgs(2)),
		RunE: func(cmd *cobra.Command, args []string) error {
			client, err := control.SSH(cmd.Context(), g.stateDir, args[0], args[1])
			if err != nil {
				return err
			}
			defer client.Close()
			sess, err := client.NewSession()
			if err != nil {
				return err
			}
			defer sess.Close()
			sess.Stdin, sess.Stdout, sess.Stderr = os.Stdin, cmd.OutOrStdout(), cmd.ErrOrStderr()
			if remote := args[2:]; len(remote) > 0 {
				err = sess.Run(check.RemoteCommand(remote))
			} else {
				err = shell(sess)
			}
			var exit *ssh.ExitError
			if errors.As(err, &exit) {
				return &exitError{code: exit.ExitStatus(), err: fmt.Errorf("%s: exit status %d", args[1], exit.ExitStatus())}
			}
			return err
		},
	}
}

// shell runs an interactive login shell, with a terminal when stdin is one.
func shell(sess *ssh.Session) error {
	fd := int(os.Stdin.Fd())
	if term.IsTerminal(fd) {
		w, h, err := term.GetSize(fd)
		if err != nil {
			w, h = 80, 24
		}
		if err := sess.RequestPty(os.Getenv("TERM"), h, w, ssh.TerminalModes{ssh.ECHO: 1}); err != nil {
			return err
		}
		old, err := term.MakeRaw(fd)
		if err != nil {
			return err
		}
		defer term.Restore(fd, old)
	}
	if err := sess.Shell(); err != nil {
		return err
	}
	return sess.Wait()
}
