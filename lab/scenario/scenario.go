// Package scenario reads and validates scenarios (scenario.yaml plus a
// matchbox-layout data directory each: the built-in ones in package
// scenarios, or the user's own) and turns them into the lab model.
package scenario

import (
	"bytes"
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

	"github.com/labctl/labctl/bmc/virtual"
	"github.com/labctl/labctl/images"
	"github.com/labctl/labctl/internal/power"
	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/scenarios"
)

// FileName is the scenario file inside a scenario directory.
const FileName = "scenario.yaml"

// Scenario is one lab: a network, its machines, the images they boot, the
// boot service's data directory and the checks that say it converged.
type Scenario struct {
	Name        string `yaml:"name"`
	Description string `yaml:"description"` // required; the first sentence is its summary
	// Base names a built-in scenario whose lab this one runs on: its
	// machines, data, checks and the rest come from the base, and the
	// scenario adds only its own steps (base.go).
	Base     string        `yaml:"base"`
	Images   []Image       `yaml:"images"`   // images whose files are served under /assets/<image>/
	Deadline Duration      `yaml:"deadline"` // for all checks together
	Network  NetworkSpec   `yaml:"network"`
	Defaults MachineSpec   `yaml:"defaults"` // fills fields a machine leaves empty
	Machines []MachineSpec `yaml:"machines"`
	Checks   []Check       `yaml:"checks"`
	// Steps run after the checks (`labctl test`, `labctl verify --steps`):
	// each a fault, what must hold while it lasts, and the recovery (steps.go).
	Steps []Step `yaml:"steps"`
	// Certificates the lab CA issues (see pki.go); Kubeconfig, when set,
	// is written to the lab's directory for `labctl kubectl`.
	Certificates []CertificateSpec `yaml:"certificates"`
	Kubeconfig   *KubeconfigSpec   `yaml:"kubeconfig"`
	// Reprovision says how a machine is taken out of service before it is
	// reprovisioned and brought back after (see ReprovisionSpec).
	Reprovision ReprovisionSpec `yaml:"reprovision"`

	// Data is the matchbox-layout data directory (groups/, profiles/,
	// ignition/, ...), relative to FS.
	Data string `yaml:"-"`
	FS   fs.FS  `yaml:"-"`
	// Source names the scenario file in errors.
	Source string `yaml:"-"`
	// dataSource names the data directory in errors: the base's, if any.
	dataSource string
}

// Image is an image a scenario's machines boot: its recipe's name, and the
// options asked of the recipe. In YAML either a name ("labos") or a mapping
// {name: labos, packages: [jq], versions: {kubernetes: v1.31.2}}.
type Image struct {
	Name           string `yaml:"name"`
	images.Options `yaml:",inline"`
}

func (i *Image) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		i.Name = n.Value
		return nil
	}
	type plain Image
	return n.Decode((*plain)(i))
}

// ImageNames lists the names of the scenario's images.
func (s *Scenario) ImageNames() []string {
	names := make([]string, len(s.Images))
	for i, img := range s.Images {
		names[i] = img.Name
	}
	return names
}

// NetworkSpec is the scenario's view of lab.Network.
type NetworkSpec struct {
	Subnet  string `yaml:"subnet"`
	Gateway string `yaml:"gateway"`
	Domain  string `yaml:"domain"`
	// SiteDHCP makes the lab a simulated rack: "kea" runs an independent
	// site DHCP server (Kea, a reservation per machine) on the segment in
	// place of labctl's boot service and dnsmasq. Empty: a lab.
	SiteDHCP string `yaml:"site_dhcp"`
	// OperatorAddress (with site_dhcp) gives an operator an interface on
	// the segment: rack0, in namespace <netns>-operator, with this address.
	OperatorAddress string `yaml:"operator_address"`
	// Subnet6 is an IPv6 /64 of unique local addresses (fd00::/8) on the
	// lab bridge: DHCPv6 with a reservation per machine, router
	// advertisements, the boot service on its ::1. A machine whose ip is
	// in it is IPv6-only; one with ip6 in it is dual stack.
	Subnet6 string `yaml:"subnet6"`
}

