package netns

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/labctl/labctl/internal/testenv"
)

func newNS(t *testing.T) string {
	t.Helper()
	testenv.Privileged(t, "creates a network namespace")
	name := fmt.Sprintf("lt-netns-%d", os.Getpid())
	ctx := context.Background()
	if err := Create(ctx, name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := Delete(ctx, name); err != nil {
			t.Error(err)
		}
		if Exists(name) {
			t.Errorf("namespace %s still exists after Delete", name)
		}
	})
	return name
}

func TestListenDialInside(t *testing.T) {
	name := newNS(t)
	ln, err := Listen(name, "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			io.WriteString(c, "inside")
			c.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Dial(ctx, name, "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(c)
	c.Close()
	if string(got) != "inside" {
		t.Fatalf("read %q", got)
	}
	// The same port on the root namespace's loopback has no listener: the
	// socket really lives in the lab's namespace.
	if c, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		c.Close()
		t.Fatalf("listener in namespace %s is reachable from the root namespace", name)
	}
}

func TestCreateTwiceFails(t *testing.T) {
	name := newNS(t)
	if err := Create(context.Background(), name); err == nil {
		t.Fatal("creating an existing namespace succeeded")
	}
}

func TestCommandRunsInside(t *testing.T) {
	name := newNS(t)
	out, err := Command(context.Background(), name, "ip", "-o", "link").Output()
	if err != nil {
		t.Fatal(err)
	}
	// A fresh namespace has only its loopback.
	if n := strings.Count(strings.TrimSpace(string(out)), "\n") + 1; n != 1 {
		t.Fatalf("links in namespace: %q", out)
	}
}

// TestCommandEmptyNameRunsHere: a rack's lab has no namespace of its own
// (its Netns is empty); its commands (labctl kubectl) run in the caller's.
func TestCommandEmptyNameRunsHere(t *testing.T) {
	here, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	out, err := Command(context.Background(), "", "readlink", "/proc/self/ns/net").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != here {
		t.Fatalf("Command with no namespace ran in %q (%v), want the caller's %s", out, err, here)
	}
}

func TestDeleteMissingIsNoop(t *testing.T) {
	if err := Delete(context.Background(), "lt-netns-never-made"); err != nil {
		t.Fatal(err)
	}
}

// TestDoLeavesProcessOutside: however often Do runs, the process as a whole
// (what `ip netns pids` and /proc/PID/ns/net show) stays in its namespace.
func TestDoLeavesProcessOutside(t *testing.T) {
	mainThread := fmt.Sprintf("/proc/self/task/%d/ns/net", os.Getpid())
	before, err := os.Readlink(mainThread)
	if err != nil {
		t.Fatal(err)
	}
	name := newNS(t)
	for i := 0; i < 50; i++ {
		if err := Do(name, func() error { return nil }); err != nil {
			t.Fatal(err)
		}
	}
	pids, err := Pids(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	for _, pid := range pids {
		if pid == os.Getpid() {
			t.Fatalf("this process is listed in namespace %s", name)
		}
	}
	if after, _ := os.Readlink(mainThread); after != before {
		t.Errorf("main thread in %s, want %s", after, before)
	}
}

func TestAvailable(t *testing.T) {
	existing := newNS(t)
	tests := []struct {
		name, want string // want: "" when available, else part of the error
	}{
		{"labctl-trust-free-name", ""},
		{existing, "network namespace " + existing + " already exists"},
		{"", "empty"},
		{"../../etc", `"../../etc" contains a path separator`},
		{"..", `".." is . or contains ".."`},
		{".", "is . or contains"},
		{strings.Repeat("n", 256), "longer than 255 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Available(tt.name)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Available(%q) = %v", tt.name, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Available(%q) = %v, want an error containing %q", tt.name, err, tt.want)
			}
		})
	}
	// Create refuses what Available refuses, and leaves the namespace as it was.
	if err := Create(context.Background(), existing); !errors.Is(err, ErrExists) {
		t.Errorf("Create(%s) = %v, want ErrExists", existing, err)
	}
	if !Exists(existing) {
		t.Errorf("namespace %s went", existing)
	}
	// The refusal carries the namespace; which flag chooses another is the CLI's to say.
	var exists *ExistsError
	if err := Available(existing); !errors.As(err, &exists) || exists.Name != existing || strings.Contains(err.Error(), "--") {
		t.Errorf("Available(%s) = %v, want an *ExistsError naming it and no flag", existing, err)
	}
}
