package main

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/labctl/labctl/bmc/reprovision"
	"github.com/labctl/labctl/bootsvc/bootlog"
	"github.com/labctl/labctl/power"
)

// TestE2EReprovisionFleet reprovisions every machine of a running lab with
// --parallel through BMC endpoints an inventory lists for them (the lab's
// virtual BMCs: bios1 over IPMI, uefi1 over Redfish with a wrong password).
// uefi1 fails by name, untouched; bios1 boots from the network and passes
// the scenario's checks; the verdicts come out as JSON and JUnit and the
// exit status is non-zero.
func TestE2EReprovisionFleet(t *testing.T) {
	ctx, cancel := e2eContext(t)
	defer cancel()
	b := upBMCLab(t, ctx)
	bios, biosBMC := b.machine(t, "bios1")
	uefi, uefiBMC := b.machine(t, "uefi1")
	for _, name := range []string{"bios1", "uefi1"} {
		b.waitPower(t, name, power.Off, 2*time.Minute)
	}
	dir := t.TempDir()
	wrong := filepath.Join(dir, "uefi1-password")
	if err := os.WriteFile(wrong, []byte("not-the-password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	inv := filepath.Join(dir, "inventory.yaml")
	redfishBase, _, _ := strings.Cut(uefiBMC.BMC.Redfish, "/redfish/")
	if err := os.WriteFile(inv, []byte(fmt.Sprintf(`machines:
  - name: bios1
    mac: %s
    uuid: %s
    bmc:
      - {protocol: ipmi, address: "%s", username: admin, password_file: %s}
  - name: uefi1
    mac: %s
    uuid: %s
    bmc:
      - {protocol: redfish, address: "%s", username: admin, password_file: %s, ca_file: %s}
`, bios.MAC, bios.UUID, biosBMC.BMC.IPMI, biosBMC.BMC.PasswordFile, uefi.MAC, uefi.UUID, redfishBase, wrong, uefiBMC.BMC.CAFile)), 0o644); err != nil {
		t.Fatal(err)
	}
	junitPath := filepath.Join(dir, "junit.xml")
	since := time.Now()
	cmd := b.e.command(ctx, "reprovision", "pxe-smoke", "--all", "--parallel", "2", "--inventory", inv, "-o", "json", "--junit", junitPath, "--timeout", "5m")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	t.Logf("labctl reprovision:\n%s\nstderr:\n%s", out, stderr.String())
	if err == nil {
		t.Fatal("exit status 0 with a machine whose BMC refused its credentials")
	}
	var rep reprovision.Report
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("-o json: %v", err)
	}
	if len(rep.Verdicts) != 2 {
		t.Fatalf("%d verdicts, want 2", len(rep.Verdicts))
	}
	ok, bad := rep.Verdicts[0], rep.Verdicts[1]
	if ok.Machine != "bios1" || ok.Result != reprovision.Passed || ok.Phase != reprovision.PhaseDone || ok.Seconds <= 0 || ok.Error != "" {
		t.Errorf("bios1's verdict %+v, want passed, done", ok)
	}
	if len(ok.Checks) != 1 || ok.Checks[0].Check != "booted-bios-profile" || ok.Checks[0].Status != "passed" {
		t.Errorf("bios1's checks %+v, want booted-bios-profile passed", ok.Checks)
	}
	if bad.Machine != "uefi1" || bad.Result != reprovision.Failed || bad.Phase != reprovision.PhaseBootDevice {
		t.Errorf("uefi1's verdict %+v, want failed at boot-device", bad)
	}
	for _, want := range []string{"uefi1", "redfish " + redfishBase, "credentials"} {
		if !strings.Contains(bad.Error, want) {
			t.Errorf("uefi1's error lacks %q: %s", want, bad.Error)
		}
	}
	if strings.Contains(string(out)+stderr.String(), b.password(t)) {
		t.Errorf("output holds the real password")
	}
	if !strings.Contains(stderr.String(), "check booted-bios-profile on bios1: passed") {
		t.Errorf("no progress line for bios1's check on stderr")
	}
	// bios1 really booted from the network; uefi1 did not.
	b.waitBooted(t, bios, since)
	if ev := b.events(t, uefi, bootlog.KindIPXE, since); len(ev) != 0 {
		t.Errorf("uefi1 booted from the network after its BMC refused: %v", ev)
	}

	raw, err := os.ReadFile(junitPath)
	if err != nil {
		t.Fatalf("--junit: %v", err)
	}
	var doc struct {
		Suites []struct {
			Name     string `xml:"name,attr"`
			Tests    int    `xml:"tests,attr"`
			Failures int    `xml:"failures,attr"`
			Cases    []struct {
				Name    string `xml:"name,attr"`
				Failure *struct {
					Body string `xml:",chardata"`
				} `xml:"failure"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("junit: %v\n%s", err, raw)
	}
	if len(doc.Suites) != 2 || doc.Suites[0].Name != "reprovision pxe-smoke" || doc.Suites[0].Tests != 2 || doc.Suites[0].Failures != 1 ||
		doc.Suites[0].Cases[1].Failure == nil || !strings.Contains(doc.Suites[0].Cases[1].Failure.Body, "uefi1") {
		t.Errorf("junit.xml: want a suite of 2 machines with uefi1 failed, then the checks after bios1:\n%s", raw)
	}
	if len(doc.Suites) == 2 && (doc.Suites[1].Failures != 0 || doc.Suites[1].Tests != 2) {
		t.Errorf("junit.xml: checks after bios1: want 2 passed:\n%s", raw)
	}
}