// MachineSpec is one machine as written in scenario.yaml.
type MachineSpec struct {
	Name      string   `yaml:"name"`
	MAC       string   `yaml:"mac"`
	UUID      string   `yaml:"uuid"`
	IP        string   `yaml:"ip"`  // IPv4 in network.subnet, or IPv6 in network.subnet6 (IPv6-only)
	IP6       string   `yaml:"ip6"` // a dual-stack machine's IPv6 address, in network.subnet6
	MemoryMiB int      `yaml:"memory_mib"`
	VCPUs     int      `yaml:"vcpus"`
	DiskGiB   int      `yaml:"disk_gib"`
	Firmware  string   `yaml:"firmware"`
	Boot      []string `yaml:"boot"`
	// BMCProfile makes the machine's virtual BMC behave like a
	// real one (a profile of bmc/virtual/profiles.yaml: sushy-tools, idrac,
	// ilo, no-once, busy, slow, virtualbmc); empty: the standard one.
	BMCProfile string `yaml:"bmc_profile"`
	// BMCProtocols are what the machine's virtual BMC speaks (ipmi,
	// redfish); empty: both.
	BMCProtocols []string `yaml:"bmc_protocols"`
	// TPM gives the machine a software TPM 2.0 (swtpm) that the firmware
	// measures the boot into; defaults.tpm: true gives every machine one.
	TPM bool `yaml:"tpm"`
	// SecureBoot (UEFI only) enforces Secure Boot with Microsoft's keys:
	// the machine boots Debian's signed shim, GRUB and kernel over TFTP.
	SecureBoot bool `yaml:"secure_boot"`
	// HTTPSBoot (UEFI only): the machine's UEFI HTTP boot, whether its boot
	// order or its BMC asks for it, goes over HTTPS.
	HTTPSBoot bool `yaml:"https_boot"`
}

// Check is one named convergence condition, polled until it holds.
type Check struct {
	Name  string   `yaml:"name"`
	Nodes []string `yaml:"nodes"` // machine names; empty means every machine
	// Exactly one of Run, Report or Fetched is set.
	Run    string        `yaml:"run"`    // shell command run over SSH on each node
	Report *ReportExpect `yaml:"report"` // a call-home event recorded by the boot service
	// Fetched is a boot file the node's firmware fetched, and over which
	// protocol: the boot path it really took.
	Fetched *FetchedExpect `yaml:"fetched"`
	Expect  Expect         `yaml:"expect"`
	// Reboot, when set, reboots each node before the check and waits for
	// it to come back (to prove it boots from its disk).
	Reboot  bool     `yaml:"reboot"`
	Timeout Duration `yaml:"timeout"` // per attempt
}

// ReprovisionSpec is what a reprovision does around each batch of
// machines, as a cluster's operator would: Before (a Kubernetes node
// drained, an etcd leader moved away) runs before they go, After (the node
// uncordoned) once they fetched their configuration again, before the
// scenario's checks. Each command runs over SSH with LABCTL_MACHINES set to
// the batch's machine names, space-separated.
type ReprovisionSpec struct {
	Before *Hook `yaml:"before"`
	After  *Hook `yaml:"after"`
}

// Hook is a command run on one machine, or on each machine of the batch
// when Node is empty; it is retried until it exits 0 or Timeout passes
// (a node coming back answers late).
type Hook struct {
	Node    string   `yaml:"node"`
	Run     string   `yaml:"run"`
	Timeout Duration `yaml:"timeout"` // default 2m
}

// ReportExpect matches a /report event the machine sent to the boot service.
type ReportExpect struct {
	Event          string `yaml:"event"`
	DetailContains string `yaml:"detail_contains"`
}

