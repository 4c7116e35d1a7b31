// Package inventory loads the YAML file that lists servers, their MAC and
// UUID, and the BMC endpoints that reach them (see docs/inventory.md).
package inventory

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/labctl/labctl/bmc"
)

// Inventory is a parsed and validated inventory file.
type Inventory struct {
	Path     string
	Machines []Machine
}

// Machine is one server.
type Machine struct {
	Name string
	MAC  net.HardwareAddr
	UUID string // lower case
	// Address is the IPv4 address the site reserves for the machine's MAC,
	// if the inventory gives one (invalid otherwise): what a scenario that
	// needs members' addresses before boot takes, and what `labctl serve
	// --dhcp full` hands out.
	Address netip.Addr
	BMC     []bmc.Endpoint
}

// BMCServer is the machine as the bmc client sees it.
func (m Machine) BMCServer() bmc.Server {
	return bmc.Server{Name: m.Name, Endpoints: m.BMC}
}

type fileFormat struct {
	Machines []machineYAML `yaml:"machines"`
}

type machineYAML struct {
	Name    string         `yaml:"name"`
	MAC     string         `yaml:"mac"`
	UUID    string         `yaml:"uuid,omitempty"`
	Address string         `yaml:"address,omitempty"`
	BMC     []endpointYAML `yaml:"bmc"`
}

type endpointYAML struct {
	Protocol     string `yaml:"protocol"`
	Address      string `yaml:"address"`
	Username     string `yaml:"username"`
	PasswordEnv  string `yaml:"password_env,omitempty"`
	PasswordFile string `yaml:"password_file,omitempty"`
	CAFile       string `yaml:"ca_file,omitempty"`
	Insecure     bool   `yaml:"insecure,omitempty"`
	Auth         string `yaml:"auth,omitempty"`
	Timeout      string `yaml:"timeout,omitempty"`
	// Password is rejected with a clear message: secrets do not go in the inventory.
	Password *string `yaml:"password,omitempty"`
}

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// Load reads and validates the inventory at path. Relative password_file and
// ca_file paths are taken relative to the inventory's directory.
func Load(path string) (*Inventory, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("inventory: %w", err)
	}
	return Parse(path, b)
}

// Parse validates data read from path. Every error names the file and field at fault.
func Parse(path string, data []byte) (*Inventory, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var f fileFormat
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(f.Machines) == 0 {
		return nil, fmt.Errorf("%s: machines: no machines listed", path)
	}
	inv := &Inventory{Path: path}
	// Each value a machine must hold alone, with the field that first held it.
	taken := map[string]string{}
	claim := func(field, kind, value string) error {
		key := kind + " " + value
		if first, ok := taken[key]; ok {
			return fmt.Errorf("%s: %s.%s: %s is also %s's", path, field, kind, value, first)
		}
		taken[key] = field
		return nil
	}
	dir := filepath.Dir(path)
	for i, my := range f.Machines {
		field := fmt.Sprintf("machines[%d]", i)
		if my.Name == "" {
			return nil, fmt.Errorf("%s: %s.name: required", path, field)
		}
		field = fmt.Sprintf("machines[%d] (%s)", i, my.Name)
		if err := claim(field, "name", my.Name); err != nil {
			return nil, err
		}
		m := Machine{Name: my.Name, UUID: strings.ToLower(my.UUID)}
		// The MAC is how DHCP and the boot service know the machine when it
		// boots from the network: without it nothing can serve it.
		if my.MAC == "" {
			return nil, fmt.Errorf("%s: %s.mac: required (the MAC of the NIC the machine boots from)", path, field)
		}
		mac, err := net.ParseMAC(my.MAC)
		if err != nil || len(mac) != 6 {
			return nil, fmt.Errorf("%s: %s.mac: %q is not a MAC address", path, field, my.MAC)
		}
		m.MAC = mac
		if err := claim(field, "mac", mac.String()); err != nil {
			return nil, err
		}
		if m.UUID != "" {
			if !uuidRE.MatchString(m.UUID) {
				return nil, fmt.Errorf("%s: %s.uuid: %q is not a UUID", path, field, my.UUID)
			}
			if err := claim(field, "uuid", m.UUID); err != nil {
				return nil, err
			}
		}
		if my.Address != "" {
			a, err := netip.ParseAddr(my.Address)
			if err != nil || !a.Is4() {
				return nil, fmt.Errorf("%s: %s.address: %q is not an IPv4 address", path, field, my.Address)
			}
			if a.IsUnspecified() || a.IsLoopback() || a.IsMulticast() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
				return nil, fmt.Errorf("%s: %s.address: %s cannot be a machine's address", path, field, my.Address)
			}
			m.Address = a
			if err := claim(field, "address", a.String()); err != nil {
				return nil, err
			}
		}
		if len(my.BMC) == 0 {
			return nil, fmt.Errorf("%s: %s.bmc: no BMC endpoints", path, field)
		}
		for j, ey := range my.BMC {
			ep, err := ey.endpoint(dir, m.UUID)
			if err != nil {
				return nil, fmt.Errorf("%s: %s.bmc[%d].%w", path, field, j, err)
			}
			m.BMC = append(m.BMC, ep)
		}
		inv.Machines = append(inv.Machines, m)
	}
	return inv, nil
}

