// Package sockapi serves and calls the small JSON APIs the lab process
// serves on Unix sockets in the lab's directory (the virtual BMCs' faults,
// the boot service's outage): one client for all of them, so each names its
// API and request the same way, and one way to reach a socket whose path is
// longer than the kernel takes.
package sockapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
)

// maxPath is the longest socket path bind and connect take (sun_path's 108
// bytes, its terminating zero included).
const maxPath = 107

// Listen listens on the Unix socket path, however long the lab's directory
// makes it.
func Listen(path string) (net.Listener, error) {
	var ln net.Listener
	err := reach(path, func(p string) (err error) {
		ln, err = net.Listen("unix", p)
		return err
	})
	if err != nil {
		return nil, err
	}
	// Its path may be a /proc alias gone by then: the owner removes path.
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	return ln, nil
}

// Dial connects to the Unix socket path, however long.
func Dial(ctx context.Context, path string) (net.Conn, error) {
	var c net.Conn
	err := reach(path, func(p string) (err error) {
		c, err = (&net.Dialer{}).DialContext(ctx, "unix", p)
		return err
	})
	return c, err
}

// reach calls f with path, or, when path is too long for a socket address
// (a deep state directory), with the same file named through its directory
// opened here: /proc/self/fd/N/NAME.
func reach(path string, f func(string) error) error {
	if len(path) <= maxPath {
		return f(path)
	}
	dir, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer dir.Close()
	return f(fmt.Sprintf("/proc/self/fd/%d/%s", dir.Fd(), filepath.Base(path)))
}

// Call sends body (nil for none) as JSON to path on the API served at
// socket and decodes the answer into out. what names the API in errors.
func Call(ctx context.Context, socket, what, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://labd"+path, rd)
	if err != nil {
		return err
	}
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return Dial(ctx, socket)
	}}}
	defer hc.CloseIdleConnections()
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s (%s): %w", what, socket, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(b)))
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	return nil
}
