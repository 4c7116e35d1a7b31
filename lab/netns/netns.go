// Package netns creates and removes named network namespaces and opens
// sockets inside them, so that every part of a lab stays out of the
// machine's root namespace.
package netns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"github.com/vishvananda/netns"
)

// Dir is where iproute2 keeps named namespaces; `ip netns` and labctl agree on it.
const Dir = "/var/run/netns"

// Exists reports whether the named namespace exists.
func Exists(name string) bool {
	_, err := os.Stat(Dir + "/" + name)
	return err == nil
}

// CheckName refuses a namespace name that is not a plain file name in Dir.
func CheckName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("network namespace name is empty")
	case strings.ContainsAny(name, "/\x00"):
		return fmt.Errorf("network namespace name %q contains a path separator", name)
	case name == "." || strings.Contains(name, ".."):
		return fmt.Errorf("network namespace name %q is . or contains \"..\"", name)
	case len(name) > 255:
		return fmt.Errorf("network namespace name %q is longer than 255 bytes", name)
	}
	return nil
}

// ErrExists is returned by Create for a namespace that is already there.
var ErrExists = errors.New("already exists")

// ExistsError refuses a namespace that is already there. It carries the
// name, not advice: the CLI names the flag that chooses another.
type ExistsError struct{ Name string }

func (e *ExistsError) Error() string {
	return fmt.Sprintf("network namespace %s %v (another lab's, or made outside labctl); labctl only uses a namespace it creates", e.Name, ErrExists)
}

// Is makes errors.Is(err, ErrExists) hold.
func (e *ExistsError) Is(target error) bool { return target == ErrExists }

// Available refuses a bad name or a namespace that exists (another lab's,
// or one made outside labctl) with an *ExistsError: labctl never adopts
// what it did not make.
func Available(name string) error {
	if err := CheckName(name); err != nil {
		return err
	}
	if Exists(name) {
		return &ExistsError{Name: name}
	}
	return nil
}

// Create adds the named namespace and brings its loopback up. It refuses
// what Available refuses, so two labs never share a namespace.
func Create(ctx context.Context, name string) error {
	if err := Available(name); err != nil {
		return err
	}
	if err := run(ctx, "ip", "netns", "add", name); err != nil {
		return fmt.Errorf("create network namespace %s: %w", name, err)
	}
	if err := run(ctx, "ip", "-n", name, "link", "set", "lo", "up"); err != nil {
		return fmt.Errorf("network namespace %s: bring up lo: %w", name, err)
	}
	return nil
}

// Delete removes the named namespace; deleting one that is gone is not an
// error. Processes still inside keep it alive, so callers stop them first.
func Delete(ctx context.Context, name string) error {
	if !Exists(name) {
		return nil
	}
	if err := run(ctx, "ip", "netns", "delete", name); err != nil {
		return fmt.Errorf("delete network namespace %s: %w", name, err)
	}
	return nil
}

// Pids lists the processes whose network namespace is the named one.
func Pids(ctx context.Context, name string) ([]int, error) {
	out, err := exec.CommandContext(ctx, "ip", "netns", "pids", name).Output()
	if err != nil {
		return nil, fmt.Errorf("list processes in network namespace %s: %w", name, err)
	}
	var pids []int
	for _, f := range strings.Fields(string(out)) {
		var pid int
		if _, err := fmt.Sscan(f, &pid); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// Do runs fn on an OS thread that has entered the named namespace. Sockets
// fn creates belong to that namespace and may be used from any goroutine
// afterwards. fn must not start goroutines that expect the namespace.
//
// The empty name is the namespace the process runs in (a rack's lab, whose
// interface is the operator's): fn runs as it is.
func Do(name string, fn func() error) error {
	if name == "" {
		return fn()
	}
	target, err := netns.GetFromName(name)
	if err != nil {
		return fmt.Errorf("open network namespace %s: %w", name, err)
	}
	defer target.Close()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		origin, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("open current network namespace: %w", err)
			return
		}
		defer origin.Close()
		if err := netns.Set(target); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("enter network namespace %s: %w", name, err)
			return
		}
		err = fn()
		// Go back before unlocking: the thread may be the main thread,
		// whose namespace is the whole process's in /proc/PID/ns/net. If
		// the way back fails, the thread stays locked and dies with this
		// goroutine, so no other goroutine runs in the lab's namespace.
		if netns.Set(origin) == nil {
			runtime.UnlockOSThread()
		}
		errc <- err
	}()
	return <-errc
}

// Listen opens a listener inside the named namespace.
func Listen(name, network, addr string) (net.Listener, error) {
	var ln net.Listener
	err := Do(name, func() (err error) {
		ln, err = net.Listen(network, addr)
		return err
	})
	return ln, err
}

// ListenPacket opens a packet socket inside the named namespace.
func ListenPacket(name, network, addr string) (net.PacketConn, error) {
	var pc net.PacketConn
	err := Do(name, func() (err error) {
		pc, err = net.ListenPacket(network, addr)
		return err
	})
	return pc, err
}

// Dial connects from inside the named namespace. The connect happens on the
// namespace's thread; ctx bounds it.
func Dial(ctx context.Context, name, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := Do(name, func() (err error) {
		var d net.Dialer
		c, err = d.DialContext(ctx, network, addr)
		return err
	})
	return c, err
}

// Dialer returns a DialContext-shaped function for the named namespace, for
// http.Transport, ssh and other clients.
func Dialer(name string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		return Dial(ctx, name, network, addr)
	}
}

// HTTPClient returns an HTTP client whose connections are made inside the
// named namespace: a lab's boot service is not reachable from outside.
func HTTPClient(name string, timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: &http.Transport{DialContext: Dialer(name)}}
}

// Command returns cmd set to run inside the named namespace (through
// `ip netns exec`, which also gives it a matching /sys). As for Do, the
// empty name is the namespace the process runs in (a rack's lab): cmd runs
// as it is.
func Command(ctx context.Context, name string, argv ...string) *exec.Cmd {
	if name == "" {
		return exec.CommandContext(ctx, argv[0], argv[1:]...)
	}
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", name}, argv...)...)
}

func run(ctx context.Context, argv ...string) error {
	out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		msg := strings.TrimSpace(string(out))
		if msg == "" {
			return err
		}
		return errors.New(msg)
	}
	return nil
}
