package qemu

import (
	"path/filepath"

	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/lab/pki"
)

// files are a machine's files as the QEMU provider keeps them: the ones
// every provider keeps (lab.MachineFiles) and QEMU's own, all in the
// machine's directory.
type files struct {
	lab.MachineFiles
	QMP     string // QEMU's monitor socket
	Events  string // a second QMP socket, held by the lab process for events
	Pid     string // QEMU's pid file
	Boot    string // boot order overrides (boot.json)
	Stdio   string // QEMU's own output
	Fault   string // how QEMU died unasked, if it did
	Restart string // there while QEMU is started again after a reset
	// The machine's software TPM (machines with TPM): its state directory,
	// kept across reboots, its control socket, pid file and log.
	TPMState, TPMSocket, TPMPid, TPMLog string
	// HTTPSCACerts is what the firmware of a machine with HTTPSBoot
	// trusts: the lab's one file (lab/pki's HTTPSBootCACerts).
	HTTPSCACerts string
}

// machineFiles returns the files of the machine called name.
func machineFiles(l *lab.Lab, name string) files {
	d := l.MachineDir(name)
	return files{
		MachineFiles: l.MachineFiles(name),
		QMP:          filepath.Join(d, "qmp.sock"),
		Events:       filepath.Join(d, "events.sock"),
		Pid:          filepath.Join(d, "qemu.pid"),
		Boot:         filepath.Join(d, "boot.json"),
		Stdio:        filepath.Join(d, "qemu.log"),
		Fault:        filepath.Join(d, "fault"),
		Restart:      filepath.Join(d, "restarting"),
		TPMState:     filepath.Join(d, "tpm"),
		TPMSocket:    filepath.Join(d, "swtpm.sock"),
		TPMPid:       filepath.Join(d, "swtpm.pid"),
		TPMLog:       filepath.Join(d, "swtpm.log"),
		HTTPSCACerts: pki.HTTPSBootCACerts(l.PKIDir()),
	}
}
