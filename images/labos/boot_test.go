package labos_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"text/template"
	"time"

	butane "github.com/coreos/butane/config"
	"github.com/coreos/butane/config/common"
	"golang.org/x/crypto/ssh"

	"github.com/labctl/labctl/images"
	"github.com/labctl/labctl/images/labos"
	"github.com/labctl/labctl/images/registry"
	"github.com/labctl/labctl/internal/testenv"
	"github.com/labctl/labctl/lab/netns"
)

// The proof lab: one bridge in a namespace of the test's own, dnsmasq for
// DHCP, and the test's HTTP server standing in for the boot service.
const (
	gateway = "10.99.0.1"
	vmIP    = "10.99.0.11"
	vmMAC   = "52:54:00:99:00:11"
)

// TestBoot proves labos in QEMU (TCG) with the test's own DHCP and boot
// service, for both firmwares at once (two VMs, one namespace each):
//   - bios: live boot (direct kernel, root over HTTP), Ignition's file and
//     host key checked over SSH, the installer disabled by the image's preset;
//     then the installer started by hand writes the disk;
//   - uefi (OVMF, q35): the installer enabled by Ignition, as in a lab.
//
// Each then starts from the disk alone (no -kernel): GRUB arms Ignition once,
// which fetches os=installed, and the machine reports ready with its root on
// /dev/vda.
func TestBoot(t *testing.T) {
	if testing.Short() {
		t.Skip("boots VMs for minutes; skipped under -short")
	}
	testenv.Tool(t, "qemu-system-x86_64", "qemu-system-x86")
	testenv.Tool(t, "qemu-img", "qemu-utils")
	testenv.Tool(t, "dnsmasq", "dnsmasq-base")
	testenv.Tool(t, "ip", "iproute2")
	ctx := context.Background()
	start := time.Now()
	img, err := registry.Build(ctx, images.OpenCache(images.DefaultCacheDir, nil), labos.Name, images.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("image %s (cache hit %v, %s)", img.Dir, img.CacheHit, time.Since(start).Round(time.Millisecond))
	for _, fw := range []string{"bios", "uefi"} {
		t.Run(fw, func(t *testing.T) {
			t.Parallel()
			bootInstall(t, img.Dir, fw)
		})
	}
}

// keptLease shows that the root took the initramfs's address and did not ask
// DHCP again (networkd configured the handed-over file, and its journal has
// no DHCPv4 lease) and that 20-wired.network's drop-ins still apply (the
// route Ignition wrote, as k8s's pod routes are).
const (
	proofRoute    = "10.98.0.0/24"
	keptLease     = "ls /run/systemd/network/ | grep -c '^10-initramfs-lease-.*network$'; journalctl -b -u systemd-networkd | grep -c 'DHCPv4 address' || true; ip -4 route show " + proofRoute + " | cut -d' ' -f1-3"
	keptLeaseWant = "1\n0\n" + proofRoute + " via " + gateway + "\n"
)

// fixedLayout shows labos-emulated.service at work under TCG: systemd sees
// QEMU's emulation, randomization is off, and two processes map libc at the
// same address (so they share QEMU's translations of it).
const (
	fixedLayout     = "systemd-detect-virt; cat /proc/sys/kernel/randomize_va_space; a=$(grep -m1 libc /proc/self/maps | cut -d- -f1); b=$(grep -m1 libc /proc/self/maps | cut -d- -f1); [ -n \"$a\" ] && [ \"$a\" = \"$b\" ] && echo libc at one address"
	fixedLayoutWant = "qemu\n0\nlibc at one address\n"
)

func bootInstall(t *testing.T, assets, fw string) {
	l := newLab(t, assets)
	l.install = fw == "uefi"
	t0 := time.Now()
	vm := l.start(t, fw, true, "")
	l.wait(t, vm, "ignition", "os=", 5*time.Minute)
	t.Logf("phase live: ignition fetched %s", time.Since(t0).Round(time.Second))
	if !l.install {
		l.wait(t, vm, "ready", "root=LiveOS", 5*time.Minute)
		t.Logf("phase live: ready (sshd up) %s", time.Since(t0).Round(time.Second))
		out := l.ssh(t, "cat /etc/labos-proof; hostname; findmnt -no FSTYPE /; systemctl is-enabled labos-install.service || true; "+keptLease+"; "+fixedLayout)
		if want := "live " + l.nonce + "\nlabos-proof\noverlay\ndisabled\n" + keptLeaseWant + fixedLayoutWant; out != want {
			t.Fatalf("on the live machine: %q, want %q", out, want)
		}
		if l.reported("install-started") {
			t.Fatal("the installer started on a machine whose Ignition did not enable it")
		}
		l.ssh(t, "systemctl start --no-block labos-install.service")
	}
	l.wait(t, vm, "installed", "disk=/dev/vda", 10*time.Minute)
	t.Logf("phase installed: %s", time.Since(t0).Round(time.Second))
	if err := vm.waitExit(2 * time.Minute); err != nil { // -no-reboot: the reboot ends QEMU
		t.Fatalf("QEMU did not stop at the installer's reboot: %v\n%s", err, vm.tail())
	}
	t1 := time.Now()
	vm = l.start(t, fw, false, vm.disk)
	l.wait(t, vm, "ignition", "os=installed", 5*time.Minute)
	t.Logf("phase disk: ignition os=installed %s", time.Since(t1).Round(time.Second))
	l.wait(t, vm, "ready", "root=/dev/vda", 5*time.Minute)
	t.Logf("phase disk: ready %s (power-on to ready from disk %s)", time.Since(t1).Round(time.Second), time.Since(t0).Round(time.Second))
	out := l.ssh(t, "cat /etc/labos-proof; findmnt -no SOURCE /; test -e /boot/ignition.firstboot && echo armed || echo disarmed; systemctl is-enabled labos-install.service || true; "+keptLease+"; "+fixedLayout)
	if want := "installed " + l.nonce + "\n/dev/vda3\ndisarmed\ndisabled\n" + keptLeaseWant + fixedLayoutWant; out != want {
		t.Fatalf("on the installed machine: %q, want %q", out, want)
	}
}

type event struct {
	name, detail string
	at           time.Time
}

type testLab struct {
	ns, dir, assets, nonce string
	install                bool
	vms                    int
	clientKey              ssh.Signer
	hostKey                ed25519.PrivateKey
	mu                     sync.Mutex
	events                 []event
	notify                 chan struct{}
}

func newLab(t *testing.T, assets string) *testLab {
	ctx := context.Background()
	nonce := make([]byte, 4)
	rand.Read(nonce)
	l := &testLab{ns: "labos-test-" + hex.EncodeToString(nonce), dir: t.TempDir(), assets: assets, nonce: hex.EncodeToString(nonce), notify: make(chan struct{}, 100)}
	if err := netns.Create(ctx, l.ns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { netns.Delete(context.Background(), l.ns) })
	for _, args := range [][]string{
		{"link", "add", "br0", "type", "bridge"},
		{"addr", "add", gateway + "/24", "dev", "br0"},
		{"link", "set", "br0", "up"},
	} {
		if out, err := netns.Command(ctx, l.ns, append([]string{"ip"}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v: %s", args, err, out)
		}
	}
	dns := netns.Command(ctx, l.ns, "dnsmasq", "--no-daemon", "--conf-file=/dev/null", "--port=0",
		"--interface=br0", "--bind-interfaces", "--dhcp-range=10.99.0.50,10.99.0.99,1h",
		"--dhcp-host="+vmMAC+","+vmIP+",labos-proof", "--dhcp-leasefile="+filepath.Join(l.dir, "leases"))
	dnsLog, _ := os.Create(filepath.Join(l.dir, "dnsmasq.log"))
	dns.Stdout, dns.Stderr = dnsLog, dnsLog
	if err := dns.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dns.Process.Kill(); dns.Wait() })

	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	_ = pub
	l.hostKey = priv
	_, cpriv, _ := ed25519.GenerateKey(rand.Reader)
	l.clientKey, _ = ssh.NewSignerFromKey(cpriv)

	ln, err := netns.Listen(l.ns, "tcp", gateway+":8080")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: l.handler(t)}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return l
}

