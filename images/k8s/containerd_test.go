package k8s

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/labctl/labctl/internal/testenv"
)

// TestImagesRunUnderDebianContainerd builds the pause and labhello archives
// and has the runtime the nodes use (Debian's containerd 1.6 and runc)
// import them with the native snapshotter and run labhello: the archives
// are proven on their real consumer, not on a reader of our own.
func TestImagesRunUnderDebianContainerd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds two Go programs and starts containerd")
	}
	testenv.Tool(t, "containerd", "containerd")
	testenv.Tool(t, "ctr", "containerd")
	testenv.Tool(t, "runc", "runc")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	os.MkdirAll(out, 0o755)
	if err := buildImages(ctx, dir, out, Options{Go: goCommand()}); err != nil {
		t.Fatal(err)
	}

	// A private containerd: own root, state, socket; CRI off (no kubelet).
	sock := filepath.Join(dir, "containerd.sock")
	conf := filepath.Join(dir, "config.toml")
	os.WriteFile(conf, []byte("version = 2\ndisabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n"), 0o644)
	daemon := exec.Command("containerd", "--config", conf, "--root", filepath.Join(dir, "root"),
		"--state", filepath.Join(dir, "state"), "--address", sock)
	logf, _ := os.Create(filepath.Join(dir, "containerd.log"))
	daemon.Stdout, daemon.Stderr = logf, logf
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { daemon.Process.Signal(os.Interrupt); daemon.Wait() })
	// Not ctx: cleanups run after it is cancelled.
	ctr := func(args ...string) (string, error) {
		c := exec.Command("ctr", append([]string{"--address", sock, "--namespace", "labctl-test"}, args...)...)
		b, err := c.CombinedOutput()
		return string(b), err
	}
	for i := 0; ; i++ {
		if _, err := ctr("version"); err == nil {
			break
		} else if i == 100 {
			raw, _ := os.ReadFile(logf.Name())
			t.Fatalf("containerd did not answer: %v\n%s", err, raw)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, a := range []string{PauseArchive, HelloArchive} {
		if o, err := ctr("images", "import", "--snapshotter", "native", filepath.Join(out, a)); err != nil {
			t.Fatalf("import %s: %v\n%s", a, err, o)
		}
	}
	list, _ := ctr("images", "ls", "-q")
	for _, ref := range []string{PauseRef, HelloRef} {
		if !strings.Contains(list, ref) {
			t.Fatalf("imported images %q lack %s", list, ref)
		}
	}
	name := fmt.Sprintf("labhello-%d", os.Getpid())
	// The container's own cgroup path, which runc removes with it: by
	// default it would sit under one named for the namespace, which
	// nothing removes.
	if o, err := ctr("run", "-d", "--snapshotter", "native", "--cgroup", "/"+name, HelloRef, name); err != nil {
		t.Fatalf("run labhello: %v\n%s", err, o)
	}
	t.Cleanup(func() {
		// Deleting the task ends its shim, which outlives containerd.
		ctr("tasks", "kill", "-s", "KILL", name)
		for i := 0; i < 100; i++ {
			if _, err := ctr("tasks", "rm", "-f", name); err == nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		ctr("containers", "rm", name)
		left, _ := filepath.Glob("/sys/fs/cgroup/*/" + name)
		if _, err := os.Stat("/sys/fs/cgroup/" + name); err == nil {
			left = append(left, "/sys/fs/cgroup/"+name)
		}
		if len(left) > 0 {
			t.Errorf("the container's cgroups outlived it: %v", left)
		}
	})
	// A second labhello in the container cannot bind the port the first
	// holds: both ran, as user 65534, inside the container's namespaces.
	var o string
	for i := 0; i < 50; i++ {
		o, _ = ctr("tasks", "exec", "--exec-id", "probe", name, "/labhello")
		if strings.Contains(o, "address already in use") {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("exec of a second labhello said %q, want address already in use", o)
}
