package console

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// serialSocket listens on a unix socket, as QEMU's and libvirt's serial
// consoles do, and returns the side a machine would hold once Attach connects.
func serialSocket(t *testing.T) (client net.Conn, machine net.Conn) {
	t.Helper()
	ln, err := net.Listen("unix", filepath.Join(t.TempDir(), "console.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err = net.Dial("unix", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	machine, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close(); machine.Close() })
	return client, machine
}

func termios(t *testing.T, f *os.File) unix.Termios {
	t.Helper()
	tio, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	return *tio
}

func readFull(t *testing.T, r io.Reader, n int) string {
	t.Helper()
	if c, ok := r.(interface{ SetReadDeadline(time.Time) error }); ok {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		t.Fatalf("read %d bytes: %v", n, err)
	}
	return string(buf)
}

func TestAttachTerminal(t *testing.T) {
	tests := []struct {
		name string
		end  func(master *os.File, machine net.Conn, cancel context.CancelFunc)
		want error
	}{
		{"detach on ^]", func(m *os.File, _ net.Conn, _ context.CancelFunc) { m.Write([]byte{'x', Escape, 'y'}) }, ErrDetached},
		{"SIGTERM (ctx ends)", func(_ *os.File, _ net.Conn, cancel context.CancelFunc) { cancel() }, context.Canceled},
		{"the machine's end closes", func(_ *os.File, machine net.Conn, _ context.CancelFunc) { machine.Close() }, ErrClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			master, tty, err := OpenPTY()
			if err != nil {
				t.Fatalf("no pseudo-terminal (/dev/ptmx): %v", err)
			}
			defer master.Close()
			defer tty.Close()
			before := termios(t, tty)
			client, machine := serialSocket(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- Attach(ctx, client, tty, tty) }()

			// The terminal goes raw, so ^C and ^D reach the machine.
			for deadline := time.Now().Add(5 * time.Second); termios(t, tty).Lflag&(unix.ICANON|unix.ECHO|unix.ISIG) != 0; {
				if time.Now().After(deadline) {
					t.Fatal("terminal not made raw")
				}
				time.Sleep(10 * time.Millisecond)
			}
			master.Write([]byte{0x03, 0x04, '\r'})
			if got := readFull(t, machine, 3); got != "\x03\x04\r" {
				t.Errorf("machine got %q, want ^C ^D CR", got)
			}
			machine.Write([]byte("login: "))
			if got := readFull(t, master, 7); got != "login: " {
				t.Errorf("terminal got %q, want the machine's output", got)
			}
			tt.end(master, machine, cancel)
			select {
			case err := <-done:
				if !errors.Is(err, tt.want) {
					t.Errorf("Attach = %v, want %v", err, tt.want)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Attach did not return")
			}
			if after := termios(t, tty); after != before {
				t.Errorf("terminal not restored:\n before %+v\n after  %+v", before, after)
			}
		})
	}
}

// Input that is not a terminal (a pipe) ends the session at its end, after
// everything before it reached the machine.
func TestAttachPipeEndsAtEOF(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	client, machine := serialSocket(t)
	done := make(chan error, 1)
	go func() { done <- Attach(context.Background(), client, r, io.Discard) }()
	w.Write([]byte("root\n"))
	w.Close()
	if got := readFull(t, machine, 5); got != "root\n" {
		t.Errorf("machine got %q", got)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Attach = %v, want nil at the end of input", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Attach did not end at the end of its input")
	}
}
