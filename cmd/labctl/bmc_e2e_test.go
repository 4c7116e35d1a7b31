package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/labctl/labctl/bootsvc/bootlog"
	"github.com/labctl/labctl/internal/power"
	"github.com/labctl/labctl/internal/testenv"
	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/lab/control"
	"github.com/labctl/labctl/lab/netns"
	"github.com/labctl/labctl/lab/state"
)

// bmcLab is a running pxe-smoke lab (qemu provider) seen from the test:
// its state, the provider's view of power, and its machine log.
type bmcLab struct {
	e      *e2eEnv
	st     *state.State
	power  lab.PowerDriver
	status control.Status
}

func upBMCLab(t *testing.T, ctx context.Context) *bmcLab {
	t.Helper()
	return upBMCLabFrom(t, ctx, "pxe-smoke")
}

// upBMCLabFrom runs the pxe-smoke lab from source: the built-in scenario
// or a directory holding a variant of it.
func upBMCLabFrom(t *testing.T, ctx context.Context, source string) *bmcLab {
	t.Helper()
	e := newE2E(t, "pxe-smoke")
	if out, err := e.run(ctx, "up", source, "--provider", "qemu", "--netns", e.netns); err != nil {
		t.Fatalf("labctl up: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if out, err := e.run(context.Background(), "down", "pxe-smoke"); err != nil {
			t.Errorf("labctl down: %v\n%s", err, out)
		}
		e.assertNothingLeft(t)
	})
	st, err := state.Load(filepath.Join(e.stateDir, "pxe-smoke"))
	if err != nil {
		t.Fatal(err)
	}
	prov, err := control.Provider(st)
	if err != nil {
		t.Fatal(err)
	}
	b := &bmcLab{e: e, st: st, power: prov.(lab.PowerDriver)}
	out, err := e.command(ctx, "status", "pxe-smoke", "--output", "json").Output()
	if err != nil {
		t.Fatalf("labctl status: %v", err)
	}
	if err := json.Unmarshal(out, &b.status); err != nil {
		t.Fatalf("status json: %v\n%s", err, out)
	}
	return b
}

func (b *bmcLab) machine(t *testing.T, name string) (lab.Machine, control.MachineStatus) {
	t.Helper()
	for i, m := range b.st.Lab.Machines {
		if m.Name == name {
			return m, b.status.Machines[i]
		}
	}
	t.Fatalf("no machine %s", name)
	return lab.Machine{}, control.MachineStatus{}
}

// ns runs a command inside the lab's namespace.
func (b *bmcLab) ns(ctx context.Context, env []string, argv ...string) (string, error) {
	cmd := netns.Command(ctx, b.st.Lab.Netns, argv...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (b *bmcLab) waitPower(t *testing.T, name string, want power.State, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		st, err := b.power.PowerState(context.Background(), b.st.Lab, name)
		if err == nil && st == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: power %s (%v) after %s, want %s", name, st, err, d, want)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// events returns the machine log's events of m of kind after since. A log
// that cannot be read fails the test: an empty answer would pass a
// negative check and time out a positive one.
func (b *bmcLab) events(t *testing.T, m lab.Machine, kind string, since time.Time) []bootlog.Event {
	t.Helper()
	// curl in the namespace, not netns.Do: a goroutine that enters the
	// namespace may wedge the test's main thread there, and `labctl down`
	// kills every process `ip netns pids` lists.
	raw, err := b.ns(context.Background(), nil, "curl", "-sf", "http://"+b.st.Lab.BootAddr()+"/machines")
	if err != nil {
		t.Fatalf("machine log: curl /machines: %v\n%s", err, raw)
	}
	var ms []bootlog.Record
	if err := json.Unmarshal([]byte(raw), &ms); err != nil {
		t.Fatalf("machine log: %v in %q", err, raw)
	}
	var out []bootlog.Event
	if rec := bootlog.Find(ms, m.MAC, m.UUID); rec != nil {
		for _, e := range rec.Events {
			if e.Kind == kind && e.Time.After(since) {
				out = append(out, e)
			}
		}
	}
	return out
}

// waitBooted waits for a "booted" report from m after since: it booted
// from the network (the smoke initramfs is only served by the boot service).
func (b *bmcLab) waitBooted(t *testing.T, m lab.Machine, since time.Time) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for len(b.events(t, m, bootlog.KindReport, since)) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%s: no booted report after %s", m.Name, since.Format(time.RFC3339))
		}
		time.Sleep(time.Second)
	}
	if len(b.events(t, m, bootlog.KindIPXE, since)) == 0 {
		t.Errorf("%s: reported without fetching /ipxe after %s", m.Name, since.Format(time.RFC3339))
	}
}

