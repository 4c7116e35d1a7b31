// Package libvirtd runs a private libvirtd for one lab, inside the lab's
// network namespace and a private mount namespace over the lab's directory.
package libvirtd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/labctl/labctl/lab/proc"
)

// The system's libvirt directories. Inside the daemon's mount namespace each
// is covered by a directory under Daemon.Dir; the system's own stay untouched.
// /run/libvirt may not exist (no system daemon ever ran), so the whole of
// /run is covered, which also keeps the daemon off the system's D-Bus.
var mounts = []struct{ sub, target string }{
	{"run", "/run"},
	{"lib", "/var/lib/libvirt"},
	{"etc", "/etc/libvirt"},
	{"log", "/var/log/libvirt"},
	{"cache", "/var/cache/libvirt"},
}

// Daemon is one lab's private libvirtd. Everything it knows is on disk under
// Dir, so a Daemon built from the same Dir after a crash can stop it.
type Daemon struct {
	Dir   string // <lab.Dir>/libvirt: the daemon's directories, socket, pid file and log
	Netns string // network namespace it runs in; "" means the caller's
	Log   *slog.Logger
}

// New returns the daemon whose state lives in dir, running in netns.
func New(dir, netns string, log *slog.Logger) *Daemon {
	return &Daemon{Dir: dir, Netns: netns, Log: log}
}

// Socket is the read-write unix socket, outside the mount namespace so both
// sides see it.
func (d *Daemon) Socket() string { return filepath.Join(d.Dir, "libvirt-sock") }

// URI is the connection URI for this daemon.
func (d *Daemon) URI() string { return "qemu:///system?socket=" + d.Socket() }

// PidFile holds the daemon's pid.
func (d *Daemon) PidFile() string { return filepath.Join(d.Dir, "libvirtd.pid") }

// LogFile is the daemon's own log (warnings and errors).
func (d *Daemon) LogFile() string { return filepath.Join(d.Dir, "libvirtd.log") }

// SwtpmDir is where the daemon's swtpm keeps the TPM 2.0 state of the
// domain with uuid (/var/lib/libvirt/swtpm/UUID/tpm2 inside).
func (d *Daemon) SwtpmDir(uuid string) string {
	return filepath.Join(d.Dir, "lib", "swtpm", uuid, "tpm2")
}

// QEMULogDir holds libvirt's per-domain QEMU logs (/var/log/libvirt/qemu inside).
func (d *Daemon) QEMULogDir() string { return filepath.Join(d.Dir, "log", "qemu") }

// Pid returns the pid of the running daemon, or 0 if it is not running.
// A pid is only believed if that process is a libvirtd started with our pid file.
func (d *Daemon) Pid() int {
	if pid := proc.ReadPidFile(d.PidFile()); proc.Runs(pid, "libvirtd", d.PidFile()) {
		return pid
	}
	return 0
}