func (l *testLab) record(name, detail string) {
	l.mu.Lock()
	l.events = append(l.events, event{name, detail, time.Now()})
	l.mu.Unlock()
	select {
	case l.notify <- struct{}{}:
	default:
	}
}

func (l *testLab) reported(name string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range l.events {
		if e.name == name {
			return true
		}
	}
	return false
}

func (l *testLab) handler(t *testing.T) http.Handler {
	mux := http.NewServeMux()
	assets := http.StripPrefix("/assets/labos/", http.FileServer(http.Dir(l.assets)))
	mux.HandleFunc("/assets/labos/", func(w http.ResponseWriter, r *http.Request) {
		l.record("asset", r.URL.Path)
		assets.ServeHTTP(w, r)
	})
	mux.HandleFunc("/report", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		l.record(q.Get("event"), q.Get("detail")+" mac="+q.Get("mac"))
		t.Logf("report %s %q from %s", q.Get("event"), q.Get("detail"), q.Get("mac"))
	})
	mux.HandleFunc("/ignition", func(w http.ResponseWriter, r *http.Request) {
		os := r.URL.Query().Get("os")
		l.record("ignition", "os="+os)
		cfg, err := l.ignition(os)
		if err != nil {
			t.Errorf("ignition: %v", err)
			http.Error(w, err.Error(), 500)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(cfg)
	})
	return mux
}

