package main

import (
	"encoding/xml"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestE2ETestSeveral runs two labs in one `labctl test` (pxe-smoke and a
// renamed copy, one after the other, through --shard 1/1): one JUnit file
// with a suite per scenario, artifacts per scenario, every line prefixed
// with its scenario, a summary, and both labs gone afterwards.
func TestE2ETestSeveral(t *testing.T) {
	smoke := newE2E(t, "pxe-smoke")
	copied := newE2E(t, "pxe-smoke-copy")
	prefix := smoke.netns
	smoke.netns, copied.netns = prefix+"-pxe-smoke", prefix+"-pxe-smoke-copy"
	dir := copyScenario(t, "pxe-smoke", "pxe-smoke-copy")
	ctx, cancel := e2eContext(t)
	defer cancel()
	art := t.TempDir()
	junit := filepath.Join(t.TempDir(), "run.xml")
	args := []string{"test", dir, "pxe-smoke", "--shard", "1/1", "--parallel", "1", "--provider", "qemu",
		"--netns-prefix", prefix, "--artifacts", art, "--junit", junit}
	out, err := smoke.run(ctx, args...)
	t.Logf("labctl test:\n%s", out)
	if err != nil {
		t.Fatalf("labctl %s: %v", strings.Join(args, " "), err)
	}
	for _, want := range []string{
		"shard 1/1: 2 of 2 scenarios: " + dir + " pxe-smoke\n",
		"[pxe-smoke] lab pxe-smoke: provider qemu, namespace " + smoke.netns,
		"[pxe-smoke-copy] lab pxe-smoke-copy: provider qemu, namespace " + copied.netns,
		"[pxe-smoke] scenario pxe-smoke: all 2 checks passed",
		"[pxe-smoke-copy] scenario pxe-smoke-copy: all 2 checks passed",
		"summary (shard 1/1): 2 scenarios: 2 passed, 0 failed, 0 not run, ",
		"JUnit report of the run: " + junit,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	// Each scenario's summary line: name, outcome, time (seconds at least:
	// a lab boots two machines), checks.
	for _, name := range []string{"pxe-smoke", "pxe-smoke-copy"} {
		if !regexp.MustCompile(`(?m)^  ` + regexp.QuoteMeta(name) + ` +passed +[1-9][0-9]*\.[0-9]s  2 checks$`).MatchString(out) {
			t.Errorf("summary lacks a line for %s passed", name)
		}
	}
	// Output of the run is one lab's lines, then the other's: every line of
	// a lab is prefixed (the summary and the shard line aside).
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if !strings.HasPrefix(line, "[pxe-smoke") && !strings.HasPrefix(line, "  ") && !strings.HasPrefix(line, "summary") &&
			!strings.HasPrefix(line, "shard ") && !strings.HasPrefix(line, "JUnit ") && !strings.HasPrefix(line, "time=") {
			t.Errorf("line without its scenario: %q", line)
		}
	}
	raw, err := os.ReadFile(junit)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Suites []struct {
			Name     string `xml:"name,attr"`
			Tests    int    `xml:"tests,attr"`
			Failures int    `xml:"failures,attr"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("%s: %v\n%s", junit, err, raw)
	}
	if len(doc.Suites) != 2 {
		t.Fatalf("%s holds %d suites, want 2:\n%s", junit, len(doc.Suites), raw)
	}
	for _, name := range []string{"pxe-smoke", "pxe-smoke-copy"} {
		found := false
		for _, s := range doc.Suites {
			if s.Name == name {
				found = true
				if s.Tests != 2 || s.Failures != 0 {
					t.Errorf("suite %s: %d tests, %d failures; want 2 passed", name, s.Tests, s.Failures)
				}
			}
		}
		if !found {
			t.Errorf("%s has no suite %s:\n%s", junit, name, raw)
		}
		for _, f := range []string{"junit.xml", "timeline.txt", "dnsmasq.log", "machines/bios1/serial.log", "machines/uefi1/serial.log"} {
			if st, err := os.Stat(filepath.Join(art, name, f)); err != nil || st.Size() == 0 {
				t.Errorf("artifact %s/%s: %v", name, f, err)
			}
		}
		// The timeline is the scenario's own lines, unprefixed.
		if tl, _ := os.ReadFile(filepath.Join(art, name, "timeline.txt")); !strings.Contains(string(tl), "\nscenario "+name+": all 2 checks passed") || strings.Contains(string(tl), "["+name+"] ") {
			t.Errorf("%s/timeline.txt is not the scenario's own lines:\n%s", name, tl)
		}
	}
	smoke.assertNothingLeft(t)
	copied.assertNothingLeft(t)
}
