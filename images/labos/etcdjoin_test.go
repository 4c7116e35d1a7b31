package labos

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/labctl/labctl/internal/testenv"
)

// etcdMember is one real etcd process on loopback, configured the way the
// etcd scenarios configure theirs (ETCD_* variables).
type etcdMember struct {
	name, client, peer, data string
	cmd                      *exec.Cmd
	log                      bytes.Buffer
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func (m *etcdMember) env(cluster, endpoints string) []string {
	return append(os.Environ(),
		"ETCD_NAME="+m.name, "ETCD_DATA_DIR="+m.data,
		"ETCD_INITIAL_CLUSTER="+cluster, "ETCD_INITIAL_CLUSTER_STATE=new", "ETCD_INITIAL_CLUSTER_TOKEN=t",
		"ETCD_INITIAL_ADVERTISE_PEER_URLS="+m.peer, "ETCD_LISTEN_PEER_URLS="+m.peer,
		"ETCD_LISTEN_CLIENT_URLS="+m.client, "ETCD_ADVERTISE_CLIENT_URLS="+m.client,
		"LABOS_ETCD_ENDPOINTS="+endpoints)
}

func (m *etcdMember) start(t *testing.T, env []string) {
	t.Helper()
	m.log.Reset()
	m.cmd = exec.Command("etcd")
	m.cmd.Env, m.cmd.Stdout, m.cmd.Stderr = env, &m.log, &m.log
	if err := m.cmd.Start(); err != nil {
		t.Fatal(err)
	}
}

func (m *etcdMember) stop() {
	if m.cmd != nil && m.cmd.Process != nil {
		m.cmd.Process.Kill()
		m.cmd.Wait()
	}
}

func etcdctl(endpoints string, args ...string) (string, error) {
	cmd := exec.Command("etcdctl", append([]string{"--endpoints=" + endpoints, "--dial-timeout=2s", "--command-timeout=5s"}, args...)...)
	cmd.Env = append(os.Environ(), "ETCDCTL_API=3")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func waitFor(t *testing.T, what string, d time.Duration, ok func() (string, bool)) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		out, done := ok()
		if done {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %v; last: %s", what, d, out)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// TestEtcdJoinAfterReprovision runs labos-etcd-join against a real
// three-member etcd cluster on loopback: a member that lost its data (a
// reprovisioned disk) rejoins, and one with data, or a first bootstrap, is
// left alone.
func TestEtcdJoinAfterReprovision(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a real etcd cluster for half a minute")
	}
	testenv.Tool(t, "etcd", "etcd-server")
	script, _ := filepath.Abs("rootfs/usr/local/sbin/labos-etcd-join")
	dir := t.TempDir()
	var ms []*etcdMember
	var cluster, endpoints []string
	for i := 1; i <= 3; i++ {
		m := &etcdMember{name: fmt.Sprintf("node%d", i), client: fmt.Sprintf("http://127.0.0.1:%d", freePort(t)),
			peer: fmt.Sprintf("http://127.0.0.1:%d", freePort(t)), data: filepath.Join(dir, fmt.Sprintf("node%d", i))}
		ms = append(ms, m)
		cluster = append(cluster, m.name+"="+m.peer)
		endpoints = append(endpoints, m.client)
	}
	all := strings.Join(endpoints, ",")
	join := func(m *etcdMember) string {
		t.Helper()
		envFile := filepath.Join(dir, m.name+".env")
		cmd := exec.Command(script)
		cmd.Env = append(m.env(strings.Join(cluster, ","), all), "LABOS_ETCD_ENV="+envFile)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("labos-etcd-join for %s: %v: %s", m.name, err, out)
		}
		raw, _ := os.ReadFile(envFile)
		return string(raw)
	}
	// A first bootstrap: nobody is up, so each member starts as configured.
	for _, m := range ms {
		if got := join(m); got != "" {
			t.Fatalf("first bootstrap of %s: override %q, want none", m.name, got)
		}
		m.start(t, m.env(strings.Join(cluster, ","), all))
		defer m.stop()
	}
	// Running means having published client URLs: etcd lists a member that
	// has never run as "started" too, with an empty client URL field.
	started := func() (string, bool) {
		out, err := etcdctl(all, "member", "list")
		if err != nil {
			return out, false
		}
		running := 0
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			if f := strings.Split(line, ", "); len(f) == 6 && f[4] != "" {
				running++
			}
		}
		return out, running == 3
	}
	waitFor(t, "three members started", 30*time.Second, started)
	if out, err := etcdctl(all, "put", "k", "before"); err != nil {
		t.Fatalf("put: %v: %s", err, out)
	}
	// A restart with data changes nothing.
	if got := join(ms[1]); got != "" {
		t.Fatalf("member with data: override %q, want none", got)
	}

	// node3's disk is installed anew: it comes back with no data.
	ms[2].stop()
	os.RemoveAll(ms[2].data)
	override := join(ms[2])
	if override != "ETCD_INITIAL_CLUSTER_STATE=existing\n" {
		t.Fatalf("reprovisioned member: override %q, want the existing cluster state", override)
	}
	ms[2].start(t, append(ms[2].env(strings.Join(cluster, ","), all), strings.TrimSpace(override)))
	waitFor(t, "node3 rejoined", 30*time.Second, started)
	waitFor(t, "node3 serves the cluster's data", 30*time.Second, func() (string, bool) {
		out, err := etcdctl(ms[2].client, "get", "--print-value-only", "k")
		return out + ms[2].log.String(), err == nil && strings.TrimSpace(out) == "before"
	})
}
