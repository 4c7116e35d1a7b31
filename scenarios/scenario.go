// Package scenarios holds labctl's lab scenarios as data (scenario.yaml plus a
// matchbox-layout data directory each) and loads and validates them.
package scenarios

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/labctl/labctl/lab"
)

// builtin holds the scenarios that ship inside the binary.
//
//go:embed all:*/scenario.yaml all:*/data
var builtin embed.FS

// FileName is the scenario file inside a scenario directory.
const FileName = "scenario.yaml"

// Scenario is one lab: a network, its machines, the images they boot, the
// boot service's data directory and the checks that say it converged.
type Scenario struct {
	Name        string        `yaml:"name"`
	Description string        `yaml:"description"` // required; the first sentence is its summary
	Images      []string      `yaml:"images"`      // images whose files are served under /assets/<image>/
	Deadline    Duration      `yaml:"deadline"`    // for all checks together
	Network     NetworkSpec   `yaml:"network"`
	Defaults    MachineSpec   `yaml:"defaults"` // fills fields a machine leaves empty
	Machines    []MachineSpec `yaml:"machines"`
	Checks      []Check       `yaml:"checks"`
	// Certificates the lab CA issues (see pki.go); Kubeconfig, when set,
	// is written to the lab's directory for `labctl kubectl`.
	Certificates []CertificateSpec `yaml:"certificates"`
	Kubeconfig   *KubeconfigSpec   `yaml:"kubeconfig"`

	// Data is the matchbox-layout data directory (groups/, profiles/,
	// ignition/, ...), relative to FS.
	Data string `yaml:"-"`
	FS   fs.FS  `yaml:"-"`
	// Source names the scenario file in errors.
	Source string `yaml:"-"`
}

// NetworkSpec is the scenario's view of lab.Network.
type NetworkSpec struct {
	Subnet  string `yaml:"subnet"`
	Gateway string `yaml:"gateway"`
	Domain  string `yaml:"domain"`
}

// MachineSpec is one machine as written in scenario.yaml.
type MachineSpec struct {
	Name      string   `yaml:"name"`
	MAC       string   `yaml:"mac"`
	UUID      string   `yaml:"uuid"`
	IP        string   `yaml:"ip"`
	MemoryMiB int      `yaml:"memory_mib"`
	VCPUs     int      `yaml:"vcpus"`
	DiskGiB   int      `yaml:"disk_gib"`
	Firmware  string   `yaml:"firmware"`
	Boot      []string `yaml:"boot"`
}

// Check is one named convergence condition, polled until it holds.
type Check struct {
	Name  string   `yaml:"name"`
	Nodes []string `yaml:"nodes"` // machine names; empty means every machine
	// Exactly one of Run or Report is set.
	Run    string        `yaml:"run"`    // shell command run over SSH on each node
	Report *ReportExpect `yaml:"report"` // a call-home event recorded by the boot service
	Expect Expect        `yaml:"expect"`
	// Reboot, when set, reboots each node before the check and waits for
	// it to come back (to prove it boots from its disk).
	Reboot  bool     `yaml:"reboot"`
	Timeout Duration `yaml:"timeout"` // per attempt
}

// ReportExpect matches a /report event the machine sent to the boot service.
type ReportExpect struct {
	Event          string `yaml:"event"`
	DetailContains string `yaml:"detail_contains"`
}

// Expect is what a Run check's result must look like.
type Expect struct {
	ExitStatus     int      `yaml:"exit_status"`
	OutputContains []string `yaml:"output_contains"`
	OutputMatches  string   `yaml:"output_matches"` // a regular expression
	OutputLines    int      `yaml:"output_lines"`   // exact count of non-empty lines; 0 means any
}

// Duration is a time.Duration written as "90s" or "5m" in YAML.
type Duration time.Duration

func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*d = Duration(v)
	return nil
}

// Names lists the built-in scenarios.
func Names() []string {
	entries, _ := fs.ReadDir(builtin, ".")
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	return names
}

