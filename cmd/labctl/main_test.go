package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/labctl/labctl/internal/testenv"
	"github.com/labctl/labctl/lab/scenario"
	"github.com/labctl/labctl/lab/state"
)

func TestFlagsFromEnv(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		want    string
		wantErr bool
	}{
		{name: "default", want: "def"},
		{name: "env", env: map[string]string{"LABCTL_DATA_DIR": "/env"}, want: "/env"},
		{name: "flag beats env", env: map[string]string{"LABCTL_DATA_DIR": "/env"}, args: []string{"--data-dir=/flag"}, want: "/flag"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
			got := fs.String("data-dir", "def", "")
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			if err := flagsFromEnv(fs); err != nil {
				t.Fatal(err)
			}
			if *got != tt.want {
				t.Errorf("data-dir = %q, want %q", *got, tt.want)
			}
		})
	}
}

func TestFlagsFromEnvBadValue(t *testing.T) {
	t.Setenv("LABCTL_COUNT", "many")
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	fs.Int("count", 1, "")
	err := flagsFromEnv(fs)
	if err == nil || !strings.Contains(err.Error(), "LABCTL_COUNT") {
		t.Fatalf("err = %v, want one naming LABCTL_COUNT", err)
	}
}

// Every command that takes a lab refuses a name that could reach outside
// the state directory, naming it, before it reads or removes anything.
func TestLabNamesRefused(t *testing.T) {
	t.Setenv("LABCTL_STATE_DIR", t.TempDir())
	for _, bad := range []struct{ arg, want string }{
		{"..", `lab name ".." contains ".."`},
		{"../../etc", `lab "../../etc": not a lab name, nor a scenario directory`},
		{"/", `lab "/": not a lab name, nor a scenario directory`},
	} {
		for _, args := range [][]string{
			{"down", bad.arg},
			{"status", bad.arg},
			{"ssh", bad.arg, "node1"},
			{"console", bad.arg, "node1"},
			{"logs", bad.arg, "node1"},
			{"verify", bad.arg},
			{"reprovision", bad.arg, "node1"},
		} {
			t.Run(strings.Join(args, " "), func(t *testing.T) {
				cmd := newRootCmd()
				cmd.SetArgs(args)
				cmd.SetOut(io.Discard)
				err := cmd.Execute()
				if err == nil || !strings.Contains(err.Error(), bad.want) {
					t.Fatalf("labctl %v: %v, want an error containing %q", args, err, bad.want)
				}
			})
		}
	}
}

func TestVerboseFromEnv(t *testing.T) {
	t.Setenv("LABCTL_VERBOSE", "true")
	t.Setenv("LABCTL_STATE_DIR", t.TempDir())
	defer slog.SetDefault(slog.Default())
	cmd := newRootCmd()
	cmd.SetArgs([]string{"status", "nothing-up"})
	cmd.Execute() // fails: no such lab; the logger is set before that
	if !slog.Default().Enabled(context.Background(), slog.LevelDebug) {
		t.Error("LABCTL_VERBOSE=true did not turn on debug logging")
	}
}

// Bad flags and names are refused before any image is built (which takes
// minutes the first time): nothing about images is printed.
func TestUpChecksBeforeBuilding(t *testing.T) {
	testenv.Root(t, "up refuses non-root before it checks its flags")
	t.Setenv("LABCTL_STATE_DIR", t.TempDir())
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"up", "pxe-smoke", "--provider", "bogus"}, `unknown provider "bogus"`},
		{[]string{"up", "pxe-smoke", "--provider", "qemu", "--netns", "../x"}, `network namespace name "../x" contains a path separator`},
		{[]string{"test", "pxe-smoke", "--provider", "qemu", "--netns", "..", "--artifacts", t.TempDir()}, `network namespace name ".." is . or contains`},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var out bytes.Buffer
			cmd := newRootCmd()
			cmd.SetArgs(tt.args)
			cmd.SetOut(&out)
			err := cmd.Execute()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("labctl %v: %v, want an error containing %q", tt.args, err, tt.want)
			}
			if strings.Contains(out.String(), "image ") {
				t.Errorf("an image was built before the refusal:\n%s", out.String())
			}
		})
	}
}

func TestInvokedAs(t *testing.T) {
	dir, other, empty := t.TempDir(), t.TempDir(), t.TempDir()
	bin := filepath.Join(dir, "labctl")
	for _, f := range []string{bin, filepath.Join(other, "labctl")} {
		if err := os.WriteFile(f, []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name, arg0, path, want string
	}{
		{"found on PATH by name", "labctl", dir, "labctl"},
		{"run by a path that PATH also finds", bin, dir, "labctl"},
		{"run by a path that PATH does not find", bin, empty, bin},
		{"another labctl first on PATH", bin, other + string(filepath.ListSeparator) + dir, bin},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("PATH", tc.path)
			if got := invokedAs(tc.arg0); got != tc.want {
				t.Errorf("invokedAs(%q) with PATH=%s = %q, want %q", tc.arg0, tc.path, got, tc.want)
			}
		})
	}
}

// A lab that is not up: the error says where labs were looked for, the flag
// that names another place, and how to list what is up. Every command that
// takes a lab says it the same way.
func TestLabNotUpSaysWhere(t *testing.T) {
	root := t.TempDir()
	t.Setenv("LABCTL_STATE_DIR", root)
	for _, args := range [][]string{{"status", "etcd3"}, {"kubectl", "etcd3", "--", "get", "nodes"}, {"ssh", "etcd3", "node1"}, {"console", "etcd3", "node1"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			cmd := newRootCmd()
			cmd.SetArgs(args)
			cmd.SetOut(io.Discard)
			err := cmd.Execute()
			want := "lab etcd3 is not up (labs are looked for in " + root + "): --state-dir (or LABCTL_STATE_DIR) names another place; "
			if err == nil || !strings.HasPrefix(err.Error(), want) || !strings.HasSuffix(err.Error(), " ls lists the labs there") {
				t.Fatalf("labctl %v: %v\nwant %q... ls lists the labs there", args, err, want)
			}
		})
	}
}

// kubectl runs the kubectl of the version the lab recorded; a lab that
// recorded none (made before labs recorded it) is refused naming the flag.
func TestKubectlNeedsTheLabsVersion(t *testing.T) {
	root := t.TempDir()
	t.Setenv("LABCTL_STATE_DIR", root)
	sc, err := scenario.Find("pxe-smoke")
	if err != nil {
		t.Fatal(err)
	}
	st := &state.State{Source: "pxe-smoke", Lab: sc.Lab(state.Dir(root, sc.Name), "labctl-pxe-smoke"), Provider: "qemu", Phase: state.Running}
	if err := state.Create(st); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(st.Lab.Kubeconfig(), []byte("apiVersion: v1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := newRootCmd()
	cmd.SetArgs([]string{"kubectl", "pxe-smoke", "--", "get", "nodes"})
	cmd.SetOut(io.Discard)
	err = cmd.Execute()
	if want := "lab pxe-smoke records no Kubernetes version: give --kubernetes-version"; err == nil || err.Error() != want {
		t.Fatalf("kubectl: %v, want %q", err, want)
	}
}
