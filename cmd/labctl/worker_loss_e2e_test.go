package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// testWorkerLoss runs k8s-worker-loss's steps on the lab TestE2EK8sInstall
// brought up (make test-k8s): worker2 powered off through its BMC is
// NotReady within the deadline and the pods of a workload spread over both
// workers run on worker1; powered on again, worker2 is Ready.
func testWorkerLoss(t *testing.T, ctx context.Context, e *e2eEnv) {
	junit := filepath.Join(t.TempDir(), "junit.xml")
	out, err := e.run(ctx, "verify", "k8s-install", "--steps-from", "k8s-worker-loss", "--junit", junit)
	t.Logf("labctl verify k8s-install --steps-from k8s-worker-loss:\n%s", out)
	if err != nil {
		t.Fatalf("labctl verify k8s-install --steps-from k8s-worker-loss: %v", err)
	}
	for _, want := range []string{
		"cp1        check power-off-worker2/workload-on-both-workers passed",
		"step power-off-worker2: fault power-off worker2 took effect",
		"cp1        check power-off-worker2/worker2-notready passed",
		"cp1        check power-off-worker2/pods-on-worker1 passed",
		"cp1        check power-off-worker2/worker2-ready passed",
		"scenario k8s-worker-loss: all 1 steps passed (recovery: power-off-worker2 ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("verify --steps-from k8s-worker-loss: output lacks %q", want)
		}
	}
	raw, _ := os.ReadFile(junit)
	if !regexp.MustCompile(`<testcase name="step/power-off-worker2" classname="k8s-install" time="[0-9.]+"`).Match(raw) || !strings.Contains(string(raw), `failures="0"`) {
		t.Errorf("junit.xml does not record the passed step with its recovery time:\n%s", raw)
	}
}