// firstBootDevice is the device QEMU was started to boot from first, read
// from the running QEMU process's command line (bootindex=1).
func (b *bmcLab) firstBootDevice(t *testing.T, m lab.Machine) power.BootDevice {
	t.Helper()
	st, err := state.Load(b.st.Lab.Dir)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", st.Pids["qemu/"+m.Name]))
	if err != nil {
		t.Fatalf("%s: qemu command line: %v", m.Name, err)
	}
	cmdline := string(raw)
	switch {
	case strings.Contains(cmdline, "drive=disk0,bootindex=1"):
		return power.BootDisk
	case strings.Contains(cmdline, "mac="+m.MAC.String()+",bootindex=1"):
		return power.BootNetwork
	}
	t.Fatalf("%s: no bootindex=1 in %q", m.Name, cmdline)
	return ""
}

func serialFrom(t *testing.T, path string, off int64) string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("serial log: %v", err)
	}
	if int64(len(raw)) < off {
		off = 0
	}
	return string(raw[off:])
}

func fileSize(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return st.Size()
}

// TestE2EVirtualBMCTools drives a running lab's VMs through their virtual
// BMCs with tools labctl did not write, run inside the lab's namespace:
// ipmitool and FreeIPMI for the BIOS VM, redfishtool and sushy for the UEFI
// VM, each effect checked on the VM itself.
func TestE2EVirtualBMCTools(t *testing.T) {
	testenv.Tool(t, "ipmitool", "ipmitool")
	testenv.Tool(t, "ipmi-power", "freeipmi-tools")
	testenv.Tool(t, "ipmi-chassis-config", "freeipmi-tools")
	testenv.Tool(t, "redfishtool", "redfishtool")
	ctx, cancel := e2eContext(t)
	defer cancel()
	b := upBMCLab(t, ctx)
	bios, biosBMC := b.machine(t, "bios1")
	uefi, uefiBMC := b.machine(t, "uefi1")

	t.Run("status lists the BMCs", func(t *testing.T) {
		want := &control.MachineBMC{IPMI: "10.77.0.1:6230", Redfish: "https://10.77.0.1:8443/redfish/v1/Systems/" + bios.UUID, Username: "admin",
			PasswordFile: b.st.Lab.BMCPasswordFile()}
		if biosBMC.BMC == nil || *biosBMC.BMC != *want {
			t.Errorf("bios1 bmc %+v, want %+v", biosBMC.BMC, want)
		}
		// One CA for the lab: the Redfish certificate verifies against it.
		if want := filepath.Join(b.st.Lab.Dir, "pki", "ca.crt"); b.status.CAFile != want {
			t.Errorf("status names CA %q, want the lab CA %s", b.status.CAFile, want)
		}
		if uefiBMC.BMC == nil || uefiBMC.BMC.IPMI != "10.77.0.1:6231" {
			t.Errorf("uefi1 bmc %+v", uefiBMC.BMC)
		}
		st, err := os.Stat(want.PasswordFile)
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("password file: %v %v, want mode 0600", err, st)
		}
		if log, _ := os.ReadFile(b.st.Lab.ProcessLog()); strings.Contains(string(log), b.password(t)) {
			t.Errorf("the lab process log holds the BMC password")
		}
	})
	// The smoke initramfs powers the machines off once they have reported.
	b.waitPower(t, bios.Name, power.Off, 2*time.Minute)
	b.waitPower(t, uefi.Name, power.Off, 2*time.Minute)

	host, port, _ := strings.Cut(biosBMC.BMC.IPMI, ":")
	ipmitool := func(t *testing.T, args ...string) string {
		t.Helper()
		out, err := b.ns(ctx, nil, append([]string{"ipmitool", "-I", "lanplus", "-H", host, "-p", port, "-U", "admin", "-f", biosBMC.BMC.PasswordFile}, args...)...)
		if err != nil {
			t.Fatalf("ipmitool %v: %v\n%s", args, err, out)
		}
		return out
	}
	freeipmiConf := filepath.Join(t.TempDir(), "freeipmi.conf")
	if err := os.WriteFile(freeipmiConf, []byte("username admin\npassword "+b.password(t)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	freeipmi := func(t *testing.T, tool string, args ...string) string {
		t.Helper()
		out, err := b.ns(ctx, nil, append([]string{tool, "--config-file", freeipmiConf, "-h", biosBMC.BMC.IPMI, "-D", "LAN_2_0"}, args...)...)
		if err != nil {
			t.Fatalf("%s %v: %v\n%s", tool, args, err, out)
		}
		return out
	}

	t.Run("ipmitool: bootdev disk, power on", func(t *testing.T) {
		if out := ipmitool(t, "power", "status"); !strings.Contains(out, "Chassis Power is off") {
			t.Fatalf("power status: %s", out)
		}
		ipmitool(t, "chassis", "bootdev", "disk")
		ipmitool(t, "power", "on")
		b.waitPower(t, bios.Name, power.On, 10*time.Second)
		if d := b.firstBootDevice(t, bios); d != power.BootDisk {
			t.Errorf("bios1 boots %s first, want disk", d)
		}
		if out := ipmitool(t, "power", "status"); !strings.Contains(out, "Chassis Power is on") {
			t.Errorf("power status: %s", out)
		}
	})
	t.Run("freeipmi: boot flags pxe once, power cycle", func(t *testing.T) {
		freeipmi(t, "ipmi-chassis-config", "--commit", "-e", "Chassis_Boot_Flags:Boot_Device=PXE", "-e", "Chassis_Boot_Flags:Boot_Flags_Persistent=No")
		if out := freeipmi(t, "ipmi-chassis-config", "--checkout", "-S", "Chassis_Boot_Flags"); !strings.Contains(out, "PXE") {
			t.Errorf("boot flags read back: %s", out)
		}
		since := time.Now()
		freeipmi(t, "ipmi-power", "--cycle")
		b.waitPower(t, bios.Name, power.On, 10*time.Second)
		if d := b.firstBootDevice(t, bios); d != power.BootNetwork {
			t.Errorf("bios1 boots %s first, want network", d)
		}
		b.waitBooted(t, bios, since)
		b.waitPower(t, bios.Name, power.Off, time.Minute)
		if out := freeipmi(t, "ipmi-power", "--stat"); !strings.Contains(out, "off") {
			t.Errorf("ipmi-power --stat: %s", out)
		}
	})

	rf := strings.TrimPrefix(b.st.Lab.RedfishURL(), "https://")
	// requests lets REQUESTS_CA_BUNDLE override the CA a program passes.
	caEnv := []string{"REQUESTS_CA_BUNDLE=" + b.status.CAFile}
	redfishtool := func(t *testing.T, args ...string) string {
		t.Helper()
		full := append([]string{"redfishtool", "-r", rf, "-u", "admin", "-p", b.password(t), "-A", "Session", "-S", "Always", "Systems", "-I", uefi.UUID}, args...)
		out, err := b.ns(ctx, caEnv, full...)
		if err != nil {
			t.Fatalf("redfishtool %v: %v\n%s", args, err, out)
		}
		return out
	}
	serial := filepath.Join(b.st.Lab.Dir, "machines", uefi.Name, "serial.log")

	t.Run("redfishtool: override once Hdd, reset On", func(t *testing.T) {
		if out := redfishtool(t, "get"); !strings.Contains(out, `"PowerState": "Off"`) {
			t.Fatalf("get: %s", out)
		}
		redfishtool(t, "setBootOverride", "Once", "Hdd")
		off := fileSize(serial)
		redfishtool(t, "reset", "On")
		b.waitPower(t, uefi.Name, power.On, 10*time.Second)
		if d := b.firstBootDevice(t, uefi); d != power.BootDisk {
			t.Errorf("uefi1 boots %s first, want disk", d)
		}
		// OVMF tries the (empty) virtio disk first and says so on the console.
		deadline := time.Now().Add(2 * time.Minute)
		for !strings.Contains(serialFrom(t, serial, off), `failed to load Boot`) {
			if time.Now().After(deadline) {
				t.Fatalf("uefi1 did not try its disk; serial since reset:\n%s", serialFrom(t, serial, off))
			}
			time.Sleep(time.Second)
		}
		if s := serialFrom(t, serial, off); strings.Index(s, "iPXE") >= 0 && strings.Index(s, "iPXE") < strings.Index(s, "failed to load Boot") {
			t.Errorf("uefi1 ran iPXE before trying its disk:\n%s", s)
		}
	})
	t.Run("sushy: pxe once, force restart", func(t *testing.T) {
		script := filepath.Join(t.TempDir(), "sushy_drive.py")
		os.WriteFile(script, []byte(sushyLabScript), 0o644)
		sushy := func(t *testing.T, op string) string {
			t.Helper()
			env := []string{"BMC_URL=" + b.st.Lab.RedfishURL(), "BMC_PASSWORD_FILE=" + uefiBMC.BMC.PasswordFile, "BMC_CA=" + b.status.CAFile, "BMC_UUID=" + uefi.UUID}
			out, err := b.ns(ctx, append(env, caEnv...), "/usr/bin/python3", script, op)
			if err != nil {
				t.Fatalf("sushy %s: %v\n%s", op, err, out)
			}
			return out
		}
		if out := sushy(t, "pxe-once"); !strings.Contains(out, "target=Pxe enabled=Once") {
			t.Errorf("sushy sees %s", out)
		}
		since := time.Now()
		sushy(t, "force-restart")
		b.waitPower(t, uefi.Name, power.On, 10*time.Second)
		if d := b.firstBootDevice(t, uefi); d != power.BootNetwork {
			t.Errorf("uefi1 boots %s first, want network", d)
		}
		b.waitBooted(t, uefi, since)
		b.waitPower(t, uefi.Name, power.Off, time.Minute)
		if out := sushy(t, "status"); !strings.Contains(out, "power=Off") {
			t.Errorf("sushy sees %s", out)
		}
	})
}

const sushyLabScript = `
import os, sys, sushy
from sushy import auth
pw = open(os.environ["BMC_PASSWORD_FILE"]).read().strip()
s = sushy.Sushy(os.environ["BMC_URL"] + "/redfish/v1", auth=auth.SessionAuth("admin", pw), verify=os.environ["BMC_CA"])
system = s.get_system("/redfish/v1/Systems/" + os.environ["BMC_UUID"])
op = sys.argv[1]
if op == "pxe-once":
    system.set_system_boot_options(sushy.BOOT_SOURCE_TARGET_PXE, enabled=sushy.BOOT_SOURCE_ENABLED_ONCE)
elif op == "force-restart":
    system.reset_system(sushy.RESET_FORCE_RESTART)
system.refresh()
print("power=%s target=%s enabled=%s" % (system.power_state.value, system.boot.target.value, system.boot.enabled.value))
`

func (b *bmcLab) password(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile(b.st.Lab.BMCPasswordFile())
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(raw))
}

