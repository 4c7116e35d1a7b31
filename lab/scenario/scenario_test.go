package scenario

import (
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/labctl/labctl/lab/sshkeys"
)

const validYAML = `name: t
description: A test. More about it.
network: {subnet: 10.9.0.0/24, gateway: 10.9.0.1, domain: t.lab}
machines:
  - {name: a, mac: "52:54:00:00:00:01", uuid: 00000000-0000-0000-0000-000000000001, ip: 10.9.0.11}
  - {name: b, mac: "52:54:00:00:00:02", uuid: 00000000-0000-0000-0000-000000000002, ip: 10.9.0.12, firmware: uefi, bmc_profile: sushy-tools}
checks:
  - {name: c, run: "true", expect: {output_matches: '^ok$', fail_matches: 'forbidden'}}
reprovision:
  before: {node: a, run: "drain $LABCTL_MACHINES"}
  after: {run: "true", timeout: 30s}
`

func load(t *testing.T, y string) (*Scenario, error) {
	t.Helper()
	fsys := fstest.MapFS{
		"s/scenario.yaml":        {Data: []byte(y)},
		"s/data/groups/a.json":   {Data: []byte(`{"id":"a","profile":"p","selector":{"mac":"52-54-00-00-00-01"},"metadata":{"x":1}}`)},
		"s/data/groups/d.json":   {Data: []byte(`{"id":"d","profile":"p"}`)},
		"s/data/profiles/p.json": {Data: []byte(`{"id":"p"}`)},
	}
	return Load(fsys, "s", "s/scenario.yaml")
}

func TestLoadValid(t *testing.T) {
	s, err := load(t, validYAML)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Machines[0]; got.MemoryMiB != 512 || got.Firmware != "bios" || len(got.Boot) != 2 {
		t.Errorf("defaults not applied: %+v", got)
	}
	l := s.Lab("/tmp/x", "ns")
	if l.Machines[1].Firmware != "uefi" || l.Machines[1].BMCProfile != "sushy-tools" || l.Machines[0].BMCProfile != "" || l.Network.Gateway.String() != "10.9.0.1" {
		t.Errorf("lab = %+v", l)
	}
}

