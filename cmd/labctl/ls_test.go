package main

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/labctl/labctl/lab/scenario"
	"github.com/labctl/labctl/lab/state"
)

// cliEnv is the built labctl with a state directory of its own.
type cliEnv struct {
	bin, stateDir string
}

func newCLI(t *testing.T) *cliEnv {
	t.Helper()
	if testing.Short() {
		t.Skip("builds labctl")
	}
	dir := t.TempDir()
	c := &cliEnv{bin: filepath.Join(dir, "labctl"), stateDir: filepath.Join(dir, "labs")}
	if out, err := exec.Command("go", "build", "-o", c.bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v: %s", err, out)
	}
	return c
}

// run runs labctl and returns its stdout, stderr and exit status.
func (c *cliEnv) run(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(c.bin, args...)
	cmd.Env = append(os.Environ(), "LABCTL_STATE_DIR="+c.stateDir)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatal(err)
	}
	return stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()
}

// upState records a lab the way `labctl up` does, with the real state package.
func (c *cliEnv) upState(t *testing.T, name string, phase state.Phase) {
	t.Helper()
	sc, err := scenario.Find(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("LABCTL_STATE_DIR", c.stateDir)
	if err := state.Create(&state.State{Source: name, Lab: sc.Lab(state.Dir(c.stateDir, sc.Name), "labctl-"+sc.Name), Provider: "qemu", Phase: phase}); err != nil {
		t.Fatal(err)
	}
}

// TestCLIListings runs the built binary as a user would: what is there, what
// can be brought up, and what the shell completes.
func TestCLIListings(t *testing.T) {
	c := newCLI(t)
	// In this order: completion needs the lab that ls brought up.
	t.Run("ls", c.testList)
	t.Run("up of a lab that is up", c.testUpOfLabThatIsUp)
	t.Run("scenarios", c.testScenarios)
	t.Run("up without scenario", c.testUpWithoutScenario)
	t.Run("lab command without lab", c.testLabCommandWithoutLab)
	t.Run("completion", c.testCompletion)
}

func (c *cliEnv) testList(t *testing.T) {

	out, errOut, code := c.run(t, "ls")
	if want := "no labs in " + c.stateDir + ";"; code != 0 || !strings.HasPrefix(out, want) {
		t.Errorf("ls with no labs: exit %d, stdout %q, stderr %q; want %q", code, out, errOut, want)
	}
	// The command it suggests runs as printed: by the path it was run by,
	// which PATH does not find here.
	if want := "bring one up with " + c.bin + " up SCENARIO"; !strings.Contains(out, want) {
		t.Errorf("ls with no labs suggests %q; want %q", out, want)
	}
	if out, _, code := c.run(t, "ls", "-o", "json"); code != 0 || strings.TrimSpace(out) != "[]" {
		t.Errorf("ls -o json with no labs: exit %d, %q; want []", code, out)
	}

	// State files that say starting and running with no lab process
	// behind them: ls says broken, as status does.
	c.upState(t, "pxe-smoke", state.Running)
	c.upState(t, "etcd3", state.Starting)
	out, _, code = c.run(t, "ls")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	wantRows := [][]string{
		{"NAME", "SCENARIO", "PROVIDER", "PHASE", "MACHINES", "AGE"},
		{"etcd3", "etcd3", "qemu", "broken", "node1,node2,node3"},
		{"pxe-smoke", "pxe-smoke", "qemu", "broken", "bios1,uefi1"},
	}
	if code != 0 || len(lines) != len(wantRows) {
		t.Fatalf("ls: exit %d:\n%s", code, out)
	}
	for i, w := range wantRows {
		f := strings.Fields(lines[i])
		if i > 0 && len(f) == 6 && strings.HasSuffix(f[5], "s") {
			f = f[:5] // the age: seconds, just created
		}
		if !slices.Equal(f, w) {
			t.Errorf("ls line %d = %q, want fields %q", i, lines[i], w)
		}
	}

	out, _, code = c.run(t, "ls", "--output", "json")
	var labs []state.Summary
	if err := json.Unmarshal([]byte(out), &labs); code != 0 || err != nil {
		t.Fatalf("ls -o json: exit %d, %v:\n%s", code, err, out)
	}
	if len(labs) != 2 || labs[1].Name != "pxe-smoke" || labs[1].Phase != state.Broken || labs[1].Provider != "qemu" ||
		!slices.Equal(labs[1].Machines, []string{"bios1", "uefi1"}) || labs[1].Created.IsZero() {
		t.Errorf("ls -o json = %+v", labs)
	}

	if _, errOut, code := c.run(t, "ls", "-o", "yaml"); code != 1 || !strings.Contains(errOut, `--output: "yaml" is neither text nor json`) {
		t.Errorf("ls -o yaml: exit %d, stderr %q", code, errOut)
	}
}

func (c *cliEnv) testScenarios(t *testing.T) {
	out, _, code := c.run(t, "scenarios")
	if code != 0 || !strings.HasPrefix(out, "SCENARIO ") {
		t.Fatalf("scenarios: exit %d:\n%s", code, out)
	}
	for _, name := range scenario.Names() {
		sc, _ := scenario.Find(name)
		if !strings.Contains(out, "\n"+name+" ") || !strings.Contains(out, sc.Headline()+"\n") {
			t.Errorf("scenarios lacks %s (%q):\n%s", name, sc.Headline(), out)
		}
	}
	if !regexp.MustCompile(`(?m)^pxe-smoke\s+2\s+smoke\s+A BIOS and a UEFI machine`).MatchString(out) {
		t.Errorf("scenarios: no pxe-smoke row with 2 machines and image smoke:\n%s", out)
	}

	out, _, code = c.run(t, "scenarios", "-o", "json")
	var list []scenario.Summary
	if err := json.Unmarshal([]byte(out), &list); code != 0 || err != nil || len(list) != len(scenario.Names()) {
		t.Errorf("scenarios -o json: exit %d, %v, %d scenarios:\n%s", code, err, len(list), out)
	}
}

func (c *cliEnv) testUpWithoutScenario(t *testing.T) {
	for _, cmd := range []string{"up", "test"} {
		out, errOut, code := c.run(t, cmd)
		if code != 1 || out != "" {
			t.Errorf("%s: exit %d, stdout %q; want 1 and nothing", cmd, code, out)
		}
		for _, want := range []string{
			"labctl: labctl " + cmd + " needs a SCENARIO: a built-in one or a directory holding scenario.yaml",
			"\nSCENARIO ", " MACHINES ", "\netcd3 ", "\npxe-smoke ",
			"Usage:\n  labctl " + cmd + " SCENARIO",
		} {
			if !strings.Contains(errOut, want) {
				t.Errorf("%s: stderr lacks %q:\n%s", cmd, want, errOut)
			}
		}
	}
	if _, errOut, code := c.run(t, "up", "a", "b"); code != 1 || !strings.Contains(errOut, "accepts 1 arg(s), received 2") {
		t.Errorf("up a b: exit %d, stderr %q", code, errOut)
	}
	if _, errOut, code := c.run(t, "up", "no-such"); code != 1 || !strings.Contains(errOut, `no scenario "no-such": built-in scenarios are `) {
		t.Errorf("up no-such: exit %d, stderr %q", code, errOut)
	}
}

// testUpOfLabThatIsUp brings up pxe-smoke, which testList recorded as
// running: refused before any image is looked at, naming the state and
// the command that takes it down, and the state left as it was.
func (c *cliEnv) testUpOfLabThatIsUp(t *testing.T) {
	file := filepath.Join(c.stateDir, "pxe-smoke", state.FileName)
	before, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	want := "labctl: lab pxe-smoke is already up (state in " + filepath.Dir(file) + "); take it down first: " + c.bin + " down pxe-smoke"
	for _, cmd := range []string{"up", "test"} {
		out, errOut, code := c.run(t, cmd, "pxe-smoke", "--provider", "qemu")
		if code != 1 || strings.TrimSpace(errOut) != want || strings.Contains(out, "image") {
			t.Errorf("%s pxe-smoke: exit %d, stdout %q, stderr %q; want 1 and only %q", cmd, code, out, errOut, want)
		}
	}
	if after, _ := os.ReadFile(file); string(after) != string(before) {
		t.Errorf("the refused up changed %s:\n%s\nwas:\n%s", file, after, before)
	}
	// test's default artifacts directory, under the directory it ran in.
	if _, err := os.Stat(filepath.Join("_artifacts", "pxe-smoke")); err == nil {
		os.RemoveAll("_artifacts")
		t.Errorf("the refused test created _artifacts/pxe-smoke")
	}
}

func (c *cliEnv) testLabCommandWithoutLab(t *testing.T) {
	for _, cmd := range []string{"status", "ssh", "console", "logs", "kubectl", "verify", "down"} {
		out, errOut, code := c.run(t, cmd)
		if code != 1 || out != "" {
			t.Errorf("%s: exit %d, stdout %q; want 1 and nothing", cmd, code, out)
		}
		for _, want := range []string{
			"labctl: labctl " + cmd + " needs the SCENARIO of a lab that is up: " + c.bin + " ls lists them",
			"Usage:\n  labctl " + cmd + " SCENARIO",
		} {
			if !strings.Contains(errOut, want) {
				t.Errorf("%s: stderr lacks %q:\n%s", cmd, want, errOut)
			}
		}
	}
	if _, errOut, code := c.run(t, "status", "a", "b"); code != 1 || !strings.Contains(errOut, "accepts 1 arg(s), received 2") {
		t.Errorf("status a b: exit %d, stderr %q", code, errOut)
	}
}

func (c *cliEnv) testCompletion(t *testing.T) {
	all := scenario.Names()
	tests := []struct {
		args      []string
		want      []string // candidates, without their descriptions
		directive string
	}{
		{[]string{"up", ""}, all, ":4"},
		{[]string{"test", "etcd"}, all, ":4"}, // the shell keeps those that match
		{[]string{"up", "./my"}, nil, ":16"},  // a scenario of one's own: directories
		{[]string{"up", "/srv/lab"}, nil, ":16"},
		{[]string{"up", "etcd3", ""}, nil, ":4"},
		{[]string{"status", ""}, []string{"etcd3", "pxe-smoke"}, ":4"},
		{[]string{"down", ""}, []string{"etcd3", "pxe-smoke"}, ":4"},
		{[]string{"ssh", "pxe-smoke", ""}, []string{"bios1", "uefi1"}, ":4"},
		{[]string{"ssh", "pxe-smoke", "bios1", ""}, nil, ":4"},
		{[]string{"console", "pxe-smoke", ""}, []string{"bios1", "uefi1"}, ":4"},
		{[]string{"logs", "no-such-lab", ""}, nil, ":4"},
		{[]string{"reprovision", "pxe-smoke", "bios1", ""}, []string{"uefi1"}, ":4"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			out, errOut, code := c.run(t, append([]string{"__complete"}, tt.args...)...)
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if code != 0 || len(lines) == 0 {
				t.Fatalf("exit %d: %s%s", code, out, errOut)
			}
			var got []string
			for _, l := range lines[:len(lines)-1] {
				got = append(got, strings.SplitN(l, "\t", 2)[0])
			}
			if !slices.Equal(got, tt.want) || lines[len(lines)-1] != tt.directive {
				t.Errorf("candidates %q, directive %s; want %q, %s", got, lines[len(lines)-1], tt.want, tt.directive)
			}
		})
	}
}
