package control

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/labctl/labctl/images/k8s"
	"github.com/labctl/labctl/internal/testenv"
	"github.com/labctl/labctl/lab/netns"
	"github.com/labctl/labctl/lab/proc"
	"github.com/labctl/labctl/lab/scenario"
	"github.com/labctl/labctl/lab/state"
)

// foreignNetns makes a namespace with a bridge in it, as a user or another
// lab would, outside labctl.
func foreignNetns(t *testing.T) string {
	t.Helper()
	testenv.Privileged(t, "makes network namespaces")
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

// listing is every path under root.
func listing(t *testing.T, root string) []string {
	t.Helper()
	var paths []string
	filepath.WalkDir(root, func(p string, _ os.DirEntry, err error) error {
		paths = append(paths, p)
		return err
	})
	return paths
}

// TestUpRefuses gives Up what it must refuse: each refusal names what is
// wrong, and comes before any image is built or anything is written.
func TestUpRefuses(t *testing.T) {
	testenv.Root(t, "Up and Down refuse without it")
	tests := []struct {
		name  string
		o     UpOptions
		setup func(t *testing.T, o *UpOptions) // before Up, in o.StateRoot
		want  string
	}{
		{name: "unknown scenario", o: UpOptions{Source: "no-such-scenario", Provider: "qemu"}, want: `no scenario "no-such-scenario"`},
		{name: "unknown provider", o: UpOptions{Source: "pxe-smoke", Provider: "bogus"}, want: `unknown provider "bogus"`},
		{name: "unknown accelerator", o: UpOptions{Source: "pxe-smoke", Provider: "qemu", Accel: "hvf"}, want: `accelerator "hvf" is neither kvm nor tcg`},
		{name: "namespace name with a path separator", o: UpOptions{Source: "pxe-smoke", Provider: "qemu", Netns: "../x"},
			want: `network namespace name "../x" contains a path separator`},
		{name: "lab already up", o: UpOptions{Source: "pxe-smoke", Provider: "qemu", Netns: "labctl-trust-unused"},
			setup: func(t *testing.T, o *UpOptions) {
				st, _ := pxeSmoke(t, o.StateRoot, "labctl-trust-other")
				if err := state.Create(st); err != nil {
					t.Fatal(err)
				}
			}, want: "lab pxe-smoke is already up"},
		{name: "namespace exists", o: UpOptions{Source: "pxe-smoke", Provider: "qemu"},
			setup: func(t *testing.T, o *UpOptions) { o.Netns = foreignNetns(t) }, want: " already exists"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := tt.o
			o.StateRoot, o.CacheDir, o.Self = t.TempDir(), t.TempDir(), "/nonexistent/labctl"
			var ev events
			o.Report = &ev
			if tt.setup != nil {
				tt.setup(t, &o)
			}
			before := listing(t, o.StateRoot)
			l, err := Up(context.Background(), o)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Up = %v, want an error containing %q", err, tt.want)
			}
			if l != nil {
				t.Errorf("Up returned a lab for a refusal: %+v", l.State)
			}
			if got := ev.all(); len(got) > 0 {
				t.Errorf("reported before refusing: %q", got)
			}
			if after := listing(t, o.StateRoot); !slices.Equal(after, before) {
				t.Errorf("state root changed by a refusal: %q, was %q", after, before)
			}
			if left, _ := os.ReadDir(o.CacheDir); len(left) > 0 {
				t.Errorf("cache written by a refusal: %v", left)
			}
			if o.Netns != "" && netns.Exists(o.Netns) && tt.name == "namespace exists" {
				assertForeignIntact(t, o.Netns)
			}
		})
	}
}

