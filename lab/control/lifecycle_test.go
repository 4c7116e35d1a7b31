package control

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/labctl/labctl/internal/testenv"
	"github.com/labctl/labctl/lab/netns"
	"github.com/labctl/labctl/lab/state"
)

// foreignNetns makes a namespace with a bridge in it, as a user or another
// lab would, outside labctl.
func foreignNetns(t *testing.T) string {
	t.Helper()
	testenv.Privileged(t, "creates a network namespace with a bridge")
	name := fmt.Sprintf("trust-foreign-%d", os.Getpid())
	for _, argv := range [][]string{{"netns", "add", name}, {"-n", name, "link", "add", "userbr0", "type", "bridge"}} {
		if out, err := exec.Command("ip", argv...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v: %s", argv, err, out)
		}
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "delete", name).Run() })
	return name
}

func assertForeignIntact(t *testing.T, ns string) {
	t.Helper()
	if out, err := exec.Command("ip", "-n", ns, "link", "show", "userbr0").CombinedOutput(); err != nil {
		t.Fatalf("namespace %s or its link userbr0 is gone: %v: %s", ns, err, out)
	}
}

func TestStartRefusesExistingNetns(t *testing.T) {
	ns := foreignNetns(t)
	root := t.TempDir()
	st, err := Up(context.Background(), UpOptions{Source: "pxe-smoke", Provider: "qemu", Netns: ns, StateRoot: root, Self: "/nonexistent/labctl", Out: io.Discard})
	if err == nil || !strings.Contains(err.Error(), "network namespace "+ns+" already exists") {
		t.Fatalf("Start(--netns %s) = %v, want a refusal naming the namespace", ns, err)
	}
	if st != nil {
		t.Errorf("Start returned a state to roll back: %+v", st)
	}
	if _, err := os.Stat(state.Dir(root, "pxe-smoke")); !os.IsNotExist(err) {
		t.Errorf("lab directory made for a refused lab: %v", err)
	}
	assertForeignIntact(t, ns)
}

// A state that does not record making its namespace (an up that failed at
// that step, or a lab pointed at another's namespace) must be rolled back
// without touching the namespace or anything in it.
func TestDownLeavesNetnsItDidNotMake(t *testing.T) {
	ns := foreignNetns(t)
	root := t.TempDir()
	st, err := Check(UpOptions{Source: "pxe-smoke", Provider: "qemu", Netns: "labctl-trust-unused", StateRoot: root})
	if err != nil {
		t.Fatal(err)
	}
	st.Lab.Netns = ns // as if another up had raced it in before ours
	if err := state.Create(st); err != nil {
		t.Fatal(err)
	}
	for range 2 { // DownAll is idempotent
		down, err := DownAll(context.Background(), root, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		if len(down) > 1 {
			t.Errorf("down %v", down)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "pxe-smoke")); !os.IsNotExist(err) {
		t.Errorf("lab directory left: %v", err)
	}
	assertForeignIntact(t, ns)
	if !netns.Exists(ns) {
		t.Fatal("namespace gone")
	}
}

func TestNameOf(t *testing.T) {
	tests := []struct{ arg, want, wantErr string }{
		{arg: "etcd3", want: "etcd3"},
		{arg: "../../scenarios/pxe-smoke", want: "pxe-smoke"}, // a scenario directory, by its name
		{arg: "..", wantErr: `lab name ".." contains ".."`},
		{arg: "../x", wantErr: `lab "../x": not a lab name, nor a scenario directory`},
		{arg: "/etc", wantErr: `lab "/etc": not a lab name, nor a scenario directory`},
		{arg: "a..b", wantErr: `contains ".."`},
	}
	for _, tt := range tests {
		t.Run(tt.arg, func(t *testing.T) {
			got, err := NameOf(tt.arg)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("NameOf(%q) = %q, %v; want an error containing %q", tt.arg, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("NameOf(%q) = %q, %v; want %q", tt.arg, got, err, tt.want)
			}
		})
	}
}