// FetchedExpect is a boot file fetched by a machine's firmware over
// Protocol and over no other: http as the boot service's log shows it
// (UEFI HTTP boot; https over TLS), tftp as dnsmasq's does (PXE).
type FetchedExpect struct {
	File     string `yaml:"file"` // e.g. ipxe.efi
	Protocol string `yaml:"protocol"`
	// Family (ipv4, ipv6), when set, is the address family the machine
	// fetched from: the path of an IPv6-only machine. Over http, File may
	// then be the boot script iPXE fetches (ipxe).
	Family string `yaml:"family"`
}

// Fetch protocols.
const (
	ProtocolHTTP  = "http"
	ProtocolHTTPS = "https"
	ProtocolTFTP  = "tftp"
)

// Address families of FetchedExpect.Family.
const (
	FamilyIPv4 = "ipv4"
	FamilyIPv6 = "ipv6"
)

// Expect is what a Run check's result must look like.
type Expect struct {
	ExitStatus     int      `yaml:"exit_status"`
	OutputContains []string `yaml:"output_contains"`
	OutputMatches  string   `yaml:"output_matches"` // a regular expression
	OutputLines    int      `yaml:"output_lines"`   // exact count of non-empty lines; 0 means any
	// FailMatches, a regular expression, names an output that will not get
	// better with time (a refusal, not a wait): the check fails at once
	// instead of polling until the scenario's deadline.
	FailMatches string `yaml:"fail_matches"`
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
	entries, _ := fs.ReadDir(scenarios.FS, ".")
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
	return findBuiltin(nameOrPath, true)
}

// findBuiltin loads the built-in scenario name (a base of a base left
// unresolved unless resolveBase).
func findBuiltin(name string, resolveBase bool) (*Scenario, error) {
	if _, err := fs.Stat(scenarios.FS, path.Join(name, FileName)); err != nil || strings.ContainsAny(name, "/.") {
		return nil, fmt.Errorf("no scenario %q: built-in scenarios are %s (or give a directory path)", name, strings.Join(Names(), ", "))
	}
	return loadScenario(scenarios.FS, name, "scenarios/"+name+"/"+FileName, resolveBase)
}

// Load reads dir/scenario.yaml from fsys and validates it. source names the
// file in errors.
func Load(fsys fs.FS, dir, source string) (*Scenario, error) {
	return loadScenario(fsys, dir, source, true)
}

// loadScenario reads and validates a scenario; a base's own base is left
// unresolved (and unvalidated) for onBase to refuse, so a cycle ends.
func loadScenario(fsys fs.FS, dir, source string, resolveBase bool) (*Scenario, error) {
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
	s.dataSource = path.Join(path.Dir(source), "data")
	if s.Base != "" && !resolveBase {
		return s, nil
	}
	if s.Base != "" {
		if s, err = s.onBase(raw); err != nil {
			return nil, err
		}
	}
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
			if m.BMCProfile == "" {
				m.BMCProfile = src.BMCProfile
			}
			if len(m.BMCProtocols) == 0 {
				m.BMCProtocols = src.BMCProtocols
			}
			m.TPM = m.TPM || src.TPM
			m.SecureBoot = m.SecureBoot || src.SecureBoot
			m.HTTPSBoot = m.HTTPSBoot || src.HTTPSBoot
		}
	}
	if s.Deadline == 0 {
		s.Deadline = Duration(10 * time.Minute)
	}
}

// problems collects what is wrong with a scenario, each naming the file and
// the field at fault.
type problems struct {
	source string
	errs   []error
	seen   map[string]string // "kind value" -> first field that had it
}

func (p *problems) bad(field, format string, args ...any) {
	p.errs = append(p.errs, fmt.Errorf("%s: %s: %s", p.source, field, fmt.Sprintf(format, args...)))
}

// unique reports a value that another field already had.
func (p *problems) unique(field, kind, value string) {
	key := kind + " " + strings.ToLower(value)
	if first, ok := p.seen[key]; ok {
		p.bad(field, "duplicate %s %s (also %s)", kind, value, first)
		return
	}
	p.seen[key] = field
}

