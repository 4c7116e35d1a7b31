package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// k8sArtifacts is where a Kubernetes test's `labctl test` puts its
// artifacts: under $LABCTL_E2E_ARTIFACTS when set (they outlive the test: a
// 20-minute run that fails is diagnosed from them), else a temporary dir.
func k8sArtifacts(t *testing.T) string {
	root := os.Getenv("LABCTL_E2E_ARTIFACTS")
	if root == "" {
		return t.TempDir()
	}
	dir := filepath.Join(root, t.Name())
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestE2EK8sInstall installs labos-k8s on three machines, converges a TLS
// Kubernetes cluster from disk, verifies it (workload, Service, NodePort,
// logs, exec, a worker's reboot), drives it from the host with `labctl
// kubectl` and the kubeconfig `labctl status` names, then reprovisions
// worker1 in a rolling run: drained before it goes, installed again,
// uncordoned once back, the checks (its pod scheduled there again) passing;
// then k8s-worker-loss's steps on the same lab (worker2 powered off through
// its BMC, back on).
func TestE2EK8sInstall(t *testing.T) {
	e := newE2E(t, "k8s-install")
	ctx, cancel := e2eContext(t)
	defer cancel()
	art := k8sArtifacts(t)
	out, err := e.run(ctx, "test", "k8s-install", "--provider", "qemu", "--netns", e.netns, "--artifacts", art, "--keep")
	t.Logf("labctl test k8s-install:\n%s", out)
	if err != nil {
		t.Fatalf("labctl test k8s-install: %v", err)
	}
	// Logs and exec go through the kubelets' TLS (clocks stepped,
	// certificates valid after the resume); worker2's reboot is a cold
	// start from its restored disk overlay (snapshot_e2e_test.go).
	if !t.Run("snapshot", func(t *testing.T) {
		testSnapshotRestores(t, ctx, e, "check kubectl-logs-exec passed", "check worker-survives-reboot passed")
	}) {
		return
	}
	status, err := e.run(ctx, "status", "k8s-install", "-o", "json")
	if err != nil {
		t.Fatalf("labctl status: %v: %s", err, status)
	}
	var st struct{ Kubeconfig string }
	if err := json.Unmarshal([]byte(status), &st); err != nil || st.Kubeconfig == "" {
		t.Fatalf("status names no kubeconfig (%v): %s", err, status)
	}
	if _, err := os.Stat(st.Kubeconfig); err != nil {
		t.Fatalf("kubeconfig %s: %v", st.Kubeconfig, err)
	}
	nodes, err := e.run(ctx, "kubectl", "k8s-install", "--", "get", "nodes", "-o", "name")
	if err != nil || !strings.Contains(nodes, "node/worker1") || !strings.Contains(nodes, "node/worker2") {
		t.Fatalf("labctl kubectl get nodes: %v: %s", err, nodes)
	}
	out, err = e.run(ctx, "reprovision", "k8s-install", "worker1", "--rolling", "--timeout", "40m")
	t.Logf("labctl reprovision k8s-install worker1 --rolling:\n%s", out)
	if err != nil || !strings.Contains(out, "worker1: passed") {
		t.Fatalf("rolling reprovision of worker1: %v", err)
	}
	if nodes, err := e.run(ctx, "kubectl", "k8s-install", "--", "get", "node", "worker1", "-o", "jsonpath={.spec.unschedulable}"); err != nil || strings.TrimSpace(nodes) != "" {
		t.Errorf("worker1 after the rolling run: unschedulable %q (%v), want uncordoned", nodes, err)
	}
	t.Run("worker-loss", func(t *testing.T) { testWorkerLoss(t, ctx, e) }) // worker_loss_e2e_test.go
	if out, err := e.run(ctx, "down", "k8s-install"); err != nil {
		t.Fatalf("labctl down: %v: %s", err, out)
	}
	e.assertNothingLeft(t)
}

// TestE2EK8sWrongNodeCertificate gives worker2 a kubelet certificate that
// names worker1: NodeRestriction refuses its registration, and the run must
// fail at once saying which check failed on which node and why.
func TestE2EK8sWrongNodeCertificate(t *testing.T) {
	e := newE2E(t, "k8s")
	dir := filepath.Join(t.TempDir(), "k8s-broken")
	if err := os.CopyFS(dir, os.DirFS("../../scenarios/k8s")); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "scenario.yaml")
	raw, _ := os.ReadFile(p)
	old := `cn: "system:node:{machine}"`
	if !strings.Contains(string(raw), old) {
		t.Fatalf("scenario.yaml lacks %q: the test no longer breaks the scenario", old)
	}
	raw = []byte(strings.Replace(string(raw), old, `cn: "system:node:worker1"`, 1))
	if err := os.WriteFile(p, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := e2eContext(t)
	defer cancel()
	art := k8sArtifacts(t)
	out, err := e.run(ctx, "test", dir, "--provider", "qemu", "--netns", e.netns, "--artifacts", art)
	t.Logf("labctl test (k8s, worker2 with worker1's name):\n%s", out)
	if err == nil {
		t.Fatal("labctl test passed a cluster whose worker2 holds worker1's certificate")
	}
	// The diagnosis names the check, the node and the refusal; the kubelet's
	// refusal ended the check (fail_matches), not the scenario's deadline.
	for _, want := range []string{`check "nodes-ready" on worker2 failed`, "only its own Node object"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks the diagnosis %q", want)
		}
	}
	if strings.Contains(out, "deadline passed") {
		t.Errorf("the run waited for the scenario's deadline instead of failing on the refusal")
	}
	e.assertNothingLeft(t)
}
