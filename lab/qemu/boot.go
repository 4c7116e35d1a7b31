package qemu

import (
	"context"
	"encoding/json"
	"os"

	"github.com/labctl/labctl/internal/power"
	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/lab/vm"
)

// bootOverride is what SetBootDevice stored: a persistent order and a
// device for the next cold start only.
type bootOverride struct {
	Order []power.BootDevice `json:"order,omitempty"`
	Once  power.BootDevice   `json:"once,omitempty"`
}

func readOverride(f files) bootOverride {
	var ov bootOverride
	if raw, err := os.ReadFile(f.Boot); err == nil {
		json.Unmarshal(raw, &ov)
	}
	return ov
}

func writeOverride(f files, ov bootOverride) error {
	raw, err := json.Marshal(ov)
	if err != nil {
		return err
	}
	tmp := f.Boot + ".tmp"
	if err := os.WriteFile(tmp, raw, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, f.Boot)
}

// SetBootDevice stores the device for the next cold start or, persistent,
// for every start; a running machine picks it up on its next power on, cycle or
// reset, its own reboot included (a reset is a cold start, see args).
func (p *Provider) SetBootDevice(ctx context.Context, l *lab.Lab, machine string, d power.BootDevice, o power.BootOptions) error {
	m, err := vm.BootRequest(l, machine, d, o)
	if err != nil {
		return err
	}
	f := machineFiles(l, machine)
	ov := readOverride(f)
	if !o.Persistent {
		ov.Once = d
	} else {
		ov.Once = ""
		ov.Order = []power.BootDevice{d}
		for _, b := range m.Boot {
			if b != d && !(b.Network() && d.Network()) {
				ov.Order = append(ov.Order, b)
			}
		}
	}
	return writeOverride(f, ov)
}

// bootDeviceID names the QEMU device behind each boot device.
var bootDeviceID = map[power.BootDevice]string{power.BootNetwork: "nic0", power.BootDisk: "disk0dev"}

// bootIndex numbers the devices of a boot order from 1, first mention wins.
func bootIndex(order []power.BootDevice) map[power.BootDevice]int {
	index := map[power.BootDevice]int{}
	for _, d := range order {
		if _, dup := index[d]; !dup {
			index[d] = len(index) + 1
		}
	}
	return index
}