func (s *Scenario) validate() error {
	p := &problems{source: s.Source, seen: map[string]string{}}
	if !lab.IsDNSLabel(s.Name) {
		p.bad("name", "%q is not a DNS label (lower-case letters, digits, '-')", s.Name)
	}
	if strings.TrimSpace(s.Description) == "" {
		p.bad("description", "missing: say in a first short sentence what the scenario proves (`labctl scenarios` lists it)")
	}
	subnet, subnet6 := s.validateNetwork(p)
	s.validateMachines(p, subnet, subnet6)
	s.validateChecks(p)
	s.validateReprovision(p)
	s.validateSteps(p)
	s.validateCertificates(p.bad, s.machineNames())
	if st, err := fs.Stat(s.FS, path.Join(s.Data, "groups")); err != nil || !st.IsDir() {
		p.bad("data", "no data/groups directory beside %s", FileName)
	}
	return errors.Join(p.errs...)
}

func (s *Scenario) validateNetwork(p *problems) (subnet, subnet6 netip.Prefix) {
	subnet, err := netip.ParsePrefix(s.Network.Subnet)
	if err != nil || !subnet.Addr().Is4() {
		p.bad("network.subnet", "%q is not an IPv4 prefix such as 10.77.0.0/24", s.Network.Subnet)
	}
	subnet = subnet.Masked()
	gw, err := netip.ParseAddr(s.Network.Gateway)
	if err != nil || !subnet.Contains(gw) {
		p.bad("network.gateway", "%q is not an address in %s", s.Network.Gateway, s.Network.Subnet)
	}
	if s.Network.Domain == "" {
		p.bad("network.domain", "missing")
	}
	p.unique("network.gateway", "ip", s.Network.Gateway)
	switch s.Network.SiteDHCP {
	case "", lab.SiteKea:
	default:
		p.bad("network.site_dhcp", "%q: want %s (an independent site DHCP server, no labctl boot service or dnsmasq) or nothing (labctl's own)", s.Network.SiteDHCP, lab.SiteKea)
	}
	if s.Network.OperatorAddress != "" {
		op, err := netip.ParseAddr(s.Network.OperatorAddress)
		switch {
		case s.Network.SiteDHCP == "":
			p.bad("network.operator_address", "only with site_dhcp (an operator's interface beside labctl's own dnsmasq would serve the segment twice)")
		case err != nil || !subnet.Contains(op) || op == subnet.Addr():
			p.bad("network.operator_address", "%q is not an address in %s", s.Network.OperatorAddress, s.Network.Subnet)
		default:
			p.unique("network.operator_address", "ip", op.String())
		}
	}
	if s.Network.Subnet6 != "" {
		p6, err := netip.ParsePrefix(s.Network.Subnet6)
		switch {
		case err != nil || !p6.Addr().Is6() || p6.Addr().Is4In6() || p6.Bits() != 64 || p6 != p6.Masked():
			p.bad("network.subnet6", "%q is not an IPv6 /64 prefix such as fd00:77:30::/64", s.Network.Subnet6)
		case !ulaPrefix.Contains(p6.Addr()):
			// The lab's addresses stay inside its namespace; a global or
			// link-local prefix would pretend otherwise.
			p.bad("network.subnet6", "%s is not a unique local prefix (fd00::/8)", p6)
		case s.Network.SiteDHCP != "":
			p.bad("network.subnet6", "a simulated rack's site DHCP (network.site_dhcp) is IPv4 only")
		default:
			subnet6 = p6
		}
	}
	return subnet, subnet6
}

// ulaPrefix holds the unique local addresses a lab's IPv6 subnet is taken from.
var ulaPrefix = netip.MustParsePrefix("fd00::/8")

