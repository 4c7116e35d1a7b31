package qemu

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/labctl/labctl/firmware"
	"github.com/labctl/labctl/lab"
)

// files are one machine's paths, all under <lab dir>/machines/<name>/.
type files struct {
	Dir, Disk, Vars, Serial, Console, QMP, Pid, Boot, Stdio string
	Fault                                                   string // how QEMU died unasked, if it did
}

func machineFiles(l *lab.Lab, name string) files {
	d := filepath.Join(l.Dir, "machines", name)
	return files{
		Dir:     d,
		Disk:    filepath.Join(d, "disk.qcow2"),
		Vars:    filepath.Join(d, "OVMF_VARS.fd"),
		Serial:  filepath.Join(d, "serial.log"),
		Console: filepath.Join(d, "console.sock"),
		QMP:     filepath.Join(d, "qmp.sock"),
		Pid:     filepath.Join(d, "qemu.pid"),
		Boot:    filepath.Join(d, "boot.json"),
		Stdio:   filepath.Join(d, "qemu.log"),
		Fault:   filepath.Join(d, "fault"),
	}
}

// args is QEMU's command line for m: a fixed MAC and SMBIOS UUID, one tap on
// the lab bridge, boot order as bootindex per device (strict, so an unlisted
// device is never booted), serial console to a log and a socket, and QMP.
func args(m lab.Machine, f files, tap, accel string, boot []lab.BootDevice, fw firmware.OVMF) []string {
	a := []string{
		"-name", "guest=" + m.Name + ",debug-threads=off",
		"-uuid", m.UUID,
		"-m", fmt.Sprint(m.MemoryMiB),
		"-smp", fmt.Sprint(m.VCPUs),
		"-nodefaults", "-no-user-config", "-display", "none",
	}
	if accel == "kvm" {
		a = append(a, "-accel", "kvm", "-cpu", "host")
	} else {
		a = append(a, "-accel", "tcg")
	}
	if m.Firmware == lab.UEFI {
		a = append(a, "-machine", "q35",
			"-drive", "if=pflash,format=raw,unit=0,readonly=on,file="+fw.Code,
			"-drive", "if=pflash,format=raw,unit=1,file="+f.Vars)
	} else {
		// graphics=off makes SeaBIOS write to the serial port (what
		// libvirt's <bios useserial="yes"/> does): without it, "No bootable
		// device" never reaches the log that fails a lab fast.
		a = append(a, "-machine", "pc,graphics=off")
	}
	index := map[lab.BootDevice]string{}
	for d, i := range bootIndex(boot) {
		index[d] = fmt.Sprintf(",bootindex=%d", i)
	}
	a = append(a,
		"-boot", "strict=on",
		"-netdev", "tap,id=net0,ifname="+tap+",script=no,downscript=no",
		"-device", "virtio-net-pci,id="+bootDeviceID[lab.BootNetwork]+",netdev=net0,mac="+m.MAC.String()+index[lab.BootNetwork],
		"-drive", "if=none,id=disk0,format=qcow2,file="+f.Disk,
		"-device", "virtio-blk-pci,id="+bootDeviceID[lab.BootDisk]+",drive=disk0"+index[lab.BootDisk],
		"-chardev", "socket,id=serial0,path="+f.Console+",server=on,wait=off,logfile="+f.Serial+",logappend=on",
		"-serial", "chardev:serial0",
		"-qmp", "unix:"+f.QMP+",server=on,wait=off",
		"-pidfile", f.Pid,
	)
	return a
}

// bootDeviceID names the QEMU device behind each boot device, so its boot
// index can be changed over QMP while the machine runs.
var bootDeviceID = map[lab.BootDevice]string{lab.BootNetwork: "nic0", lab.BootDisk: "disk0dev"}

// bootIndex numbers the devices of a boot order from 1, first mention wins.
func bootIndex(order []lab.BootDevice) map[lab.BootDevice]int {
	index := map[lab.BootDevice]int{}
	for _, d := range order {
		if _, dup := index[d]; !dup {
			index[d] = len(index) + 1
		}
	}
	return index
}

// tapName is the machine's tap device: at most 15 bytes, stable per name.
func tapName(machine string) string {
	h := uint32(2166136261) // FNV-1a
	for i := 0; i < len(machine); i++ {
		h = (h ^ uint32(machine[i])) * 16777619
	}
	return fmt.Sprintf("tap%08x", h)
}

// validate rejects what QEMU would misread or refuse, naming the field.
func validate(m lab.Machine) error {
	bad := func(field, format string, v ...any) error {
		return fmt.Errorf("machine %s: %s: %s", m.Name, field, fmt.Sprintf(format, v...))
	}
	switch {
	case m.Name == "" || strings.ContainsAny(m.Name, ",/ \t\n"):
		return bad("name", "%q must be non-empty without ',', '/' or spaces", m.Name)
	case len(m.MAC) != 6:
		return bad("mac", "%v is not an Ethernet address", m.MAC)
	case m.MAC[0]&1 == 1:
		return bad("mac", "%v is a multicast address", m.MAC)
	case len(m.UUID) != 36 || strings.Count(m.UUID, "-") != 4:
		return bad("uuid", "%q is not a UUID", m.UUID)
	case m.MemoryMiB < 64:
		return bad("memory", "%d MiB is too little", m.MemoryMiB)
	case m.VCPUs < 1:
		return bad("vcpus", "must be at least 1")
	case m.DiskGiB < 1:
		return bad("disk", "must be at least 1 GiB")
	case m.Firmware != lab.BIOS && m.Firmware != lab.UEFI:
		return bad("firmware", "%q is neither bios nor uefi", m.Firmware)
	case len(m.Boot) == 0:
		return bad("boot", "empty boot order")
	}
	for i, d := range m.Boot {
		if d != lab.BootNetwork && d != lab.BootDisk {
			return bad(fmt.Sprintf("boot[%d]", i), "%q is neither network nor disk", d)
		}
	}
	return nil
}