// Find loads a scenario by name (built in) or by path (a directory holding
// scenario.yaml, for the user's own scenarios).
func Find(nameOrPath string) (*Scenario, error) {
	if strings.ContainsRune(nameOrPath, os.PathSeparator) || nameOrPath == "." {
		abs, err := filepath.Abs(nameOrPath)
		if err != nil {
			return nil, err
		}
		return Load(os.DirFS(abs), ".", filepath.Join(abs, FileName))
	}
	if _, err := fs.Stat(builtin, path.Join(nameOrPath, FileName)); err != nil {
		return nil, fmt.Errorf("no scenario %q: built-in scenarios are %s (or give a directory path)", nameOrPath, strings.Join(Names(), ", "))
	}
	return Load(builtin, nameOrPath, "scenarios/"+nameOrPath+"/"+FileName)
}

// Load reads dir/scenario.yaml from fsys and validates it. source names the
// file in errors.
func Load(fsys fs.FS, dir, source string) (*Scenario, error) {
	raw, err := fs.ReadFile(fsys, path.Join(dir, FileName))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", source, err)
	}
	s := &Scenario{}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true) // a typo in a field name is an error, not a silent default
	if err := dec.Decode(s); err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	s.FS, s.Data, s.Source = fsys, path.Join(dir, "data"), source
	s.applyDefaults()
	if err := s.validate(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Scenario) applyDefaults() {
	d := s.Defaults
	fallback := MachineSpec{MemoryMiB: 512, VCPUs: 1, DiskGiB: 4, Firmware: string(lab.BIOS), Boot: []string{"network", "disk"}}
	for i := range s.Machines {
		m := &s.Machines[i]
		for _, src := range []MachineSpec{d, fallback} {
			if m.MemoryMiB == 0 {
				m.MemoryMiB = src.MemoryMiB
			}
			if m.VCPUs == 0 {
				m.VCPUs = src.VCPUs
			}
			if m.DiskGiB == 0 {
				m.DiskGiB = src.DiskGiB
			}
			if m.Firmware == "" {
				m.Firmware = src.Firmware
			}
			if len(m.Boot) == 0 {
				m.Boot = src.Boot
			}
		}
	}
	if s.Deadline == 0 {
		s.Deadline = Duration(10 * time.Minute)
	}
}

// MinMemoryMiB is the least memory a machine may have: the cloud kernel and
// an initramfs in RAM need about this much to boot at all.
const MinMemoryMiB = 256

var dnsLabel = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

