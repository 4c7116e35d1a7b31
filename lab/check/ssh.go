package check

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/lab/sshkeys"
)

// SSH runs commands on lab machines with the lab's key, accepting only the
// host key made for each machine.
type SSH struct {
	Keys *sshkeys.Keys
	// Dial connects to the machine; for a lab it dials inside the lab's
	// namespace (netns.Dialer).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	User string // default root
	Port int    // default 22
}

// Client opens an SSH connection to m. It is closed when ctx ends.
func (s *SSH) Client(ctx context.Context, m lab.Machine) (*ssh.Client, error) {
	hostKey, err := s.Keys.HostKeyCallback(m.Name)
	if err != nil {
		return nil, err
	}
	user, port := s.User, s.Port
	if user == "" {
		user = "root"
	}
	if port == 0 {
		port = 22
	}
	addr := net.JoinHostPort(m.IP.String(), strconv.Itoa(port))
	dialCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := s.Dial(dialCtx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("ssh %s (%s): %w", m.Name, addr, err)
	}
	// The handshake has no context of its own: bound it with a deadline.
	if dl, ok := dialCtx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	c, chans, reqs, err := ssh.NewClientConn(conn, addr, &ssh.ClientConfig{
		User:            user,
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(s.Keys.Client)},
		HostKeyCallback: hostKey,
	})
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("ssh %s (%s): %w", m.Name, addr, err)
	}
	conn.SetDeadline(time.Time{})
	client := ssh.NewClient(c, chans, reqs)
	go func() {
		<-ctx.Done()
		client.Close()
	}()
	return client, nil
}

// Run runs cmd on m and returns its combined output and exit status. err is
// set only when the command could not be run or did not finish.
func (s *SSH) Run(ctx context.Context, m lab.Machine, cmd string) (string, int, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // closes the client
	client, err := s.Client(ctx, m)
	if err != nil {
		return "", -1, err
	}
	sess, err := client.NewSession()
	if err != nil {
		return "", -1, fmt.Errorf("ssh %s: session: %w", m.Name, err)
	}
	var out lockedBuffer // stdout and stderr are copied by two goroutines
	sess.Stdout, sess.Stderr = &out, &out
	err = sess.Run(cmd)
	var exit *ssh.ExitError
	switch {
	case err == nil:
		return out.String(), 0, nil
	case errors.As(err, &exit):
		return out.String(), exit.ExitStatus(), nil
	case ctx.Err() != nil:
		return out.String(), -1, fmt.Errorf("ssh %s: %q: %w", m.Name, cmd, ctx.Err())
	default:
		return out.String(), -1, fmt.Errorf("ssh %s: %q: %w", m.Name, cmd, err)
	}
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// RemoteCommand is the command line for argv on a remote shell: a single
// argument is taken as a command line already (as ssh(1) does), several are
// each quoted so that they arrive as given, spaces and quotes included.
func RemoteCommand(argv []string) string {
	if len(argv) == 1 {
		return argv[0]
	}
	quoted := make([]string, len(argv))
	for i, a := range argv {
		quoted[i] = shellQuote(a)
	}
	return strings.Join(quoted, " ")
}

// shellQuote quotes s for a POSIX shell, leaving plain words as they are.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+@%") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
