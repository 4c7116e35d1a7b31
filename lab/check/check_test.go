package check

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/labctl/labctl/internal/testenv"
	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/lab/scenario"
	"github.com/labctl/labctl/lab/sshkeys"
)

func TestMatch(t *testing.T) {
	tests := []struct {
		name   string
		expect scenario.Expect
		out    string
		status int
		want   string // substring of the error; "" means pass
	}{
		{"exit 0", scenario.Expect{}, "x", 0, ""},
		{"exit 1", scenario.Expect{}, "boom", 1, "exit status 1, want 0; output: boom"},
		{"expected failure", scenario.Expect{ExitStatus: 1}, "", 1, ""},
		{"contains", scenario.Expect{OutputContains: []string{"started", "node2"}}, "a, started, node2", 0, ""},
		{"lacks", scenario.Expect{OutputContains: []string{"node3"}}, "node1\nnode2", 0, `output lacks "node3"`},
		{"matches", scenario.Expect{OutputMatches: `is healthy`}, "http://x is healthy: ok", 0, ""},
		{"no match", scenario.Expect{OutputMatches: `^ok$`}, "not ok", 0, "does not match"},
		{"lines", scenario.Expect{OutputLines: 3}, "a\n\nb\nc\n", 0, ""},
		{"too few lines", scenario.Expect{OutputLines: 3}, "a\nb\n", 0, "2 output lines, want 3"},
		{"hopeless", scenario.Expect{OutputMatches: `^ok$`, FailMatches: `forbidden`}, "x is forbidden", 0, "output matches fail_matches /forbidden/ (forbidden), no use waiting"},
		{"hopeless whatever the status", scenario.Expect{FailMatches: `forbidden`}, "forbidden", 1, "fail_matches"},
		{"fail_matches not met", scenario.Expect{OutputMatches: `^ok$`, FailMatches: `forbidden`}, "ok", 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Match(tt.expect, tt.out, tt.status)
			if tt.want == "" && err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("err = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// TestBuiltinExpectations matches the built-in scenarios' expectations
// against outputs recorded from real runs of their commands, so that a
// pattern that can never match (a trailing newline against `$`, which in Go
// is the end of the text) fails here and not after a lab's deadline.
func TestBuiltinExpectations(t *testing.T) {
	tests := []struct {
		scenario, check string
		out             string
		status          int
		want            string // substring of the error; "" means pass
	}{
		{"k8s-install", "nodes-ready", "v1.34.4 True", 0, ""},
		{"k8s", "nodes-ready", `"Unable to register node with API server" err="nodes \"worker2\" is forbidden: node \"worker1\" is not allowed to modify node \"worker2\"" node="worker2"` + "\n", 0, "fail_matches"},
		{"k8s", "nodes-ready", `Error from server (Forbidden): nodes "worker2" is forbidden: User "system:node:worker1" cannot get resource "nodes" in API group "" at the cluster scope: node 'worker1' cannot read 'worker2', only its own Node object` + "\n", 1, "fail_matches"},
		{"k8s", "nodes-ready", `Error from server (NotFound): nodes "worker2" not found` + "\n", 1, "exit status 1"},
		{"k8s", "nodes-ready", "v1.34.4 False", 0, "does not match"},
		{"k8s-install", "deployment-available", "available 2\nlabhello-c4ff9999f-64gk2 worker2 Running\nlabhello-c4ff9999f-f8b8k worker1 Running\n", 0, ""},
		{"k8s-install", "worker-survives-reboot", "/dev/vda3\nactive\nTrue", 0, ""},
		{"k8s-install", "worker-survives-reboot", "/dev/vda3\nactive\nFalse", 0, "does not match"},
		{"k8s-install", "worker-survives-reboot", "/dev/vda3\nactivating", 3, "exit status 3"},
	}
	for _, tt := range tests {
		t.Run(tt.scenario+"/"+tt.check, func(t *testing.T) {
			s, err := scenario.Find(tt.scenario)
			if err != nil {
				t.Fatal(err)
			}
			i := slices.IndexFunc(s.Checks, func(c scenario.Check) bool { return c.Name == tt.check })
			if i < 0 {
				t.Fatalf("scenario %s has no check %q", tt.scenario, tt.check)
			}
			err = Match(s.Checks[i].Expect, tt.out, tt.status)
			if tt.want == "" && err != nil {
				t.Fatalf("recorded output refused: %v", err)
			}
			if tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("err = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// startSSHD runs a real OpenSSH server on a loopback address that presents
// the host key made for machine and accepts the lab's key. Port 0 picks a
// free port; the port is returned.
func startSSHD(t *testing.T, keys *sshkeys.Keys, machine, addr string, port int) int {
	t.Helper()
	sshd := testenv.Tool(t, "/usr/sbin/sshd", "openssh-server")
	testenv.Root(t, "sshd runs commands as root")
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	if port == 0 {
		ln, err := net.Listen("tcp", net.JoinHostPort(addr, "0"))
		if err != nil {
			t.Fatal(err)
		}
		port = ln.Addr().(*net.TCPAddr).Port
		ln.Close()
	}
	hostKey := write("host_key", keys.Hosts[machine].Private, 0o600)
	auth := write("authorized_keys", keys.AuthorizedKey+"\n", 0o600)
	cfg := write("sshd_config", fmt.Sprintf(`Port %d
ListenAddress %s
HostKey %s
AuthorizedKeysFile %s
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PidFile %s/sshd.pid
`, port, addr, hostKey, auth, dir), 0o600)
	os.MkdirAll("/run/sshd", 0o755) // privilege separation directory
	cmd := exec.Command(sshd, "-D", "-e", "-f", cfg)
	var log bytes.Buffer
	cmd.Stderr = &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("sshd log:\n%s", log.String())
		}
	})
	for i := 0; i < 50; i++ {
		if c, err := net.Dial("tcp", net.JoinHostPort(addr, strconv.Itoa(port))); err == nil {
			c.Close()
			return port
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("sshd did not listen: %s", log.String())
	return 0
}

func TestRunnerOverSSH(t *testing.T) {
	keys, err := sshkeys.LoadOrCreate(t.TempDir(), []string{"m1", "impostor"})
	if err != nil {
		t.Fatal(err)
	}
	port := startSSHD(t, keys, "m1", "127.0.0.1", 0)
	// The condition becomes true only after the first attempt, so the
	// runner must poll (a timer raced a slow SSH handshake under load).
	flag := filepath.Join(t.TempDir(), "flag")

	loopback := netip.MustParseAddr("127.0.0.1")
	l := &lab.Lab{Name: "t", Machines: []lab.Machine{
		{Name: "m1", IP: loopback},
		// Same address, but labctl expects another host key there.
		{Name: "impostor", IP: loopback},
	}}
	var progress []string
	r := &Runner{
		Lab: l,
		Checks: []scenario.Check{
			{Name: "flag-ready", Nodes: []string{"m1"}, Run: "cat " + flag + " 2>/dev/null || { echo ready >" + flag + "; false; }", Expect: scenario.Expect{OutputContains: []string{"ready"}}},
			{Name: "host-key", Nodes: []string{"impostor"}, Run: "true"},
			{Name: "after-failure", Nodes: []string{"m1"}, Run: "true"},
		},
		Deadline: 10 * time.Second, // the impostor check fails only at the deadline; sshd is slow under load
		Interval: 300 * time.Millisecond,
		Shell:    &SSH{Keys: keys, Dial: (&net.Dialer{}).DialContext, Port: port},
		Progress: func(r Result) { progress = append(progress, r.Check+"/"+r.Node+" "+string(r.Status)) },
	}
	results, err := r.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), `check "host-key" on impostor failed`) || !strings.Contains(err.Error(), "host key mismatch") {
		t.Fatalf("err = %v, want the host-key check on impostor to fail with a host key mismatch", err)
	}
	want := []Status{Passed, Failed, NotRun}
	for i, res := range results {
		if res.Status != want[i] {
			t.Errorf("result %d (%s/%s) = %s, want %s (%s)", i, res.Check, res.Node, res.Status, want[i], res.Reason)
		}
	}
	if results[0].Attempts < 2 || !strings.Contains(results[0].Output, "ready") {
		t.Errorf("flag-ready: %d attempts, output %q: want a pass after polling", results[0].Attempts, results[0].Output)
	}
	if got := strings.Join(progress, ", "); !strings.Contains(got, "flag-ready/m1 running, flag-ready/m1 passed, host-key/impostor running") {
		t.Errorf("progress = %s", got)
	}

	var buf bytes.Buffer
	if err := WriteJUnit(&buf, "t", results); err != nil {
		t.Fatal(err)
	}
	var parsed struct {
		Suites []struct {
			Tests    int `xml:"tests,attr"`
			Failures int `xml:"failures,attr"`
			Skipped  int `xml:"skipped,attr"`
			Cases    []struct {
				Name    string    `xml:"name,attr"`
				Failure *struct{} `xml:"failure"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(buf.Bytes(), &parsed); err != nil {
		t.Fatalf("JUnit output does not parse: %v\n%s", err, buf.String())
	}
	s := parsed.Suites[0]
	if s.Tests != 3 || s.Failures != 1 || s.Skipped != 1 || s.Cases[1].Failure == nil || s.Cases[1].Name != "host-key/impostor" {
		t.Errorf("JUnit suite = %+v", s)
	}
}

// A check's nodes are polled side by side: here each node's command passes
// only while the other's runs too, which one node after the other never
// does. A node that fails does not stop its sibling from passing.
func TestRunnerPollsNodesSideBySide(t *testing.T) {
	keys, err := sshkeys.LoadOrCreate(t.TempDir(), []string{"m1", "m2", "impostor"})
	if err != nil {
		t.Fatal(err)
	}
	port := startSSHD(t, keys, "m1", "127.0.0.1", 0)
	startSSHD(t, keys, "m2", "127.0.0.2", port)
	dir := t.TempDir()
	// SSH_CONNECTION's third field is the server's address: the node's name here.
	meet := fmt.Sprintf(`set -- $SSH_CONNECTION; touch %[1]s/$3
for i in $(seq 50); do [ -e %[1]s/127.0.0.1 ] && [ -e %[1]s/127.0.0.2 ] && { echo met; exit 0; }; sleep 0.1; done
rm -f %[1]s/$3; echo alone; exit 1`, dir)
	l := &lab.Lab{Name: "t", Machines: []lab.Machine{
		{Name: "m1", IP: netip.MustParseAddr("127.0.0.1")},
		{Name: "m2", IP: netip.MustParseAddr("127.0.0.2")},
		{Name: "impostor", IP: netip.MustParseAddr("127.0.0.2")}, // m2's host key, not its own
	}}
	r := &Runner{
		Lab: l,
		Checks: []scenario.Check{
			{Name: "meet", Nodes: []string{"m1", "m2"}, Run: meet, Expect: scenario.Expect{OutputContains: []string{"met"}}},
			{Name: "host-key", Nodes: []string{"impostor", "m1"}, Run: "echo ok", Expect: scenario.Expect{OutputContains: []string{"ok"}}},
		},
		Deadline: 15 * time.Second, // one node after the other: m1 waits alone until the deadline
		Interval: 300 * time.Millisecond,
		Shell:    &SSH{Keys: keys, Dial: (&net.Dialer{}).DialContext, Port: port},
	}
	results, err := r.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), `check "host-key" on impostor failed`) {
		t.Fatalf("err = %v, want the host-key check to fail on impostor", err)
	}
	want := []Status{Passed, Passed, Failed, Passed}
	for i, res := range results {
		if res.Status != want[i] {
			t.Errorf("result %d (%s/%s) = %s, want %s (%s; output %q)", i, res.Check, res.Node, res.Status, want[i], res.Reason, res.Output)
		}
	}
}

// When the deadline cuts an attempt short, the failure still says what the
// last complete attempt saw, not only the cut attempt's timeout.
func TestRunnerDeadlineKeepsLastCompleteAttempt(t *testing.T) {
	keys, err := sshkeys.LoadOrCreate(t.TempDir(), []string{"m1"})
	if err != nil {
		t.Fatal(err)
	}
	port := startSSHD(t, keys, "m1", "127.0.0.1", 0)
	flag := filepath.Join(t.TempDir(), "flag")
	r := &Runner{
		Lab: &lab.Lab{Name: "t", Machines: []lab.Machine{{Name: "m1", IP: netip.MustParseAddr("127.0.0.1")}}},
		Checks: []scenario.Check{{
			Name: "slow", Run: "test -e " + flag + " && sleep 60; touch " + flag + "; echo not-yet; false",
		}},
		Deadline: 5 * time.Second, // room for the first attempt's handshake under load
		Interval: 100 * time.Millisecond,
		Shell:    &SSH{Keys: keys, Dial: (&net.Dialer{}).DialContext, Port: port},
	}
	results, err := r.Run(context.Background())
	if err == nil {
		t.Fatal("the check passed")
	}
	got := results[0].Reason
	for _, want := range []string{"deadline passed; last attempt: exit status 1, want 0; output: not-yet", "the attempt after it was cut short"} {
		if !strings.Contains(got, want) {
			t.Errorf("reason = %q, want it to contain %q", got, want)
		}
	}
	if results[0].Output != "not-yet\n" {
		t.Errorf("output = %q, want the last complete attempt's", results[0].Output)
	}
}

// An output matching fail_matches ends the check at its first attempt, long
// before the deadline, and the check after it does not run.
func TestRunnerFailMatchesStopsPolling(t *testing.T) {
	keys, err := sshkeys.LoadOrCreate(t.TempDir(), []string{"m1"})
	if err != nil {
		t.Fatal(err)
	}
	port := startSSHD(t, keys, "m1", "127.0.0.1", 0)
	r := &Runner{
		Lab: &lab.Lab{Name: "t", Machines: []lab.Machine{{Name: "m1", IP: netip.MustParseAddr("127.0.0.1")}}},
		Checks: []scenario.Check{
			{Name: "registered", Run: `echo 'nodes "m1" is forbidden: node "m0" is not allowed to modify node "m1"'; false`,
				Expect: scenario.Expect{OutputMatches: `^ok$`, FailMatches: `is not allowed to modify node`}},
			{Name: "after", Run: "true"},
		},
		Deadline: time.Hour, // were it polled, the test would time out first
		Interval: 100 * time.Millisecond,
		Shell:    &SSH{Keys: keys, Dial: (&net.Dialer{}).DialContext, Port: port},
	}
	results, err := r.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), `check "registered" on m1 failed`) {
		t.Fatalf("err = %v, want the registered check to fail on m1", err)
	}
	if got := results[0]; got.Status != Failed || got.Attempts != 1 || !strings.Contains(got.Reason, "fail_matches /is not allowed to modify node/") {
		t.Errorf("registered = %+v, want failed at its first attempt naming fail_matches", got)
	}
	if results[1].Status != NotRun {
		t.Errorf("after = %+v, want not run", results[1])
	}
}

func TestSSHRunPassesExitStatus(t *testing.T) {
	keys, err := sshkeys.LoadOrCreate(t.TempDir(), []string{"m1"})
	if err != nil {
		t.Fatal(err)
	}
	port := startSSHD(t, keys, "m1", "127.0.0.1", 0)
	sh := &SSH{Keys: keys, Dial: (&net.Dialer{}).DialContext, Port: port}
	m := lab.Machine{Name: "m1", IP: netip.MustParseAddr("127.0.0.1")}
	out, status, err := sh.Run(context.Background(), m, "echo out; echo err >&2; exit 7")
	if err != nil || status != 7 || !strings.Contains(out, "out\n") || !strings.Contains(out, "err\n") {
		t.Fatalf("Run = %q, %d, %v; want output, status 7", out, status, err)
	}
}

// timerNotYetFired is a context whose deadline has passed but whose timer
// has not yet marked it done: the moment a connection deadline can beat it.
type timerNotYetFired struct{ context.Context }

func (timerNotYetFired) Deadline() (time.Time, bool) { return time.Now().Add(-time.Millisecond), true }

func TestCutShort(t *testing.T) {
	done, cancel := context.WithCancel(context.Background())
	cancel()
	future, cancelFuture := context.WithTimeout(context.Background(), time.Hour)
	defer cancelFuture()
	for _, tc := range []struct {
		name string
		ctx  context.Context
		want bool
	}{
		{"no deadline", context.Background(), false},
		{"deadline ahead", future, false},
		{"done", done, true},
		{"deadline passed, timer not fired", timerNotYetFired{context.Background()}, true},
	} {
		if got := cutShort(tc.ctx); got != tc.want {
			t.Errorf("%s: cutShort = %v, want %v", tc.name, got, tc.want)
		}
	}
}
