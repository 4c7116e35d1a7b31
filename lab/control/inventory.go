package control

import (
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
// rack, from its operator namespace.
func Inventory(st *state.State) []inventory.Machine {
	l := st.Lab
	ca := pki.CAFile(l.PKIDir())
	var ms []inventory.Machine
	for i, m := range l.Machines {
		im := inventory.Machine{Name: m.Name, MAC: m.MAC, UUID: m.UUID, Address: m.IP}
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
	return ms
}