// TestE2EReprovisionLab reprovisions each machine of a running lab through
// one protocol, and checks that a wrong password fails naming the machine
// and BMC without touching the VM.
func TestE2EReprovisionLab(t *testing.T) {
	ctx, cancel := e2eContext(t)
	defer cancel()
	b := upBMCLab(t, ctx)
	for _, name := range []string{"bios1", "uefi1"} {
		b.waitPower(t, name, power.Off, 2*time.Minute)
	}
	cases := []struct {
		machine, protocol, endpoint string
	}{
		{"bios1", "ipmi", "ipmi 10.77.0.1:6230"},
		{"uefi1", "redfish", "redfish https://10.77.0.1:8443"},
	}
	for _, tc := range cases {
		t.Run(tc.machine+" via "+tc.protocol, func(t *testing.T) {
			m, _ := b.machine(t, tc.machine)
			since := time.Now()
			out, err := b.e.run(ctx, "reprovision", "pxe-smoke", tc.machine, "--protocol", tc.protocol, "--timeout", "4m")
			t.Logf("labctl reprovision:\n%s", out)
			if err != nil {
				t.Fatalf("labctl reprovision: %v", err)
			}
			b.waitBooted(t, m, since)
			if !strings.Contains(out, "all 2 checks passed") {
				t.Errorf("output lacks the scenario's checks")
			}
			b.waitPower(t, tc.machine, power.Off, time.Minute)
		})
	}
	t.Run("both through DHCP and boot service outages", b.testReprovisionThroughBootPathFaults(ctx))
	pwFile := b.st.Lab.BMCPasswordFile()
	good, err := os.ReadFile(pwFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pwFile, []byte("not-the-password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	defer os.WriteFile(pwFile, good, 0o600)
	for _, tc := range cases {
		t.Run(tc.machine+" via "+tc.protocol+" with a wrong password", func(t *testing.T) {
			m, _ := b.machine(t, tc.machine)
			since := time.Now()
			before, _ := b.power.PowerState(ctx, b.st.Lab, tc.machine)
			out, err := b.e.run(ctx, "reprovision", "pxe-smoke", tc.machine, "--protocol", tc.protocol, "--timeout", "1m")
			t.Logf("labctl reprovision:\n%s", out)
			if err == nil {
				t.Fatalf("reprovision with a wrong password succeeded:\n%s", out)
			}
			for _, want := range []string{tc.machine + ": FAILED", tc.endpoint, "credentials"} {
				if !strings.Contains(out, want) {
					t.Errorf("error lacks %q:\n%s", want, out)
				}
			}
			if strings.Contains(out, strings.TrimSpace(string(good))) {
				t.Errorf("output holds the real password")
			}
			// No wait: labctl has exited, and every request it made was
			// answered with a refusal (an IPMI session that never opened,
			// Redfish's 401), which a BMC sends before any action; no
			// request of its is left to act later.
			if after, _ := b.power.PowerState(ctx, b.st.Lab, tc.machine); after != before {
				t.Errorf("power %s -> %s after a refused reprovision", before, after)
			}
			if ev := b.events(t, m, bootlog.KindIPXE, since); len(ev) != 0 {
				t.Errorf("machine booted from the network after a refused reprovision: %v", ev)
			}
		})
	}
}

// TestE2EReprovisionWithoutOnce reprovisions a lab machine whose virtual
// BMC behaves like sushy-tools (no sessions, Once reported as Continuous,
// busy first answers): labctl warns, sets PXE persistently, and puts the
// disk first again after the config fetch, so the next start boots the disk.
func TestE2EReprovisionWithoutOnce(t *testing.T) {
	ctx, cancel := e2eContext(t)
	defer cancel()
	src := filepath.Join(t.TempDir(), "pxe-smoke")
	if err := os.CopyFS(src, os.DirFS("../../scenarios/pxe-smoke")); err != nil {
		t.Fatal(err)
	}
	yml := filepath.Join(src, "scenario.yaml")
	raw, err := os.ReadFile(yml)
	if err != nil {
		t.Fatal(err)
	}
	quirky := strings.Replace(string(raw), "    firmware: uefi\n", "    firmware: uefi\n    bmc_profile: sushy-tools\n", 1)
	if quirky == string(raw) {
		t.Fatal("scenarios/pxe-smoke has no uefi machine to give the profile")
	}
	if err := os.WriteFile(yml, []byte(quirky), 0o644); err != nil {
		t.Fatal(err)
	}
	b := upBMCLabFrom(t, ctx, src)
	m, ms := b.machine(t, "uefi1")
	if want := "https://10.77.0.1:8445/redfish/v1/Systems/" + m.UUID; ms.BMC == nil || ms.BMC.Redfish != want {
		t.Errorf("status shows uefi1's BMC as %+v, want its own service %s", ms.BMC, want)
	}
	b.waitPower(t, "uefi1", power.Off, 2*time.Minute)

	since := time.Now()
	out, err := b.e.run(ctx, "reprovision", "pxe-smoke", "uefi1", "--protocol", "redfish", "--timeout", "4m")
	t.Logf("labctl reprovision:\n%s", out)
	if err != nil {
		t.Fatalf("labctl reprovision: %v", err)
	}
	b.waitBooted(t, m, since)
	if !strings.Contains(out, "uefi1: BMC reports BootSourceOverrideEnabled Continuous after a Once request") {
		t.Errorf("no warning that the BMC has no one-time boot")
	}
	b.waitPower(t, "uefi1", power.Off, time.Minute)
	// The real effect: the next start boots the disk, not the installer.
	// Started through its (IPMI) virtual BMC, so that the lab process starts it.
	host, port, _ := strings.Cut(ms.BMC.IPMI, ":")
	if out, err := b.ns(ctx, nil, "ipmitool", "-I", "lanplus", "-H", host, "-p", port, "-U", "admin", "-f", ms.BMC.PasswordFile, "power", "on"); err != nil {
		t.Fatalf("ipmitool power on: %v\n%s", err, out)
	}
	b.waitPower(t, "uefi1", power.On, time.Minute)
	if d := b.firstBootDevice(t, m); d != power.BootDisk {
		t.Errorf("after reprovisioning, uefi1 starts from %s, want disk", d)
	}
}
