package vmtest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/labctl/labctl/lab/proc"
)

// TPMNVIndex is the NV index WriteTPMValue writes into a TPM.
const TPMNVIndex = "0x1500016"

// withSwtpm runs a swtpm of its own on the TPM state directory dir (no
// QEMU holds it) and calls fn with the TCTI that tpm2-tools reach it by;
// the swtpm is shut down (its state written) before withSwtpm returns.
func withSwtpm(t *testing.T, dir string, fn func(tcti string)) {
	t.Helper()
	for _, tool := range []string{"swtpm", "swtpm_ioctl", "tpm2_nvdefine", "tpm2_nvwrite", "tpm2_nvread"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s: %v (install Debian's swtpm, swtpm-tools and tpm2-tools)", tool, err)
		}
	}
	// A short directory: socket paths have a length limit.
	run, err := os.MkdirTemp("", "swtpm")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(run)
	sock, pidFile := filepath.Join(run, "tpm.sock"), filepath.Join(run, "pid")
	cmd := exec.Command("swtpm", "socket", "--tpm2", "--tpmstate", "dir="+dir,
		"--server", "type=unixio,path="+sock, "--ctrl", "type=unixio,path="+sock+".ctrl",
		"--flags", "not-need-init,startup-clear", "--pid", "file="+pidFile)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	defer func() {
		exec.Command("swtpm_ioctl", "--unix", sock+".ctrl", "-s").Run()
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-exited
			t.Errorf("swtpm on %s did not shut down", dir)
		}
	}()
	// It writes its pid file once it listens.
	for deadline := time.Now().Add(10 * time.Second); proc.ReadPidFile(pidFile) != cmd.Process.Pid; {
		select {
		case <-exited:
			t.Fatalf("swtpm on %s exited: %s", dir, out.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("swtpm on %s not listening after 10s", dir)
		}
	}
	fn("swtpm:path=" + sock)
}

// tpm2 runs a tpm2-tools command against tcti.
func tpm2(t *testing.T, tcti string, stdin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), "TPM2TOOLS_TCTI="+tcti)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// WriteTPMValue stores value in an NV index of the TPM whose state is in
// dir (made if need be), as a guest would keep a secret in its TPM.
func WriteTPMValue(t *testing.T, dir, value string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	withSwtpm(t, dir, func(tcti string) {
		tpm2(t, tcti, "", "tpm2_nvdefine", TPMNVIndex, "-C", "o", "-s", fmt.Sprint(len(value)), "-a", "ownerread|ownerwrite")
		tpm2(t, tcti, value, "tpm2_nvwrite", TPMNVIndex, "-C", "o", "-i", "-")
	})
}

// ReadTPMValue reads back what WriteTPMValue stored, from the TPM whose
// state is in dir.
func ReadTPMValue(t *testing.T, dir string, size int) string {
	t.Helper()
	var got string
	withSwtpm(t, dir, func(tcti string) {
		got = tpm2(t, tcti, "", "tpm2_nvread", TPMNVIndex, "-C", "o", "-s", fmt.Sprint(size))
	})
	return got
}