// TestTPM: tpm is per machine, and defaults.tpm gives every machine one.
func TestTPM(t *testing.T) {
	for _, tc := range []struct {
		name, defaults, machineA string
		want                     [2]bool // machines a and b
	}{
		{"none", "", "", [2]bool{false, false}},
		{"one machine", "", ", tpm: true", [2]bool{true, false}},
		{"every machine by default", "defaults: {tpm: true}\n", "", [2]bool{true, true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			y := strings.Replace(validYAML, "ip: 10.9.0.11}", "ip: 10.9.0.11"+tc.machineA+"}", 1) + tc.defaults
			s, err := load(t, y)
			if err != nil {
				t.Fatal(err)
			}
			l := s.Lab("/tmp/x", "ns")
			if got := [2]bool{l.Machines[0].TPM, l.Machines[1].TPM}; got != tc.want {
				t.Errorf("TPM of a, b = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestSecureBoot: secure_boot is per machine, and defaults.secure_boot
// gives every machine Secure Boot (all UEFI here).
func TestSecureBoot(t *testing.T) {
	uefi := strings.Replace(validYAML, "ip: 10.9.0.11}", "ip: 10.9.0.11, firmware: uefi}", 1)
	for _, tc := range []struct {
		name, yaml string
		want       [2]bool // machines a and b
	}{
		{"none", uefi, [2]bool{false, false}},
		{"one machine", strings.Replace(uefi, "bmc_profile: sushy-tools}", "bmc_profile: sushy-tools, secure_boot: true}", 1), [2]bool{false, true}},
		{"every machine by default", uefi + "defaults: {secure_boot: true}\n", [2]bool{true, true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := load(t, tc.yaml)
			if err != nil {
				t.Fatal(err)
			}
			l := s.Lab("/tmp/x", "ns")
			if got := [2]bool{l.Machines[0].SecureBoot, l.Machines[1].SecureBoot}; got != tc.want {
				t.Errorf("SecureBoot of a, b = %v, want %v", got, tc.want)
			}
		})
	}
}

// An IPv6 subnet makes machines with an IPv6 ip IPv6-only and those with
// an ip6 dual stack; the lab network carries it.
func TestIPv6(t *testing.T) {
	y := strings.Replace(validYAML, "domain: t.lab}", `domain: t.lab, subnet6: "fd00:9::/64"}`, 1)
	y = strings.Replace(y, "ip: 10.9.0.11}", `ip: "fd00:9::11"}`, 1)
	y = strings.Replace(y, "ip: 10.9.0.12,", `ip: 10.9.0.12, ip6: "fd00:9::12",`, 1)
	s, err := load(t, y)
	if err != nil {
		t.Fatal(err)
	}
	l := s.Lab("/tmp/x", "ns")
	if got := l.Network.Subnet6.String(); got != "fd00:9::/64" {
		t.Errorf("Subnet6 = %s", got)
	}
	a, b := l.Machines[0], l.Machines[1]
	if !a.IPv6Only() || a.Addr6().String() != "fd00:9::11" {
		t.Errorf("a: IPv6-only %v, Addr6 %v; want IPv6-only fd00:9::11", a.IPv6Only(), a.Addr6())
	}
	if b.IPv6Only() || b.IP.String() != "10.9.0.12" || b.Addr6().String() != "fd00:9::12" {
		t.Errorf("b: IPv6-only %v, IP %v, Addr6 %v; want dual stack 10.9.0.12 and fd00:9::12", b.IPv6Only(), b.IP, b.Addr6())
	}
	for _, tc := range []struct{ old, new, want string }{
		{`ip: "fd00:9::11"`, `ip: "fd00:8::11"`, "machines[0].ip: fd00:8::11 is outside the lab's IPv6 subnet fd00:9::/64"},
		{`ip: "fd00:9::11"`, `ip: "fd00:9::1"`, "machines[0].ip: fd00:9::1 is outside the lab's IPv6 subnet fd00:9::/64 (or its ::, or ::1, the gateway's)"},
		{`ip6: "fd00:9::12"`, `ip6: "fd00:9::11"`, "machines[1].ip6: duplicate ip fd00:9::11 (also machines[0].ip)"},
		{`ip6: "fd00:9::12"`, `ip6: "10.9.0.13"`, `machines[1].ip6: "10.9.0.13" is not an IPv6 address`},
		{`ip: "fd00:9::11"}`, `ip: "fd00:9::11", ip6: "fd00:9::13"}`, "machines[0].ip6: ip fd00:9::11 is already IPv6"},
	} {
		if _, err := load(t, strings.Replace(y, tc.old, tc.new, 1)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s -> %s: err = %v, want %q", tc.old, tc.new, err, tc.want)
		}
	}
}

func TestLoadInvalid(t *testing.T) {
	tests := []struct {
		name, old, new, want string
	}{
		{"duplicate mac", `"52:54:00:00:00:02"`, `"52-54-00-00-00-01"`, "machines[1].mac: duplicate mac 52:54:00:00:00:01 (also machines[0].mac)"},
		{"multicast mac", `"52:54:00:00:00:02"`, `"01:00:5e:00:00:02"`, "machines[1].mac: 01:00:5e:00:00:02 is a multicast address"},
		{"duplicate uuid", `000000000002`, `000000000001`, "machines[1].uuid: duplicate uuid"},
		{"duplicate name", `name: b`, `name: a`, "machines[1].name: duplicate name a"},
		{"duplicate ip", `10.9.0.12`, `10.9.0.11`, "machines[1].ip: duplicate ip 10.9.0.11"},
		{"ip is gateway", `10.9.0.12`, `10.9.0.1`, "machines[1].ip: duplicate ip 10.9.0.1 (also network.gateway)"},
		{"ip outside subnet", `10.9.0.12`, `10.10.0.12`, "machines[1].ip: 10.10.0.12 is outside the lab subnet"},
		{"too little memory", `firmware: uefi,`, `firmware: uefi, memory_mib: 64,`, "machines[1].memory_mib: 64 MiB is too little"},
		{"bad firmware", `firmware: uefi`, `firmware: coreboot`, `machines[1].firmware: "coreboot" is neither`},
		{"secure boot on bios", `ip: 10.9.0.11}`, `ip: 10.9.0.11, secure_boot: true}`, `machines[0].secure_boot: needs firmware uefi, not "bios"`},
		{"https boot on bios", `ip: 10.9.0.11}`, `ip: 10.9.0.11, https_boot: true}`, `machines[0].https_boot: needs firmware uefi, not "bios"`},
		{"unknown field", `firmware: uefi`, `firmwre: uefi`, "field firmwre not found"},
		{"bad bmc profile", `bmc_profile: sushy-tools`, `bmc_profile: supermicro`, `machines[1].bmc_profile: "supermicro" is not a virtual BMC profile (one of busy, idrac, ilo, no-once, slow, standard, sushy-tools, virtualbmc)`},
		{"bad uuid", `00000000-0000-0000-0000-000000000002`, `not-a-uuid`, `machines[1].uuid: "not-a-uuid" is not a UUID`},
		{"bad subnet", `10.9.0.0/24`, `10.9.0.0/33`, "network.subnet"},
		{"no description", "description: A test. More about it.\n", "", "description: missing"},
		{"blank description", "A test. More about it.", `" "`, "description: missing"},
		{"bad output_matches", `output_matches: '^ok$'`, `output_matches: '(ok'`, "checks[0].expect.output_matches: error parsing regexp"},
		{"bad fail_matches", `fail_matches: 'forbidden'`, `fail_matches: '[x'`, "checks[0].expect.fail_matches: error parsing regexp"},
		{"run and fetched", `run: "true",`, `run: "true", fetched: {file: ipxe.efi, protocol: http},`, "checks[0].run: a check has exactly one of run, report or fetched"},
		{"fetched over ftp", `run: "true",`, `fetched: {file: ipxe.efi, protocol: ftp},`, `checks[0].fetched.protocol: "ftp": want http, https or tftp`},
		{"fetched a path", `run: "true",`, `fetched: {file: efi/ipxe.efi, protocol: http},`, `checks[0].fetched.file: "efi/ipxe.efi" is not a boot file's name`},
		{"http boot on bios", `ip: 10.9.0.11}`, `ip: 10.9.0.11, boot: [http]}`, "machines[0].boot[0]: http (UEFI HTTP boot) needs firmware uefi"},
		{"fetched from ipv5", `run: "true",`, `fetched: {file: ipxe, protocol: http, family: ipv5},`, `checks[0].fetched.family: "ipv5": want ipv4 or ipv6`},
		{"ipv6 machine without subnet6", `10.9.0.12`, `fd00:9::12`, "machines[1].ip: fd00:9::12 is an IPv6 address (an IPv6-only machine) but network.subnet6 is not set"},
		{"ip6 without subnet6", `ip: 10.9.0.12`, `ip: 10.9.0.12, ip6: "fd00:9::12"`, "machines[1].ip6: needs network.subnet6"},
		{"subnet6 not a /64", `domain: t.lab}`, `domain: t.lab, subnet6: "fd00:9::/48"}`, `network.subnet6: "fd00:9::/48" is not an IPv6 /64 prefix`},
		{"subnet6 not unique local", `domain: t.lab}`, `domain: t.lab, subnet6: "2001:db8::/64"}`, "network.subnet6: 2001:db8::/64 is not a unique local prefix (fd00::/8)"},
		{"hook on no machine", `{node: a, run:`, `{node: z, run:`, `reprovision.before.node: no machine named "z"`},
		{"hook without command", `{run: "true", timeout`, `{timeout`, "reprovision.after.run: missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			y := strings.Replace(validYAML, tt.old, tt.new, 1)
			if y == validYAML {
				t.Fatalf("test case does not change the scenario")
			}
			_, err := load(t, y)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "s/scenario.yaml") {
				t.Fatalf("err = %v, want it to name s/scenario.yaml and contain %q", err, tt.want)
			}
		})
	}
}

func TestBuiltinScenariosLoad(t *testing.T) {
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			if _, err := Find(name); err != nil {
				t.Fatal(err)
			}
		})
	}
	if _, err := Find("no-such"); err == nil || !strings.Contains(err.Error(), "pxe-smoke") {
		t.Errorf("Find(no-such) = %v, want an error listing the built-in scenarios", err)
	}
}

func TestWriteData(t *testing.T) {
	s, err := load(t, validYAML)
	if err != nil {
		t.Fatal(err)
	}
	l := s.Lab(t.TempDir(), "ns")
	dst := filepath.Join(t.TempDir(), "data")
	keys, err := sshkeys.LoadOrCreate(t.TempDir(), []string{"a", "b"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.WriteData(dst, l, "http://10.9.0.1:8080", keys, nil); err != nil {
		t.Fatal(err)
	}
	read := func(name string) map[string]any {
		raw, err := os.ReadFile(filepath.Join(dst, "groups", name))
		if err != nil {
			t.Fatal(err)
		}
		var g map[string]any
		if err := json.Unmarshal(raw, &g); err != nil {
			t.Fatal(err)
		}
		return g["metadata"].(map[string]any)
	}
	a := read("a.json")
	if a["x"].(float64) != 1 || a["machine"].(map[string]any)["host_key"] != keys.Hosts["a"].Private {
		t.Errorf("pinned group metadata = %v", a)
	}
	if a["lab"].(map[string]any)["boot_url"] != "http://10.9.0.1:8080" {
		t.Errorf("lab metadata = %v", a["lab"])
	}
	if d := read("d.json"); d["machine"] != nil || d["lab"] == nil {
		t.Errorf("default group metadata = %v, want lab and no machine", d)
	}
	if _, err := os.Stat(filepath.Join(dst, "profiles", "p.json")); err != nil {
		t.Error(err)
	}
}

// On a rack the inventory's MAC replaces the scenario's: the group that
// pinned machine a by its MAC pins the server that is a now, with a's
// metadata.
func TestWriteDataFollowsReplacedMAC(t *testing.T) {
	s, err := load(t, validYAML)
	if err != nil {
		t.Fatal(err)
	}
	l := s.Lab(t.TempDir(), "")
	l.Machines[0].MAC, _ = net.ParseMAC("0c:c4:7a:00:00:31")
	dst := filepath.Join(t.TempDir(), "data")
	keys, err := sshkeys.LoadOrCreate(t.TempDir(), []string{"a", "b"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.WriteData(dst, l, "http://10.9.0.1:8080", keys, nil); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(filepath.Join(dst, "groups", "a.json"))
	var g struct {
		Selector map[string]string
		Metadata struct{ Machine struct{ Name, MAC string } }
	}
	if err := json.Unmarshal(raw, &g); err != nil {
		t.Fatal(err)
	}
	if g.Selector["mac"] != "0c:c4:7a:00:00:31" || g.Metadata.Machine.Name != "a" || g.Metadata.Machine.MAC != "0c:c4:7a:00:00:31" {
		t.Errorf("group a on a rack: selector %v, machine %+v", g.Selector, g.Metadata.Machine)
	}
}

func TestImages(t *testing.T) {
	y := strings.Replace(validYAML, "name: t\n", "name: t\nimages: [smoke, {name: labos, packages: [jq], versions: {kubernetes: v1.31.2}}]\n", 1)
	s, err := load(t, y)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Images) != 2 || s.Images[0].Name != "smoke" || s.Images[1].Name != "labos" ||
		strings.Join(s.Images[1].Packages, ",") != "jq" || s.Images[1].Versions["kubernetes"] != "v1.31.2" {
		t.Errorf("images = %+v", s.Images)
	}
}

const rackYAML = `name: r
description: A simulated rack.
network: {subnet: 10.9.0.0/24, gateway: 10.9.0.1, domain: r.lab, site_dhcp: kea, operator_address: 10.9.0.2}
machines:
  - {name: a, mac: "52:54:00:00:00:01", uuid: 00000000-0000-0000-0000-000000000001, ip: 10.9.0.11, bmc_protocols: [redfish]}
  - {name: b, mac: "52:54:00:00:00:02", uuid: 00000000-0000-0000-0000-000000000002, ip: 10.9.0.12, bmc_protocols: [ipmi, redfish]}
`

func TestLoadRack(t *testing.T) {
	s, err := load(t, rackYAML)
	if err != nil {
		t.Fatal(err)
	}
	l := s.Lab("/tmp/x", "ns")
	if l.Network.SiteDHCP != "kea" || l.Network.Operator.String() != "10.9.0.2" || l.Network.DHCPRole() != "kea" {
		t.Errorf("network = %+v", l.Network)
	}
	if a := l.Machines[0]; !a.Speaks("redfish") || a.Speaks("ipmi") {
		t.Errorf("machine a speaks %v, want redfish only", a.BMCProtocols)
	}
	if b := l.Machines[1]; !b.Speaks("redfish") || !b.Speaks("ipmi") {
		t.Errorf("machine b speaks %v, want both", b.BMCProtocols)
	}
	if l.OperatorNetns() != "ns-operator" {
		t.Errorf("operator namespace %q", l.OperatorNetns())
	}
}

func TestLoadRackInvalid(t *testing.T) {
	tests := []struct {
		name, old, new, want string
	}{
		{"unknown site dhcp", `site_dhcp: kea`, `site_dhcp: dhcpd`, `network.site_dhcp: "dhcpd": want kea`},
		{"operator outside the subnet", `operator_address: 10.9.0.2`, `operator_address: 10.8.0.2`, `network.operator_address: "10.8.0.2" is not an address in 10.9.0.0/24`},
		{"operator on the gateway", `operator_address: 10.9.0.2`, `operator_address: 10.9.0.1`, `network.operator_address: duplicate ip 10.9.0.1 (also network.gateway)`},
		{"machine on the operator's address", `ip: 10.9.0.12`, `ip: 10.9.0.2`, `machines[1].ip: duplicate ip 10.9.0.2 (also network.operator_address)`},
		{"operator without site dhcp", `site_dhcp: kea, `, ``, `network.operator_address: only with site_dhcp`},
		{"unknown bmc protocol", `bmc_protocols: [redfish]`, `bmc_protocols: [wsman]`, `machines[0].bmc_protocols: "wsman": want ipmi or redfish`},
		{"bmc protocol twice", `bmc_protocols: [redfish]`, `bmc_protocols: [redfish, redfish]`, `machines[0].bmc_protocols: redfish twice`},
		{"checks on a rack", "machines:", "checks: [{name: c, run: \"true\"}]\nmachines:", `checks: a simulated rack (network.site_dhcp) runs no boot service`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			y := strings.Replace(rackYAML, tt.old, tt.new, 1)
			if y == rackYAML {
				t.Fatalf("test case does not change the scenario")
			}
			_, err := load(t, y)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "s/scenario.yaml") {
				t.Fatalf("err = %v, want it to name s/scenario.yaml and contain %q", err, tt.want)
			}
		})
	}
}