// validateMachines checks what only a scenario knows (addresses in the
// subnet, values unique across machines) and leaves the rest to the one
// validation of a machine, lab.Machine.Problems.
func (s *Scenario) validateMachines(p *problems, subnet, subnet6 netip.Prefix) {
	if len(s.Machines) == 0 {
		p.bad("machines", "a scenario needs at least one machine")
	}
	for i, spec := range s.Machines {
		f := func(name string) string { return fmt.Sprintf("machines[%d].%s", i, name) }
		m := spec.machine()
		reported := map[string]bool{}
		if mac, err := net.ParseMAC(spec.MAC); err != nil || len(mac) != 6 {
			p.bad(f("mac"), "%q is not a MAC address", spec.MAC)
			reported["mac"] = true
		}
		ip, err := netip.ParseAddr(spec.IP)
		switch {
		case err != nil:
			p.bad(f("ip"), "%q is not an IP address", spec.IP)
		case ip.Is6() && !subnet6.IsValid():
			p.bad(f("ip"), "%s is an IPv6 address (an IPv6-only machine) but network.subnet6 is not set", spec.IP)
		case ip.Is6() && (!subnet6.Contains(ip) || ip == subnet6.Addr() || ip == subnet6.Addr().Next()):
			p.bad(f("ip"), "%s is outside the lab's IPv6 subnet %s (or its ::, or ::1, the gateway's)", spec.IP, subnet6)
		case ip.Is4() && (!subnet.Contains(ip) || ip == subnet.Addr()):
			p.bad(f("ip"), "%s is outside the lab subnet %s", spec.IP, s.Network.Subnet)
		default:
			p.unique(f("ip"), "ip", ip.String())
		}
		if spec.IP6 != "" {
			ip6, err := netip.ParseAddr(spec.IP6)
			switch {
			case err != nil || !ip6.Is6() || ip6.Is4In6():
				p.bad(f("ip6"), "%q is not an IPv6 address", spec.IP6)
			case !subnet6.IsValid():
				p.bad(f("ip6"), "needs network.subnet6, the lab's IPv6 subnet")
			case ip.Is6():
				p.bad(f("ip6"), "ip %s is already IPv6 (an IPv6-only machine); ip6 is a dual-stack machine's second address", ip)
			case !subnet6.Contains(ip6) || ip6 == subnet6.Addr() || ip6 == subnet6.Addr().Next():
				p.bad(f("ip6"), "%s is outside the lab's IPv6 subnet %s (or its ::, or ::1, the gateway's)", ip6, subnet6)
			default:
				p.unique(f("ip6"), "ip", ip6.String())
			}
		}
		if _, err := virtual.Profile(spec.BMCProfile); err != nil {
			p.bad(f("bmc_profile"), "%v", err)
		}
		seen := map[string]bool{}
		for _, proto := range spec.BMCProtocols {
			switch {
			case proto != lab.ProtocolIPMI && proto != lab.ProtocolRedfish:
				p.bad(f("bmc_protocols"), "%q: want %s or %s", proto, lab.ProtocolIPMI, lab.ProtocolRedfish)
			case seen[proto]:
				p.bad(f("bmc_protocols"), "%s twice", proto)
			}
			seen[proto] = true
		}
		for _, pr := range m.Problems() {
			if !reported[pr.Field] {
				p.bad(f(pr.Field), "%s", pr.Reason)
				reported[pr.Field] = true
			}
		}
		if !reported["name"] {
			p.unique(f("name"), "name", m.Name)
		}
		if !reported["mac"] {
			p.unique(f("mac"), "mac", m.MAC.String())
		}
		if !reported["uuid"] {
			p.unique(f("uuid"), "uuid", m.UUID)
		}
	}
}

// machineNames is the set of the scenario's machine names.
func (s *Scenario) machineNames() map[string]bool {
	names := map[string]bool{}
	for _, m := range s.Machines {
		names[m.Name] = true
	}
	return names
}

func (s *Scenario) validateChecks(p *problems) {
	names := s.machineNames()
	if s.Network.SiteDHCP != "" && len(s.Checks) > 0 {
		p.bad("checks", "a simulated rack (network.site_dhcp) runs no boot service and its machines no OS: nothing could report or answer; leave checks out")
	}
	validateCheckList(p, "checks", s.Checks, names)
}

