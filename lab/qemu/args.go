package qemu

import (
	"fmt"

	"github.com/labctl/labctl/firmware"
	"github.com/labctl/labctl/internal/power"
	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/lab/vm"
)

// args is QEMU's command line for m: a fixed MAC and SMBIOS UUID, one tap on
// the lab bridge, boot order as bootindex per device (strict, so an unlisted
// device is never booted), serial console to a log and a socket, QMP, and a
// second QMP socket for events.
//
// A reset ends QEMU (-no-reboot) and the provider starts the machine again,
// cold: under TCG, OVMF sometimes spins in its timer interrupt after a warm
// reset and never boots, however often it is reset warm again, while a cold
// start of the same machine boots at once (docs/architecture.md).
func args(m lab.Machine, f files, tap string, accel vm.Accel, boot []power.BootDevice, fw firmware.OVMF) []string {
	a := []string{
		// Named threads ("CPU 0/TCG"): top -H and perf tell the vCPUs apart.
		"-name", "guest=" + m.Name + ",debug-threads=on",
		"-uuid", m.UUID,
		"-m", fmt.Sprint(m.MemoryMiB),
		"-smp", fmt.Sprint(m.VCPUs),
		"-nodefaults", "-no-user-config", "-display", "none",
	}
	if accel == vm.KVM {
		a = append(a, "-accel", "kvm", "-cpu", "host")
	} else {
		a = append(a, "-accel", "tcg")
	}
	nic := ""
	switch {
	case m.Firmware == lab.UEFI && m.SecureBoot:
		// The Secure Boot build keeps its variables in SMM, behind flash
		// that only SMM may write; without these it does not start. The
		// NIC goes without QEMU's iPXE option ROM (unsigned: refused),
		// OVMF's own driver boots it.
		a = append(a, "-machine", "q35,smm=on",
			"-global", "driver=cfi.pflash01,property=secure,value=on",
			"-drive", "if=pflash,format=raw,unit=0,readonly=on,file="+fw.Code,
			"-drive", "if=pflash,format=raw,unit=1,file="+f.NVRAM)
		nic = ",romfile="
	case m.Firmware == lab.UEFI:
		a = append(a, "-machine", "q35",
			"-drive", "if=pflash,format=raw,unit=0,readonly=on,file="+fw.Code,
			"-drive", "if=pflash,format=raw,unit=1,file="+f.NVRAM)
	default:
		// graphics=off makes SeaBIOS write to the serial port (what
		// libvirt's <bios useserial="yes"/> does): without it, "No bootable
		// device" never reaches the log that fails a lab fast.
		a = append(a, "-machine", "pc,graphics=off")
	}
	index := map[power.BootDevice]string{}
	order := bootIndex(boot)
	for d, i := range order {
		if d.Network() {
			// The NIC's, whichever way it boots: the first of the two.
			if i != order[power.NICBoot(boot)] {
				continue
			}
			d = power.BootNetwork
		}
		index[d] = fmt.Sprintf(",bootindex=%d", i)
	}
	nicBoot := power.NICBoot(boot)
	if nicBoot == power.BootHTTP {
		// UEFI HTTP boot: no iPXE option ROM on the NIC, so OVMF's own
		// network stack drives it.
		nic = ",romfile="
	}
	if m.Firmware == lab.UEFI {
		for _, c := range vm.OVMFNetworkOff(m.SecureBoot, nicBoot) {
			a = append(a, "-fw_cfg", "name="+c.Name+",string="+c.Value)
		}
		if m.HTTPSBoot {
			a = append(a, vm.HTTPSCACertsArgs(f.HTTPSCACerts)...)
		}
	}
	a = append(a,
		"-boot", fmt.Sprintf("strict=on,reboot-timeout=%d", vm.RebootTimeout.Milliseconds()),
		"-netdev", "tap,id=net0,ifname="+tap+",script=no,downscript=no",
		"-device", "virtio-net-pci,id="+bootDeviceID[power.BootNetwork]+",netdev=net0,mac="+m.MAC.String()+nic+index[power.BootNetwork],
		// The disk's nodes named (not QEMU's "#blockN"), so that a
		// disk-fail can reopen the format node onto a failing child and back.
		"-drive", "if=none,id=disk0,format=qcow2,node-name="+diskFormatNode+",file.node-name="+diskFileNode+",file="+f.Disk,
		"-device", "virtio-blk-pci,id="+bootDeviceID[power.BootDisk]+",drive=disk0"+index[power.BootDisk],
		"-chardev", "socket,id=serial0,path="+f.Console+",server=on,wait=off,logfile="+f.SerialLog+",logappend=on",
		"-serial", "chardev:serial0",
		"-qmp", "unix:"+f.QMP+",server=on,wait=off",
		"-chardev", "socket,id=events,path="+f.Events+",server=on,wait=off",
		"-mon", "chardev=events,mode=control",
		"-no-reboot",
		"-pidfile", f.Pid,
	)
	if m.TPM {
		// tpm-tis serves both machine types (pc and q35); SeaBIOS and OVMF
		// both measure the boot into it.
		a = append(a,
			"-chardev", "socket,id=chrtpm,path="+f.TPMSocket,
			"-tpmdev", "emulator,id=tpm0,chardev=chrtpm",
			"-device", "tpm-tis,tpmdev=tpm0")
	}
	return a
}