const proofButane = `variant: fcos
version: 1.4.0
passwd:
  users:
    - name: root
      ssh_authorized_keys: [{{printf "%q" .authorized_key}}]
storage:
  files:
    - path: /etc/hostname
      mode: 0644
      overwrite: true
      contents: {inline: labos-proof}
    - path: /etc/labos-proof
      mode: 0644
      contents: {inline: {{printf "%q" .proof}}}
    - path: /etc/ssh/ssh_host_ed25519_key
      mode: 0600
      overwrite: true
      contents: {inline: {{printf "%q" .host_key}}}
    - path: /etc/systemd/network/20-wired.network.d/proof-route.conf
      mode: 0644
      contents: {inline: "[Route]\nDestination=` + proofRoute + `\nGateway=` + gateway + `\n"}
{{if .install}}systemd:
  units:
    - name: labos-install.service
      enabled: true
{{end}}`

// ignition renders what a boot service would serve: the installer for a
// machine not yet installed, otherwise the proof file and keys.
func (l *testLab) ignition(os string) ([]byte, error) {
	block, err := ssh.MarshalPrivateKey(l.hostKey, "labos-proof")
	if err != nil {
		return nil, err
	}
	phase := "live"
	if os == "installed" {
		phase = "installed"
	}
	vars := map[string]any{
		"authorized_key": strings.TrimSpace(string(ssh.MarshalAuthorizedKey(l.clientKey.PublicKey()))),
		"host_key":       string(pem.EncodeToMemory(block)),
		"proof":          phase + " " + l.nonce + "\n",
		"install":        l.install && os != "installed",
	}
	var buf bytes.Buffer
	if err := template.Must(template.New("proof").Option("missingkey=error").Parse(proofButane)).Execute(&buf, vars); err != nil {
		return nil, err
	}
	ign, rep, err := butane.TranslateBytes(buf.Bytes(), common.TranslateBytesOptions{})
	if err != nil {
		return nil, fmt.Errorf("%w: %s", err, rep.String())
	}
	return ign, nil
}

type vm struct {
	cmd    *exec.Cmd
	serial string
	disk   string
	done   chan error
}

func (v *vm) tail() string {
	raw, _ := os.ReadFile(v.serial)
	lines := strings.Split(string(raw), "\n")
	if len(lines) > 40 {
		lines = lines[len(lines)-40:]
	}
	return strings.Join(lines, "\n")
}

func (v *vm) waitExit(d time.Duration) error {
	select {
	case err := <-v.done:
		return err
	case <-time.After(d):
		return errors.New("timed out")
	}
}