func (ey endpointYAML) endpoint(dir, uuid string) (bmc.Endpoint, error) {
	ep := bmc.Endpoint{
		Protocol:     bmc.Protocol(ey.Protocol),
		Address:      ey.Address,
		Username:     ey.Username,
		PasswordEnv:  ey.PasswordEnv,
		PasswordFile: abs(dir, ey.PasswordFile),
		CAFile:       abs(dir, ey.CAFile),
		Insecure:     ey.Insecure,
		Auth:         bmc.Auth(ey.Auth),
		SystemUUID:   uuid,
	}
	if ey.Password != nil {
		return ep, errors.New("password: passwords do not belong in the inventory; use password_env or password_file")
	}
	switch ep.Protocol {
	case bmc.IPMI:
		if _, _, err := net.SplitHostPort(ep.Address); err != nil {
			return ep, fmt.Errorf("address: %q: want host:port (%v)", ep.Address, err)
		}
		if ep.CAFile != "" || ep.Insecure || ep.Auth != "" {
			return ep, errors.New("ca_file, insecure and auth are for redfish endpoints only")
		}
	case bmc.Redfish:
		u, err := url.Parse(ep.Address)
		if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
			return ep, fmt.Errorf("address: %q: want https://host[:port] (or http://host[:port], which sends the password unencrypted)", ep.Address)
		}
		if ep.Auth == "" {
			ep.Auth = bmc.AuthAuto
		}
		if ep.Auth != bmc.AuthAuto && ep.Auth != bmc.AuthSession && ep.Auth != bmc.AuthBasic {
			return ep, fmt.Errorf("auth: %q: want auto, session or basic", ey.Auth)
		}
		if ep.Insecure && ep.CAFile != "" {
			return ep, errors.New("insecure: cannot be combined with ca_file")
		}
	default:
		return ep, fmt.Errorf("protocol: %q: want ipmi or redfish", ey.Protocol)
	}
	if ep.Username == "" {
		return ep, errors.New("username: required")
	}
	if (ep.PasswordEnv == "") == (ep.PasswordFile == "") {
		return ep, errors.New("password_env, password_file: give exactly one")
	}
	if ey.Timeout != "" {
		d, err := time.ParseDuration(ey.Timeout)
		if err != nil || d <= 0 {
			return ep, fmt.Errorf("timeout: %q: want a positive duration such as 10s", ey.Timeout)
		}
		ep.Timeout = d
	}
	return ep, nil
}

func abs(dir, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(dir, p)
}

// Select returns the machines called names, in that order, or an error naming
// every name the inventory lacks.
func (inv *Inventory) Select(names []string) ([]Machine, error) {
	var out []Machine
	var missing []string
	for _, n := range names {
		found := false
		for _, m := range inv.Machines {
			if m.Name == n {
				out = append(out, m)
				found = true
				break
			}
		}
		if !found {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%s: no machine named %s", inv.Path, strings.Join(missing, ", "))
	}
	return out, nil
}
