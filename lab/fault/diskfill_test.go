package fault

import (
	"bufio"
	"context"
	"errors"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/labctl/labctl/internal/testenv"
	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/lab/scenario"
)

// mountShell runs commands in a mount namespace of its own that holds a
// small filesystem at /mnt/labctl-fill, as a machine's shell would: the
// fill happens on a real filesystem, and nothing of it is seen outside.
type mountShell struct{ pid int }

func (s mountShell) Run(ctx context.Context, _ lab.Machine, cmd string) (string, int, error) {
	out, err := exec.CommandContext(ctx, "nsenter", "-t", strconv.Itoa(s.pid), "-m", "bash", "-c", cmd).CombinedOutput()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return string(out), exit.ExitCode(), nil
	}
	return string(out), 0, err
}

// newMountShell mounts a filesystem at /mnt/labctl-fill with mount (a
// command that ends in the mount point) in a mount namespace of its own.
func newMountShell(t *testing.T, mount string) mountShell {
	testenv.Privileged(t, "mounts a filesystem in a mount namespace of its own")
	testenv.Tool(t, "unshare", "util-linux")
	testenv.Tool(t, "fallocate", "util-linux")
	script := "mkdir -p /mnt/labctl-fill && " + mount + " /mnt/labctl-fill && echo ready && exec sleep infinity"
	cmd := exec.Command("unshare", "-m", "--propagation", "private", "sh", "-c", script)
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	if line, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || line != "ready\n" {
		t.Fatalf("mount namespace: %q, %v", line, err)
	}
	return mountShell{pid: cmd.Process.Pid}
}

// TestDiskFill fills real filesystems full (a write by root fails, on ext4
// too, whose blocks reserved for root df does not count as available) and
// to a percentage (df says so), and empties them again when healed.
func TestDiskFill(t *testing.T) {
	img := t.TempDir() + "/ext4.img"
	for _, fs := range []struct{ name, mount string }{
		{"tmpfs", "mount -t tmpfs -o size=8m tmpfs"},
		// A loop device: detached with the namespace's mount (autoclear).
		{"ext4", "truncate -s 32M " + img + " && mkfs.ext4 -q -F " + img + " && mount -o loop " + img},
	} {
		t.Run(fs.name, func(t *testing.T) {
			if fs.name == "ext4" {
				testenv.Tool(t, "mkfs.ext4", "e2fsprogs")
			}
			testDiskFill(t, newMountShell(t, fs.mount))
		})
	}
}

func testDiskFill(t *testing.T, sh mountShell) {
	l := &lab.Lab{Name: "t", Machines: []lab.Machine{{Name: "a"}}}
	env := Env{Lab: l, Shell: sh}
	ctx := context.Background()
	write := func() (string, int) {
		out, status, err := sh.Run(ctx, lab.Machine{}, "echo x > /mnt/labctl-fill/written")
		if err != nil {
			t.Fatal(err)
		}
		return out, status
	}
	used := func() int {
		out, _, _ := sh.Run(ctx, lab.Machine{}, "df --output=pcent /mnt/labctl-fill | tail -1 | tr -dc 0-9")
		n, _ := strconv.Atoi(out)
		return n
	}

	full := scenario.Fault{Kind: scenario.FaultDiskFill, Machines: []string{"a"}, Path: "/mnt/labctl-fill"}
	if err := Inject(ctx, env, "full-a", full); err != nil {
		t.Fatal(err)
	}
	if out, status := write(); status == 0 || !strings.Contains(out, "No space left on device") {
		t.Errorf("a write to a full filesystem: status %d, %q; want no space left", status, out)
	}
	if err := Heal(ctx, env, "full-a", full); err != nil {
		t.Fatal(err)
	}
	if err := Heal(ctx, env, "full-a", full); err != nil {
		t.Errorf("healing twice: %v", err)
	}
	if out, status := write(); status != 0 {
		t.Errorf("healed, a write fails: %s", out)
	}
	if got := used(); got > 5 {
		t.Errorf("healed, the filesystem is %d%% used", got)
	}

	half := scenario.Fault{Kind: scenario.FaultDiskFill, Machines: []string{"a"}, Path: "/mnt/labctl-fill", Percent: 60}
	if err := Inject(ctx, env, "half-a", half); err != nil {
		t.Fatal(err)
	}
	if got := used(); got < 60 || got > 70 {
		t.Errorf("filled to 60%%, df says %d%%", got)
	}
	if out, status := write(); status != 0 {
		t.Errorf("a write to a filesystem filled to 60%%: %s", out)
	}
	if err := Heal(ctx, env, "half-a", half); err != nil {
		t.Fatal(err)
	}
	if got := used(); got > 5 {
		t.Errorf("healed, the filesystem is %d%% used", got)
	}

	// A path that is no directory fails naming it, and leaves nothing.
	bad := scenario.Fault{Kind: scenario.FaultDiskFill, Machines: []string{"a"}, Path: "/mnt/labctl-fill/none"}
	if err := Inject(ctx, env, "bad", bad); err == nil || !strings.Contains(err.Error(), "a: fill /mnt/labctl-fill/none: exit status 2: no directory /mnt/labctl-fill/none") {
		t.Errorf("fill of a missing directory: %v", err)
	}
}