// start boots the VM: with the labos kernel directly (live), or from disk.
func (l *testLab) start(t *testing.T, fw string, direct bool, disk string) *vm {
	ctx := context.Background()
	l.vms++
	n := l.vms
	if disk == "" {
		disk = filepath.Join(l.dir, "disk.qcow2")
		if out, err := exec.Command("qemu-img", "create", "-q", "-f", "qcow2", disk, "4G").CombinedOutput(); err != nil {
			t.Fatalf("qemu-img: %v: %s", err, out)
		}
	}
	tap := fmt.Sprintf("tap%d", n)
	for _, args := range [][]string{
		{"tuntap", "add", tap, "mode", "tap"},
		{"link", "set", tap, "master", "br0"},
		{"link", "set", tap, "up"},
	} {
		if out, err := netns.Command(ctx, l.ns, append([]string{"ip"}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v: %s", args, err, out)
		}
	}
	serial := filepath.Join(l.dir, fmt.Sprintf("serial-%s-%d.log", fw, n))
	args := []string{"qemu-system-x86_64", "-accel", "tcg", "-m", "1536", "-smp", "1", "-nographic", "-no-reboot",
		"-serial", "file:" + serial, "-monitor", "none",
		"-netdev", "tap,id=n0,ifname=" + tap + ",script=no,downscript=no",
		"-device", "virtio-net-pci,netdev=n0,mac=" + vmMAC,
		"-drive", "file=" + disk + ",if=virtio,format=qcow2"}
	if fw == "uefi" {
		vars := filepath.Join(l.dir, "OVMF_VARS.fd")
		if _, err := os.Stat(vars); err != nil {
			raw, err := os.ReadFile("/usr/share/OVMF/OVMF_VARS_4M.fd")
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(vars, raw, 0o644)
		}
		args = append(args, "-machine", "q35",
			"-drive", "if=pflash,format=raw,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd",
			"-drive", "if=pflash,format=raw,file="+vars)
	}
	if direct {
		boot := "http://" + gateway + ":8080"
		args = append(args, "-kernel", filepath.Join(l.assets, labos.Kernel), "-initrd", filepath.Join(l.assets, labos.Initrd),
			"-append", "console=ttyS0 root=live:"+boot+"/assets/labos/"+labos.Rootfs+" rd.live.overlay.overlayfs=1 ip=dhcp rd.neednet=1"+
				" ignition.firstboot ignition.platform.id=metal ignition.config.url="+boot+"/ignition?mac="+vmMAC)
	} else {
		args = append(args, "-boot", "c")
	}
	cmd := netns.Command(ctx, l.ns, args...)
	qlog, _ := os.Create(filepath.Join(l.dir, fmt.Sprintf("qemu-%d.log", n)))
	cmd.Stdout, cmd.Stderr = qlog, qlog
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	v := &vm{cmd: cmd, serial: serial, disk: disk, done: make(chan error, 1)}
	go func() { v.done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		v.waitExit(10 * time.Second)
		if t.Failed() {
			t.Logf("serial %s:\n%s", serial, v.tail())
		}
	})
	return v
}

// wait returns when the machine reported name with detail containing want;
// it fails at once if QEMU exits or the installer fails first.
func (l *testLab) wait(t *testing.T, v *vm, name, want string, d time.Duration) {
	t.Helper()
	deadline := time.After(d)
	for seen := 0; ; {
		l.mu.Lock()
		for ; seen < len(l.events); seen++ {
			e := l.events[seen]
			if e.name == "install-failed" {
				l.mu.Unlock()
				t.Fatalf("installer failed (%s) while waiting for %s %q\n%s", e.detail, name, want, v.tail())
			}
			if e.name == name && strings.Contains(e.detail, want) {
				l.events = append(l.events[:seen], l.events[seen+1:]...) // consumed
				l.mu.Unlock()
				return
			}
		}
		l.mu.Unlock()
		select {
		case <-l.notify:
		case err := <-v.done:
			v.done <- err
			t.Fatalf("QEMU exited (%v) before %s %q\n%s", err, name, want, v.tail())
		case <-deadline:
			t.Fatalf("no %s %q after %s\n%s", name, want, d, v.tail())
		}
	}
}

// ssh runs cmd on the machine as root, checking its host key strictly.
func (l *testLab) ssh(t *testing.T, cmd string) string {
	t.Helper()
	hostPub, _ := ssh.NewPublicKey(l.hostKey.Public())
	cfg := &ssh.ClientConfig{User: "root", Auth: []ssh.AuthMethod{ssh.PublicKeys(l.clientKey)},
		HostKeyCallback: ssh.FixedHostKey(hostPub), Timeout: 20 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, err := netns.Dial(ctx, l.ns, "tcp", net.JoinHostPort(vmIP, "22"))
	if err != nil {
		t.Fatal(err)
	}
	c, chans, reqs, err := ssh.NewClientConn(conn, vmIP, cfg)
	if err != nil {
		t.Fatal(err)
	}
	client := ssh.NewClient(c, chans, reqs)
	defer client.Close()
	s, err := client.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	s.Stdout, s.Stderr = &out, io.Discard
	if err := s.Run(cmd); err != nil {
		t.Fatalf("ssh %q: %v: %s", cmd, err, out.String())
	}
	return out.String()
}