// Start starts the daemon unless it is already running, and returns once its
// socket accepts connections (ctx bounds the wait).
func (d *Daemon) Start(ctx context.Context) error {
	if pid := d.Pid(); pid != 0 {
		return nil
	}
	if len(d.Socket()) > 107 {
		return fmt.Errorf("libvirtd socket path %s is longer than a unix socket allows (107 bytes): use a shorter lab directory", d.Socket())
	}
	for _, m := range mounts {
		if _, err := os.Stat(m.target); err != nil {
			return fmt.Errorf("start libvirtd: mount point %s: %w (is libvirt-daemon-system installed?)", m.target, err)
		}
	}
	for _, f := range []string{d.Socket(), d.Socket() + "-ro", filepath.Join(d.Dir, "libvirt-admin-sock"), d.PidFile()} {
		os.Remove(f)
	}
	// libvirt's package creates /var/lib/libvirt/dnsmasq; the network driver
	// writes there even when it starts no dnsmasq.
	for _, sub := range []string{"run", "lib/dnsmasq", "etc", "log", "cache"} {
		if err := os.MkdirAll(filepath.Join(d.Dir, sub), 0o755); err != nil {
			return fmt.Errorf("start libvirtd: %w", err)
		}
	}
	if err := d.writeConfig(); err != nil {
		return err
	}
	d.seedCapabilities()

	// mount -n: no /run/mount/utab is written to the system's /run.
	script := "set -e\n"
	for i, m := range mounts {
		script += fmt.Sprintf("mount -n --bind \"$%d\" %s\n", i+1, m.target)
	}
	script += fmt.Sprintf("exec libvirtd --daemon --pid-file \"$%d\"\n", len(mounts)+1)
	argv := []string{"unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script, "libvirtd-lab"}
	for _, m := range mounts {
		argv = append(argv, filepath.Join(d.Dir, m.sub))
	}
	argv = append(argv, d.PidFile())
	if d.Netns != "" {
		argv = append([]string{"ip", "netns", "exec", d.Netns}, argv...)
	}
	start := time.Now()
	// libvirtd --daemon returns once the daemon has initialised; it lives on
	// detached from us, in its own session.
	if out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput(); err != nil {
		return fmt.Errorf("start libvirtd in %s: %w: %s%s", d.Dir, err, strings.TrimSpace(string(out)), d.logTail())
	}
	for {
		if pid := d.Pid(); pid != 0 {
			if _, err := os.Stat(d.Socket()); err == nil {
				d.Log.Info("private libvirtd started", "pid", pid, "netns", d.Netns, "socket", d.Socket(), "took", time.Since(start).Round(time.Millisecond))
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("libvirtd in %s did not come up: %w%s", d.Dir, ctx.Err(), d.logTail())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Stop ends the daemon and any QEMU process it left behind, then removes its
// runtime, state, config and cache directories and sockets. Logs stay for the
// lab's artifacts. Stopping a daemon that is not running is not an error.
func (d *Daemon) Stop(ctx context.Context) error {
	var errs []error
	if pid := d.Pid(); pid != 0 {
		if err := proc.Terminate(ctx, pid, 10*time.Second); err != nil {
			errs = append(errs, fmt.Errorf("stop libvirtd %d: %w", pid, err))
		} else {
			d.Log.Info("private libvirtd stopped", "pid", pid)
		}
	}
	// QEMU outlives libvirtd by design; after a crash these are the only trace.
	for _, pid := range d.QEMUPids() {
		d.Log.Warn("killing QEMU left behind by libvirtd", "pid", pid)
		if err := proc.Terminate(ctx, pid, 10*time.Second); err != nil {
			errs = append(errs, fmt.Errorf("stop QEMU %d: %w", pid, err))
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	for _, sub := range []string{"run", "lib", "etc", "cache", "libvirt-sock", "libvirt-sock-ro", "libvirt-admin-sock", "libvirtd.pid"} {
		if err := os.RemoveAll(filepath.Join(d.Dir, sub)); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// capsDir is where libvirt caches what it probed of the QEMU binaries
// (/var/cache/libvirt/qemu/capabilities inside).
func (d *Daemon) capsDir() string { return filepath.Join(d.Dir, "cache", "qemu", "capabilities") }

// sharedCapsDir keeps a copy of that cache across labs: probing QEMU costs
// seconds at every lab's first domain, and libvirt re-probes by itself when a
// cached entry no longer matches the host, QEMU or libvirt.
func sharedCapsDir() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "labctl", "libvirt-qemu-capabilities")
}

func (d *Daemon) seedCapabilities() {
	copyXML(sharedCapsDir(), d.capsDir())
}

// SaveCapabilities copies the daemon's probed QEMU capabilities to the
// cache shared by later labs. Failing to is harmless.
func (d *Daemon) SaveCapabilities() {
	copyXML(d.capsDir(), sharedCapsDir())
}

// copyXML copies the .xml files of src into dst, each through a temporary
// file so a reader never sees half of one.
func copyXML(src, dst string) {
	files, _ := filepath.Glob(filepath.Join(src, "*.xml"))
	if len(files) == 0 || dst == "" || os.MkdirAll(dst, 0o755) != nil {
		return
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		tmp := filepath.Join(dst, "."+filepath.Base(f)+".tmp")
		if os.WriteFile(tmp, b, 0o644) == nil {
			os.Rename(tmp, filepath.Join(dst, filepath.Base(f)))
		}
	}
}

// QEMUPids lists the QEMU processes this daemon started that still run,
// from the pid files libvirt keeps in its (private) /run/libvirt/qemu.
func (d *Daemon) QEMUPids() []int {
	files, _ := filepath.Glob(filepath.Join(d.Dir, "run", "libvirt", "qemu", "*.pid"))
	var pids []int
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".pid")
		if pid := proc.ReadPidFile(f); proc.Runs(pid, "qemu-system", "guest="+name) {
			pids = append(pids, pid)
		}
	}
	return pids
}

func (d *Daemon) writeConfig() error {
	libvirtd := fmt.Sprintf(`# Written by labctl for one lab's private libvirtd.
unix_sock_dir = %q
unix_sock_ro_perms = "0700"
unix_sock_rw_perms = "0700"
unix_sock_admin_perms = "0700"
auth_unix_ro = "none"
auth_unix_rw = "none"
log_outputs = "3:file:%s"
`, d.Dir, d.LogFile())
	// No systemd, virtlogd or virtlockd here; the guests are throwaway test
	// machines run as root. The security driver stays off everywhere: with
	// AppArmor it would write profiles into the system's /etc/apparmor.d.
	// swtpm runs as root too: a TPM's state in the lab's directory (a
	// snapshot's copy among it) is root's, which Debian's default "tss"
	// cannot read.
	qemu := `# Written by labctl for one lab's private libvirtd.
user = "root"
group = "root"
swtpm_user = "root"
swtpm_group = "root"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
cgroup_controllers = [ ]
namespaces = [ ]
stdio_handler = "file"
`
	for name, body := range map[string]string{"libvirtd.conf": libvirtd, "qemu.conf": qemu} {
		if err := os.WriteFile(filepath.Join(d.Dir, "etc", name), []byte(body), 0o644); err != nil {
			return fmt.Errorf("write libvirtd config: %w", err)
		}
	}
	return nil
}

// logTail returns the end of the daemon's log for error messages.
func (d *Daemon) logTail() string {
	b, err := os.ReadFile(d.LogFile())
	if err != nil || len(b) == 0 {
		return ""
	}
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return "\nlibvirtd log (" + d.LogFile() + "):\n" + string(b)
}
