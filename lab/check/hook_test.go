package check

import (
	"context"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/lab/scenario"
	"github.com/labctl/labctl/lab/sshkeys"
)

// TestRunHook runs reprovision hooks over a real sshd: a hook on a named
// node sees every machine of the batch in LABCTL_MACHINES and is retried
// until it succeeds; one that never succeeds fails at its timeout, naming
// the node, the exit status and its output.
func TestRunHook(t *testing.T) {
	keys, err := sshkeys.LoadOrCreate(t.TempDir(), []string{"cp1", "w1", "w2"})
	if err != nil {
		t.Fatal(err)
	}
	port := startSSHD(t, keys, "cp1", "127.0.0.1", 0)
	loopback := netip.MustParseAddr("127.0.0.1")
	l := &lab.Lab{Name: "t", Machines: []lab.Machine{{Name: "cp1", IP: loopback}, {Name: "w1", IP: loopback}, {Name: "w2", IP: loopback}}}
	sh := &SSH{Keys: keys, Dial: (&net.Dialer{}).DialContext, Port: port}
	dir := t.TempDir()
	seen, flag := filepath.Join(dir, "seen"), filepath.Join(dir, "flag")
	ctx := context.Background()

	// Succeeds on its second attempt: the first leaves the flag.
	drain := scenario.Hook{Node: "cp1", Run: `echo "$LABCTL_MACHINES" >` + seen + `; test -e ` + flag + ` || { touch ` + flag + `; exit 3; }; echo drained`}
	out, err := RunHook(ctx, sh, l, drain, []string{"w1", "w2"}, 50*time.Millisecond)
	if err != nil {
		t.Fatalf("RunHook: %v", err)
	}
	if len(out) != 1 || strings.TrimSpace(out["cp1"]) != "drained" {
		t.Errorf("outputs %q, want cp1's: drained", out)
	}
	if b, _ := os.ReadFile(seen); strings.TrimSpace(string(b)) != "w1 w2" {
		t.Errorf("the hook saw LABCTL_MACHINES=%q, want %q", b, "w1 w2")
	}

	never := scenario.Hook{Node: "cp1", Run: "echo node w1 is not drained; exit 7", Timeout: scenario.Duration(10 * time.Second)} // complete attempts even when sshd is slow under load
	_, err = RunHook(ctx, sh, l, never, []string{"w1"}, 50*time.Millisecond)
	for _, want := range []string{"cp1: ", "exit status 7", "node w1 is not drained"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want it to contain %q", err, want)
		}
	}

	if _, err := RunHook(ctx, sh, l, scenario.Hook{Node: "cp9", Run: "true"}, []string{"w1"}, time.Millisecond); err == nil || !strings.Contains(err.Error(), "cp9") {
		t.Errorf("a hook on no machine: err = %v, want one naming cp9", err)
	}
}
