package control

import (
	"fmt"

	"github.com/labctl/labctl/bmc"
	"github.com/labctl/labctl/bmc/inventory"
	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/lab/pki"
	"github.com/labctl/labctl/lab/state"
)

// Inventory is the lab's machines as an operator's inventory lists a rack's
// (`labctl reprovision --inventory`, `labctl serve --inventory`): MAC, UUID,
// the address reserved for the MAC, and the endpoints each machine's virtual
// BMC speaks (Redfish first), with the lab's password file and CA. The
// endpoints are reachable inside the lab's namespace and, for a simulated
// rack, from its operator namespace. A lab on a rack's servers (up
// --inventory) is its servers as the rack's inventory lists them, by their
// names there: their own BMCs, not virtual ones.
func Inventory(st *state.State) ([]inventory.Machine, error) {
	l := st.Lab
	if l.Rack != nil {
		inv, err := inventory.Load(l.Rack.Inventory)
		if err != nil {
			return nil, fmt.Errorf("the inventory lab %s was brought up from: %w", l.Name, err)
		}
		names := make([]string, len(l.Machines))
		for i, m := range l.Machines {
			names[i] = l.Rack.Server(m.Name)
		}
		return inv.Select(names)
	}
	ca := pki.CAFile(l.PKIDir())
	var ms []inventory.Machine
	for i, m := range l.Machines {
		im := inventory.Machine{Name: m.Name, MAC: m.MAC, UUID: m.UUID}
		if !m.IPv6Only() {
			// An inventory's address is the IPv4 one a site reserves.
			im.Address = m.IP
		}
		if m.Speaks(lab.ProtocolRedfish) {
			im.BMC = append(im.BMC, bmc.Endpoint{Protocol: bmc.Redfish, Address: l.MachineRedfishURL(i),
				Username: lab.BMCUsername, PasswordFile: l.BMCPasswordFile(), CAFile: ca, Auth: bmc.AuthAuto, SystemUUID: m.UUID})
		}
		if m.Speaks(lab.ProtocolIPMI) {
			im.BMC = append(im.BMC, bmc.Endpoint{Protocol: bmc.IPMI, Address: l.IPMIAddr(i),
				Username: lab.BMCUsername, PasswordFile: l.BMCPasswordFile(), SystemUUID: m.UUID})
		}
		ms = append(ms, im)
	}
	return ms, nil
}
