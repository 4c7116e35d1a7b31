package qemu

import (
	"net"
	"strings"
	"testing"

	"github.com/labctl/labctl/firmware"
	"github.com/labctl/labctl/internal/power"
	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/lab/vm"
)

func testMachine(fw lab.Firmware, boot ...power.BootDevice) lab.Machine {
	mac, _ := net.ParseMAC("52:54:00:77:00:11")
	return lab.Machine{Name: "m1", MAC: mac, UUID: "7d3c0b1e-0b6a-4d51-9c39-000000000011", MemoryMiB: 512, VCPUs: 2, DiskGiB: 1, Firmware: fw, Boot: boot}
}

type argsCase struct {
	name    string
	m       lab.Machine
	accel   string
	want    []string // each must appear as one argument
	notWant []string // substrings no argument may contain
}

func TestArgs(t *testing.T) {
	f := machineFiles(&lab.Lab{Dir: "/labs/t"}, "m1")
	tests := []argsCase{
		{"bios network first", testMachine(lab.BIOS, power.BootNetwork, power.BootDisk), "tcg",
			[]string{"-uuid", "7d3c0b1e-0b6a-4d51-9c39-000000000011", "pc,graphics=off", "tcg", "strict=on,reboot-timeout=5000",
				"virtio-net-pci,id=nic0,netdev=net0,mac=52:54:00:77:00:11,bootindex=1", "virtio-blk-pci,id=disk0dev,drive=disk0,bootindex=2",
				"tap,id=net0,ifname=" + tapName("m1") + ",script=no,downscript=no",
				"socket,id=serial0,path=/labs/t/machines/m1/console.sock,server=on,wait=off,logfile=/labs/t/machines/m1/serial.log,logappend=on",
				"unix:/labs/t/machines/m1/qmp.sock,server=on,wait=off", "/labs/t/machines/m1/qemu.pid",
				"socket,id=events,path=/labs/t/machines/m1/events.sock,server=on,wait=off", "chardev=events,mode=control", "-no-reboot"},
			[]string{"pflash", "kvm"}},
		{"uefi disk only", testMachine(lab.UEFI, power.BootDisk), "kvm",
			[]string{"q35", "kvm", "host", "if=pflash,format=raw,unit=0,readonly=on,file=" + firmware.DebianOVMF.Code,
				"if=pflash,format=raw,unit=1,file=/labs/t/machines/m1/OVMF_VARS.fd",
				"virtio-net-pci,id=nic0,netdev=net0,mac=52:54:00:77:00:11", "virtio-blk-pci,id=disk0dev,drive=disk0,bootindex=1"},
			[]string{"tcg", firmware.DebianOVMF.Vars, "PXESupport"}},
	}
	// UEFI HTTP boot: the NIC boots, without iPXE's ROM, and OVMF offers no PXE.
	tests = append(tests, argsCase{"uefi http boot", testMachine(lab.UEFI, power.BootHTTP, power.BootDisk), "tcg",
		[]string{"virtio-net-pci,id=nic0,netdev=net0,mac=52:54:00:77:00:11,romfile=,bootindex=1", "virtio-blk-pci,id=disk0dev,drive=disk0,bootindex=2",
			"name=opt/org.tianocore/IPv4PXESupport,string=n", "name=opt/org.tianocore/IPv6PXESupport,string=n"}, []string{"tpm", "IPv4Support"}})
	// A one-time HTTP boot (through the BMC) of a PXE machine: http first.
	pxe := testMachine(lab.UEFI, power.BootNetwork, power.BootDisk)
	pxe.Boot = []power.BootDevice{power.BootHTTP, power.BootNetwork, power.BootDisk}
	tests = append(tests, argsCase{"once http over network", pxe, "tcg",
		[]string{"virtio-net-pci,id=nic0,netdev=net0,mac=52:54:00:77:00:11,romfile=,bootindex=1", "virtio-blk-pci,id=disk0dev,drive=disk0,bootindex=3",
			"name=opt/org.tianocore/IPv4PXESupport,string=n"}, nil})
	tests[0].notWant = append(tests[0].notWant, "romfile", "fw_cfg", "PXESupport")
	tpm := testMachine(lab.UEFI, power.BootNetwork)
	tpm.TPM = true
	tests = append(tests, argsCase{"uefi with a tpm", tpm, "tcg",
		[]string{"socket,id=chrtpm,path=/labs/t/machines/m1/swtpm.sock", "emulator,id=tpm0,chardev=chrtpm", "tpm-tis,tpmdev=tpm0",
			// iPXE's ROM boots the NIC: OVMF's own network stack is off.
			"name=opt/org.tianocore/IPv4PXESupport,string=n", "name=opt/org.tianocore/IPv6PXESupport,string=n",
			"name=opt/org.tianocore/IPv4Support,string=n", "name=opt/org.tianocore/IPv6Support,string=n"}, nil})
	sb := testMachine(lab.UEFI, power.BootNetwork)
	sb.SecureBoot = true
	tests = append(tests, argsCase{"uefi with secure boot", sb, "tcg",
		[]string{"q35,smm=on", "driver=cfi.pflash01,property=secure,value=on",
			"if=pflash,format=raw,unit=0,readonly=on,file=" + firmware.DebianOVMFSecureBoot.Code,
			"virtio-net-pci,id=nic0,netdev=net0,mac=52:54:00:77:00:11,romfile=,bootindex=1"},
		[]string{"OVMF_CODE_4M.fd", "tpm", "PXESupport"}})
	https := testMachine(lab.UEFI, power.BootHTTP)
	https.HTTPSBoot = true
	tests = append(tests, argsCase{"uefi https boot", https, "tcg",
		// What the firmware trusts: the lab's certificate as a signature list.
		[]string{"name=etc/edk2/https/cacerts,file=/labs/t/pki/labctl-https-boot.esl", "virtio-net-pci,id=nic0,netdev=net0,mac=52:54:00:77:00:11,romfile=,bootindex=1"}, nil})
	tests[0].notWant = append(tests[0].notWant, "cacerts")
	// Machines without a TPM have none; without Secure Boot, no SMM and
	// QEMU's iPXE ROM on the NIC.
	for i := range tests[:2] {
		tests[i].notWant = append(tests[i].notWant, "tpm", "smm", "secure", "romfile")
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fw := firmware.DebianOVMF
			if tt.m.SecureBoot {
				fw = firmware.DebianOVMFSecureBoot
			}
			got := args(tt.m, f, tapName(tt.m.Name), vm.Accel(tt.accel), tt.m.Boot, fw)
			have := map[string]bool{}
			for _, a := range got {
				have[a] = true
			}
			for _, w := range tt.want {
				if !have[w] {
					t.Errorf("missing argument %q in %q", w, got)
				}
			}
			for _, nw := range tt.notWant {
				for _, a := range got {
					if strings.Contains(a, nw) {
						t.Errorf("argument %q contains %q", a, nw)
					}
				}
			}
		})
	}
}

// TestSwtpmArgs: the TPM's state lives in the machine's directory (so it
// survives reboots and goes with the lab), and swtpm ends with its QEMU.
func TestSwtpmArgs(t *testing.T) {
	f := machineFiles(&lab.Lab{Dir: "/labs/t"}, "m1")
	got := strings.Join(swtpmArgs(f), " ")
	want := "socket --tpm2 --tpmstate dir=/labs/t/machines/m1/tpm,mode=0600 --ctrl type=unixio,path=/labs/t/machines/m1/swtpm.sock,mode=0600" +
		" --pid file=/labs/t/machines/m1/swtpm.pid --log file=/labs/t/machines/m1/swtpm.log,level=1 --terminate"
	if got != want {
		t.Errorf("swtpm %s\nwant  %s", got, want)
	}
}

func TestTapName(t *testing.T) {
	for _, name := range []string{"a", "bios1", "a-very-long-machine-name-indeed"} {
		if n := tapName(name); len(n) > 15 || n != tapName(name) {
			t.Errorf("tapName(%q) = %q", name, n)
		}
	}
	if tapName("bios1") == tapName("uefi1") {
		t.Error("two machines share a tap name")
	}
}