func (s *Scenario) validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s: %s", s.Source, field, fmt.Sprintf(format, args...)))
	}
	if !dnsLabel.MatchString(s.Name) {
		bad("name", "%q is not a DNS label (lower-case letters, digits, '-')", s.Name)
	}
	if strings.TrimSpace(s.Description) == "" {
		bad("description", "missing: say in a first short sentence what the scenario proves (`labctl scenarios` lists it)")
	}
	subnet, err := netip.ParsePrefix(s.Network.Subnet)
	if err != nil || !subnet.Addr().Is4() {
		bad("network.subnet", "%q is not an IPv4 prefix such as 10.77.0.0/24", s.Network.Subnet)
	}
	subnet = subnet.Masked()
	gw, err := netip.ParseAddr(s.Network.Gateway)
	if err != nil || !subnet.Contains(gw) {
		bad("network.gateway", "%q is not an address in %s", s.Network.Gateway, s.Network.Subnet)
	}
	if s.Network.Domain == "" {
		bad("network.domain", "missing")
	}
	if len(s.Machines) == 0 {
		bad("machines", "a scenario needs at least one machine")
	}
	seen := map[string]string{} // "kind value" -> first field that had it
	unique := func(field, kind, value string) {
		key := kind + " " + strings.ToLower(value)
		if first, ok := seen[key]; ok {
			bad(field, "duplicate %s %s (also %s)", kind, value, first)
			return
		}
		seen[key] = field
	}
	unique("network.gateway", "ip", s.Network.Gateway)
	for i, m := range s.Machines {
		f := func(name string) string { return fmt.Sprintf("machines[%d].%s", i, name) }
		if !dnsLabel.MatchString(m.Name) {
			bad(f("name"), "%q is not a DNS label", m.Name)
		}
		unique(f("name"), "name", m.Name)
		if mac, err := net.ParseMAC(m.MAC); err != nil || len(mac) != 6 {
			bad(f("mac"), "%q is not a MAC address", m.MAC)
		} else if mac[0]&1 == 1 {
			bad(f("mac"), "%s is a multicast address", m.MAC)
		} else {
			unique(f("mac"), "mac", mac.String())
		}
		if !isUUID(m.UUID) {
			bad(f("uuid"), "%q is not a UUID", m.UUID)
		} else {
			unique(f("uuid"), "uuid", m.UUID)
		}
		if ip, err := netip.ParseAddr(m.IP); err != nil {
			bad(f("ip"), "%q is not an IP address", m.IP)
		} else if !subnet.Contains(ip) || ip == subnet.Addr() {
			bad(f("ip"), "%s is outside the lab subnet %s", m.IP, s.Network.Subnet)
		} else {
			unique(f("ip"), "ip", ip.String())
		}
		if m.MemoryMiB < MinMemoryMiB {
			bad(f("memory_mib"), "%d MiB is too little (at least %d)", m.MemoryMiB, MinMemoryMiB)
		}
		if m.VCPUs < 1 {
			bad(f("vcpus"), "must be at least 1")
		}
		if m.DiskGiB < 1 {
			bad(f("disk_gib"), "must be at least 1")
		}
		if m.Firmware != string(lab.BIOS) && m.Firmware != string(lab.UEFI) {
			bad(f("firmware"), "%q is neither bios nor uefi", m.Firmware)
		}
		for j, b := range m.Boot {
			if b != string(lab.BootNetwork) && b != string(lab.BootDisk) {
				bad(fmt.Sprintf("machines[%d].boot[%d]", i, j), "%q is neither network nor disk", b)
			}
		}
	}
	names := map[string]bool{}
	for _, m := range s.Machines {
		names[m.Name] = true
	}
	for i, c := range s.Checks {
		f := func(name string) string { return fmt.Sprintf("checks[%d].%s", i, name) }
		if c.Name == "" {
			bad(f("name"), "missing")
		}
		if (c.Run == "") == (c.Report == nil) {
			bad(f("run"), "a check has exactly one of run or report")
		}
		for _, n := range c.Nodes {
			if !names[n] {
				bad(f("nodes"), "no machine named %q", n)
			}
		}
		if c.Expect.OutputMatches != "" {
			if _, err := regexp.Compile(c.Expect.OutputMatches); err != nil {
				bad(f("expect.output_matches"), "%v", err)
			}
		}
	}
	s.validateCertificates(bad, names)
	if st, err := fs.Stat(s.FS, path.Join(s.Data, "groups")); err != nil || !st.IsDir() {
		bad("data", "no data/groups directory beside %s", FileName)
	}
	return errors.Join(errs...)
}

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// isUUID accepts lower-case UUIDs only: SMBIOS, iPXE's ${uuid} and the boot
// service's selectors compare them as strings.
func isUUID(s string) bool { return uuidRE.MatchString(s) }

// Lab turns the scenario into the lab model. dir is the lab's state
// directory and netns the namespace it lives in.
func (s *Scenario) Lab(dir, netns string) *lab.Lab {
	subnet := netip.MustParsePrefix(s.Network.Subnet).Masked()
	l := &lab.Lab{
		Name:  s.Name,
		Netns: netns,
		Dir:   dir,
		Network: lab.Network{
			Name:    "labbr0", // each lab has its own namespace, so one name serves all
			Subnet:  subnet,
			Gateway: netip.MustParseAddr(s.Network.Gateway),
			Domain:  s.Network.Domain,
		},
	}
	for _, m := range s.Machines {
		mac, _ := net.ParseMAC(m.MAC)
		boot := make([]lab.BootDevice, len(m.Boot))
		for i, b := range m.Boot {
			boot[i] = lab.BootDevice(b)
		}
		l.Machines = append(l.Machines, lab.Machine{
			Name:      m.Name,
			MAC:       mac,
			UUID:      m.UUID,
			IP:        netip.MustParseAddr(m.IP),
			MemoryMiB: m.MemoryMiB,
			VCPUs:     m.VCPUs,
			DiskGiB:   m.DiskGiB,
			Firmware:  lab.Firmware(m.Firmware),
			Boot:      boot,
		})
	}
	return l
}
