package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/labctl/labctl/internal/testenv"
)

// copyScenario copies the built-in scenario from into a directory of the
// test's, renamed to name so that its lab is another lab.
func copyScenario(t *testing.T, from, name string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	if err := os.CopyFS(dir, os.DirFS(filepath.Join("../../scenarios", from))); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "scenario.yaml")
	raw, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	old := "name: " + from + "\n"
	if !strings.HasPrefix(string(raw), old) && !strings.Contains(string(raw), "\n"+old) {
		t.Fatalf("%s lacks %q: the copy cannot be renamed", p, old)
	}
	if err := os.WriteFile(p, []byte(strings.Replace(string(raw), old, "name: "+name+"\n", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// Bad flags and selections are refused naming the flag or the scenario,
// before anything is made: no artifacts directory, no output.
func TestTestRefusals(t *testing.T) {
	t.Setenv("LABCTL_STATE_DIR", t.TempDir())
	same := copyScenario(t, "pxe-smoke", "pxe-smoke")
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--all", "pxe-smoke"}, `--all: given with SCENARIO arguments (pxe-smoke): give one or the other`},
		{[]string{"--all", "--shard", "3"}, `--shard: "3" is not I/N (share I of N, for example 2/4)`},
		{[]string{"--all", "--shard", "two/4"}, `--shard: "two/4": I and N are whole numbers (share I of N, for example 2/4)`},
		{[]string{"--all", "--shard", "0/2"}, `--shard: "0/2": I is 0, it must be from 1 to 2`},
		{[]string{"--all", "--shard", "3/2"}, `--shard: "3/2": I is 3, it must be from 1 to 2`},
		{[]string{"--all", "--shard", "1/0"}, `--shard: "1/0": N is 0, it must be at least 1`},
		{[]string{"pxe-smoke", "etcd3", "--parallel", "0"}, `--parallel: 0: at least one lab at a time`},
		{[]string{"pxe-smoke", "--parallel", "-2"}, `--parallel: -2: at least one lab at a time`},
		{[]string{"pxe-smoke", "etcd3", "--netns", "mine"}, `--netns: names one lab's namespace and this run has several; --netns-prefix P gives each lab P-SCENARIO`},
		{[]string{"--all", "--netns", "mine"}, `--netns: names one lab's namespace and this run has several; --netns-prefix P gives each lab P-SCENARIO`},
		{[]string{"pxe-smoke", "etcd3", "--netns-prefix", "a/b"}, `--netns-prefix: network namespace name "a/b" contains a path separator`},
		{[]string{"pxe-smoke", "etcd3", "pxe-smoke"}, `scenario pxe-smoke is given twice`},
		{[]string{"pxe-smoke", "no-such-scenario"}, `no-such-scenario`},
		{[]string{"pxe-smoke", same}, same + " and pxe-smoke are both scenario pxe-smoke: two labs of one name cannot be up at once"}, // in sorted order
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			art := filepath.Join(t.TempDir(), "art")
			var out bytes.Buffer
			cmd := newRootCmd()
			cmd.SetArgs(append([]string{"test", "--provider", "qemu", "--artifacts", art}, tt.args...))
			cmd.SetOut(&out)
			cmd.SetErr(&out)
			err := cmd.Execute()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("labctl test %v: %v, want an error containing %q", tt.args, err, tt.want)
			}
			if out.Len() != 0 {
				t.Errorf("output before the refusal:\n%s", out.String())
			}
			if _, err := os.Stat(art); err == nil {
				t.Errorf("refused, yet %s was made", art)
			}
		})
	}
}

// A namespace that exists is refused naming the flag that chooses another:
// --netns for one lab, --netns-prefix for a run of several.
func TestExistingNetnsNamesTheFlag(t *testing.T) {
	testenv.Privileged(t, "creates a network namespace")
	t.Setenv("LABCTL_STATE_DIR", t.TempDir())
	prefix := fmt.Sprintf("lt-shard-%d", os.Getpid())
	for _, name := range []string{prefix, prefix + "-etcd3"} {
		if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
			t.Fatalf("ip netns add %s: %v: %s", name, err, out)
		}
		t.Cleanup(func() { exec.Command("ip", "netns", "delete", name).Run() })
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"up", "pxe-smoke", "--provider", "qemu", "--netns", prefix},
			"network namespace " + prefix + " already exists (another lab's, or made outside labctl); labctl only uses a namespace it creates: choose another --netns"},
		{[]string{"test", "pxe-smoke", "--provider", "qemu", "--netns", prefix, "--artifacts", t.TempDir()},
			"network namespace " + prefix + " already exists (another lab's, or made outside labctl); labctl only uses a namespace it creates: choose another --netns"},
		{[]string{"test", "pxe-smoke", "etcd3", "--provider", "qemu", "--netns-prefix", prefix, "--artifacts", t.TempDir()},
			"scenario etcd3: network namespace " + prefix + "-etcd3 already exists (another lab's, or made outside labctl); labctl only uses a namespace it creates: --netns-prefix gives each lab another"},
	} {
		t.Run(strings.Join(tt.args[:2], " "), func(t *testing.T) {
			cmd := newRootCmd()
			cmd.SetArgs(tt.args)
			var out bytes.Buffer
			cmd.SetOut(&out)
			err := cmd.Execute()
			if err == nil || err.Error() != tt.want {
				t.Fatalf("labctl %v:\n got %v\nwant %s", tt.args, err, tt.want)
			}
		})
	}
}

// --list prints a run's selection and makes nothing: what CI uses to fetch
// the images its share needs. --all leaves out the scenarios whose images
// are fetched, and the shares of a list together hold it once.
func TestTestList(t *testing.T) {
	t.Setenv("LABCTL_STATE_DIR", t.TempDir())
	list := func(args ...string) string {
		t.Helper()
		var out bytes.Buffer
		cmd := newRootCmd()
		cmd.SetArgs(append([]string{"test", "--list"}, args...))
		cmd.SetOut(&out)
		if err := cmd.Execute(); err != nil {
			t.Fatalf("labctl test --list %v: %v", args, err)
		}
		return out.String()
	}
	if got, want := list("--all"), "boot-matrix\netcd-large\netcd3\netcd3-install\netcd3-ipv6\nk8s\nk8s-install\npxe-smoke\n"; got != want {
		t.Errorf("--all --list = %q, want %q", got, want)
	}
	if got, want := list("--all", "--shard", "2/2"), "etcd-large\netcd3-install\nk8s\npxe-smoke\n"; got != want {
		t.Errorf("--all --shard 2/2 --list = %q, want %q", got, want)
	}
	given := []string{"pxe-smoke", "fcos-etcd3", "etcd3", "flatcar-etcd3"}
	if got, want := list(append(given, "--shard", "1/2")...), "etcd3\nflatcar-etcd3\n"; got != want {
		t.Errorf("shard 1/2 of %v = %q, want %q", given, got, want)
	}
	if got, want := list("flatcar-etcd3", "pxe-smoke", "etcd3", "fcos-etcd3", "--shard", "2/2"), "fcos-etcd3\npxe-smoke\n"; got != want {
		t.Errorf("shard 2/2 = %q, want %q", got, want)
	}
}
