package inventory

import (
	"fmt"
	"io"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/labctl/labctl/bmc"
)

// Encode writes machines as an inventory file that Load reads back to the
// same machines (paths as given: write absolute ones). It refuses what Load
// would refuse to read, naming the machine.
func Encode(w io.Writer, machines []Machine) error {
	var f fileFormat
	for _, m := range machines {
		my := machineYAML{Name: m.Name, MAC: m.MAC.String(), UUID: m.UUID}
		if m.Address.IsValid() {
			my.Address = m.Address.String()
		}
		for _, ep := range m.BMC {
			ey := endpointYAML{Protocol: string(ep.Protocol), Address: ep.Address, Username: ep.Username,
				PasswordEnv: ep.PasswordEnv, PasswordFile: ep.PasswordFile, CAFile: ep.CAFile, Insecure: ep.Insecure}
			if ep.Protocol == bmc.Redfish && ep.Auth != bmc.AuthAuto {
				ey.Auth = string(ep.Auth)
			}
			if ep.Timeout > 0 {
				ey.Timeout = ep.Timeout.Round(time.Millisecond).String()
			}
			my.BMC = append(my.BMC, ey)
		}
		f.Machines = append(f.Machines, my)
	}
	out, err := yaml.Marshal(f)
	if err != nil {
		return fmt.Errorf("encode inventory: %w", err)
	}
	// What is written must read back: check it as Load would.
	if _, err := Parse("inventory", out); err != nil {
		return fmt.Errorf("encode inventory: %w", err)
	}
	_, err = w.Write(out)
	return err
}