// validateCheckList checks a list of checks written under field (checks,
// or a step's during and recover lists).
func validateCheckList(p *problems, field string, checks []Check, names map[string]bool) {
	for i, c := range checks {
		f := func(name string) string { return fmt.Sprintf("%s[%d].%s", field, i, name) }
		if c.Name == "" {
			p.bad(f("name"), "missing")
		}
		if n := btoi(c.Run != "") + btoi(c.Report != nil) + btoi(c.Fetched != nil); n != 1 {
			p.bad(f("run"), "a check has exactly one of run, report or fetched")
		}
		if fe := c.Fetched; fe != nil {
			if fe.File == "" || path.Base(fe.File) != fe.File {
				p.bad(f("fetched.file"), "%q is not a boot file's name (e.g. ipxe.efi)", fe.File)
			}
			if fe.Protocol != ProtocolHTTP && fe.Protocol != ProtocolHTTPS && fe.Protocol != ProtocolTFTP {
				p.bad(f("fetched.protocol"), "%q: want http, https or tftp", fe.Protocol)
			}
			if fe.Family != "" && fe.Family != FamilyIPv4 && fe.Family != FamilyIPv6 {
				p.bad(f("fetched.family"), "%q: want ipv4 or ipv6 (or nothing: any)", fe.Family)
			}
		}
		for _, n := range c.Nodes {
			if !names[n] {
				p.bad(f("nodes"), "no machine named %q", n)
			}
		}
		for _, re := range []struct{ field, expr string }{
			{"output_matches", c.Expect.OutputMatches}, {"fail_matches", c.Expect.FailMatches},
		} {
			if _, err := regexp.Compile(re.expr); re.expr != "" && err != nil {
				p.bad(f("expect."+re.field), "%v", err)
			}
		}
	}
}

func (s *Scenario) validateReprovision(p *problems) {
	names := s.machineNames()
	for _, h := range []struct {
		field string
		hook  *Hook
	}{{"reprovision.before", s.Reprovision.Before}, {"reprovision.after", s.Reprovision.After}} {
		if h.hook == nil {
			continue
		}
		if strings.TrimSpace(h.hook.Run) == "" {
			p.bad(h.field+".run", "missing: the command to run")
		}
		if h.hook.Node != "" && !names[h.hook.Node] {
			p.bad(h.field+".node", "no machine named %q", h.hook.Node)
		}
		if h.hook.Timeout < 0 {
			p.bad(h.field+".timeout", "negative")
		}
	}
}

// machine is the spec as the lab model (unparsable fields left empty).
func (m MachineSpec) machine() lab.Machine {
	mac, _ := net.ParseMAC(m.MAC)
	ip, _ := netip.ParseAddr(m.IP)
	ip6, _ := netip.ParseAddr(m.IP6)
	boot := make([]power.BootDevice, len(m.Boot))
	for i, b := range m.Boot {
		boot[i] = power.BootDevice(b)
	}
	return lab.Machine{Name: m.Name, MAC: mac, UUID: m.UUID, IP: ip, IP6: ip6, MemoryMiB: m.MemoryMiB,
		VCPUs: m.VCPUs, DiskGiB: m.DiskGiB, Firmware: lab.Firmware(m.Firmware), Boot: boot, BMCProfile: m.BMCProfile,
		BMCProtocols: m.BMCProtocols, TPM: m.TPM, SecureBoot: m.SecureBoot, HTTPSBoot: m.HTTPSBoot}
}

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
			// Validated: a site DHCP server's name, or empty.
			SiteDHCP: s.Network.SiteDHCP,
		},
	}
	if s.Network.Subnet6 != "" {
		l.Network.Subnet6 = netip.MustParsePrefix(s.Network.Subnet6)
	}
	if s.Network.OperatorAddress != "" {
		l.Network.Operator = netip.MustParseAddr(s.Network.OperatorAddress)
	}
	for _, m := range s.Machines {
		l.Machines = append(l.Machines, m.machine())
	}
	return l
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
