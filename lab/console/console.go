// Package console attaches a terminal to a machine's serial console the
// way `virsh console` does: raw mode on a terminal, detach on ^], and the
// terminal restored on every way out.
package console

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"

	"golang.org/x/term"
)

// Escape is the byte that detaches: ^], as in virsh and telnet.
const Escape = 0x1d

// ErrDetached is returned when the user typed Escape; ErrClosed when the
// console closed (the machine powered off, or restarted as a new process).
var (
	ErrDetached = errors.New("detached")
	ErrClosed   = errors.New("console closed")
)

// Attach copies in to conn and conn to out until the user types Escape
// (ErrDetached), in ends (nil: stdin that is not a terminal, such as a
// pipe), the console closes (ErrClosed), or ctx ends (its error: SIGTERM). When in
// is a terminal it is put in raw mode, so ^C and ^D reach the machine, and
// restored before Attach returns.
func Attach(ctx context.Context, conn net.Conn, in *os.File, out io.Writer) error {
	fd := int(in.Fd())
	if term.IsTerminal(fd) {
		old, err := term.MakeRaw(fd)
		if err != nil {
			return err
		}
		defer term.Restore(fd, old)
	}
	done := make(chan error, 2)
	go func() { done <- copyInput(conn, in) }()
	go func() {
		_, err := io.Copy(out, conn)
		if err == nil {
			err = ErrClosed // the other end closed
		} else if errors.Is(err, net.ErrClosed) {
			err = nil // closed here, on the way out
		}
		done <- err
	}()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		err = ctx.Err()
	}
	conn.Close() // ends the output copy; the input copy ends with the process
	return err
}

// copyInput copies in to conn up to Escape.
func copyInput(conn io.Writer, in io.Reader) error {
	buf := make([]byte, 512)
	for {
		n, err := in.Read(buf)
		if n > 0 {
			chunk, _, detach := bytes.Cut(buf[:n], []byte{Escape})
			if _, werr := conn.Write(chunk); werr != nil {
				return werr
			}
			if detach {
				return ErrDetached
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