// TestDown takes labs down from state files alone: it removes what the
// state records this lab made, and nothing else.
func TestDown(t *testing.T) {
	testenv.Root(t, "Up and Down refuse without it")
	type lab struct {
		st     *state.State
		others []int // processes that are not this lab's: they must survive
		ours   []int // this lab's processes: they must be gone
	}
	tests := []struct {
		name    string
		netns   bool // the test makes network namespaces
		prepare func(t *testing.T, st *state.State) lab
	}{
		{name: "up failed before it made anything", prepare: func(t *testing.T, st *state.State) lab {
			return lab{st: st}
		}},
		{name: "its own lab process is stopped", prepare: func(t *testing.T, st *state.State) lab {
			st.Pids = map[string]int{"labd": helper(t, nil, DaemonCommand, st.Lab.Dir)}
			return lab{st: st, ours: []int{st.Pids["labd"]}}
		}},
		{name: "recorded pids now held by other processes are left", prepare: func(t *testing.T, st *state.State) lab {
			st.MadeNetns = true
			st.Pids = map[string]int{"labd": helper(t, nil, "not-this-lab"), "dnsmasq": helper(t, nil, "not-this-lab-either")}
			return lab{st: st, others: []int{st.Pids["labd"], st.Pids["dnsmasq"]}}
		}},
		{name: "a helper outside the lab's namespace is left", prepare: func(t *testing.T, st *state.State) lab {
			// Its command line names the lab, but it lives in the root
			// namespace: not something this lab started.
			st.MadeNetns = true
			st.Pids = map[string]int{"dnsmasq": helper(t, nil, "--conf-file="+st.Lab.Dir+"/dnsmasq.conf")}
			return lab{st: st, others: []int{st.Pids["dnsmasq"]}}
		}},
		{name: "a namespace it did not make is left", netns: true, prepare: func(t *testing.T, st *state.State) lab {
			st.Lab.Netns = foreignNetns(t) // as if another up had raced it in before ours
			t.Cleanup(func() { assertForeignIntact(t, st.Lab.Netns) })
			return lab{st: st}
		}},
		{name: "the namespace it made goes, with what runs in it", netns: true, prepare: func(t *testing.T, st *state.State) lab {
			if err := netns.Create(context.Background(), st.Lab.Netns); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { netns.Delete(context.Background(), st.Lab.Netns) })
			st.MadeNetns = true
			inside := []string{"ip", "netns", "exec", st.Lab.Netns}
			st.Pids = map[string]int{"dnsmasq": helper(t, inside, "--conf-file="+st.Lab.Dir+"/dnsmasq.conf")}
			unrecorded := helper(t, inside, "started-by-the-lab")
			t.Cleanup(func() {
				if netns.Exists(st.Lab.Netns) {
					t.Errorf("namespace %s is left", st.Lab.Netns)
				}
			})
			return lab{st: st, ours: []int{st.Pids["dnsmasq"], unrecorded}}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.netns {
				testenv.Privileged(t, "makes network namespaces")
			}
			root := t.TempDir()
			st, _ := pxeSmoke(t, root, fmt.Sprintf("trust-down-%d", os.Getpid()))
			l := tt.prepare(t, st)
			if err := state.Create(l.st); err != nil {
				t.Fatal(err)
			}
			var ev events
			if err := Down(context.Background(), l.st.Lab.Dir, &ev); err != nil {
				t.Fatalf("Down: %v", err)
			}
			if _, err := os.Stat(l.st.Lab.Dir); !os.IsNotExist(err) {
				t.Errorf("lab directory left: %v", err)
			}
			for _, pid := range l.others {
				if !proc.Alive(pid) {
					t.Errorf("pid %d, not this lab's, was killed", pid)
				}
			}
			for _, pid := range l.ours {
				if proc.Alive(pid) {
					t.Errorf("pid %d, this lab's, still runs", pid)
				}
			}
			// Down is idempotent: a second finds the lab not up.
			if err := Down(context.Background(), l.st.Lab.Dir, &ev); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("second Down = %v, want one matching os.ErrNotExist", err)
			}
			if down, err := DownAll(context.Background(), root, &ev); err != nil || len(down) > 0 {
				t.Errorf("DownAll after Down = %v, %v; want nothing to do", down, err)
			}
		})
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

// The Kubernetes version a lab records is the one its scenario's images
// hold: pinned in scenario.yaml, or the default a k8s image is built with.
func TestKubernetesVersion(t *testing.T) {
	pinned := t.TempDir()
	if err := os.CopyFS(pinned, os.DirFS("../../scenarios/k8s")); err != nil {
		t.Fatal(err)
	}
	y := filepath.Join(pinned, "scenario.yaml")
	raw, _ := os.ReadFile(y)
	raw = []byte(strings.Replace(string(raw), "images: [labos-k8s]", "images: [{name: labos-k8s, versions: {kubernetes: v1.33.7}}]", 1))
	if err := os.WriteFile(y, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	for src, want := range map[string]string{"k8s": k8s.DefaultVersion, pinned: "v1.33.7", "pxe-smoke": ""} {
		sc, err := scenario.Find(src)
		if err != nil {
			t.Fatal(err)
		}
		if got := kubernetesVersion(sc); got != want {
			t.Errorf("%s: Kubernetes %q, want %q", src, got, want)
		}
	}
}

// A lab that is not up is an error saying where labs were looked for.
func TestLoadNotUp(t *testing.T) {
	root := t.TempDir()
	_, err := Load(root, "etcd3")
	if want := "lab etcd3 is not up (labs are looked for in " + root + ")"; err == nil || err.Error() != want || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Load: %v, want %q matching os.ErrNotExist", err, want)
	}
}

// A missing inventory is an error that carries the field, for the CLI to
// name its flag; control names no flag.
func TestBMCClientsWithoutInventory(t *testing.T) {
	_, err := BMCClients("", []string{"node1"})
	var m *MissingError
	if !errors.As(err, &m) || m.Field != "inventory" {
		t.Fatalf("BMCClients without an inventory = %v, want a MissingError for inventory", err)
	}
}
