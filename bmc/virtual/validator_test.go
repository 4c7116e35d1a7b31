package virtual_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/labctl/labctl/bmc/virtual"
	"github.com/labctl/labctl/bmc/virtual/virtualtest"
	"github.com/labctl/labctl/internal/testenv"
	"github.com/labctl/labctl/lab/netns"
)

// TestProtocolValidator runs DMTF's Redfish Protocol Validator, from the
// checkout named by LABCTL_RPV_DIR, against a virtual BMC inside a network
// namespace made for it, and fails on any failed assertion.
// LABCTL_RPV_PYTHONPATH is the validator's PYTHONPATH (shims of modules
// Debian lacks), LABCTL_RPV_REPORTS where its reports go and
// LABCTL_RPV_PYTHON its interpreter (/usr/bin/python3);
// scripts/redfish-validator.sh sets them. The validator is not part of the
// project, so the test is skipped without it.
func TestProtocolValidator(t *testing.T) {
	dir := os.Getenv("LABCTL_RPV_DIR")
	if dir == "" {
		t.Skip("LABCTL_RPV_DIR (a Redfish-Protocol-Validator checkout) not set; see scripts/redfish-validator.sh")
	}
	testenv.Privileged(t, "serves the BMC in a network namespace")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	ns := fmt.Sprintf("labctl-redfish-rpv-%d", os.Getpid())
	if err := netns.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { netns.Delete(context.Background(), ns) })

	cert, caPEM, err := virtualtest.NewCertificate("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	caFile := filepath.Join(tmp, "ca.pem")
	if err := os.WriteFile(caFile, caPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	ln, err := netns.Listen(ns, "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	systems := []*virtual.System{
		// UEFI: the system the validator reads offers UefiHttp and HttpBootUri.
		{Name: "node1", UUID: testUUID, Machine: virtualtest.NewVM(), UEFI: true},
		{Name: "node2", UUID: "0b6c3f1e-7a2d-4c5e-9f80-1a2b3c4d5e6f", Machine: virtualtest.NewVM()},
	}
	sctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- virtual.ServeRedfish(sctx, ln, cert, systems, testCred) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("ServeRedfish: %v", err)
		}
	})

	reports := filepath.Join(tmp, "reports")
	if d := os.Getenv("LABCTL_RPV_REPORTS"); d != "" {
		reports = d
	}
	python := os.Getenv("LABCTL_RPV_PYTHON")
	if python == "" {
		python = "/usr/bin/python3"
	}
	cmd := netns.Command(ctx, ns, python, filepath.Join(dir, "rf_protocol_validator.py"),
		"--user", testCred.Username, "--password", testCred.Password,
		"--rhost", "https://"+ln.Addr().String(), "--ca-bundle", caFile,
		"--report-dir", reports, "--report-type", "tsv")
	cmd.Dir = dir
	cmd.Env = envWithout("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "PYTHONPATH")
	if p := os.Getenv("LABCTL_RPV_PYTHONPATH"); p != "" {
		cmd.Env = append(cmd.Env, "PYTHONPATH="+p)
	}
	// The validator exits 1 when an assertion failed: its summary says more.
	out, err := cmd.CombinedOutput()
	t.Logf("validator output:\n%s", out)
	m := regexp.MustCompile(`PASS: (\d+), WARN: (\d+), FAIL: (\d+), NOT_TESTED: (\d+)`).FindSubmatch(stripANSI(out))
	if m == nil {
		t.Fatalf("validator: %v; no summary in its output", err)
	}
	t.Logf("summary: PASS %s, WARN %s, FAIL %s, NOT_TESTED %s", m[1], m[2], m[3], m[4])
	tsvs, _ := filepath.Glob(filepath.Join(reports, "*.tsv"))
	for _, f := range tsvs {
		b, _ := os.ReadFile(f)
		for _, line := range strings.Split(string(b), "\n") {
			if strings.Contains(line, "\tFAIL\t") || strings.Contains(line, "\tWARN\t") {
				t.Log(line)
			}
		}
	}
	if string(m[3]) != "0" {
		t.Errorf("%s failed assertions (listed above)", m[3])
	}
}

var ansi = regexp.MustCompile(`\x1b\[[0-9;]*m`)

func stripANSI(b []byte) []byte { return ansi.ReplaceAll(b, nil) }
