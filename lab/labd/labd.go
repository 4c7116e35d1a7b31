// Package labd is the lab process: it runs inside the lab's network
// namespace and holds the lab up (network, boot service, dnsmasq, machines)
// until it is told to stop, recording everything it creates in the state file.
package labd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/labctl/labctl/bootsvc"
	"github.com/labctl/labctl/bootsvc/dnsmasq"
	"github.com/labctl/labctl/firmware"
	"github.com/labctl/labctl/images"
	"github.com/labctl/labctl/images/fcos"
	"github.com/labctl/labctl/images/flatcar"
	"github.com/labctl/labctl/images/k8s"
	"github.com/labctl/labctl/images/labos"
	"github.com/labctl/labctl/images/smoke"
	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/lab/files"
	"github.com/labctl/labctl/lab/libvirt"
	"github.com/labctl/labctl/lab/pki"
	"github.com/labctl/labctl/lab/qemu"
	"github.com/labctl/labctl/lab/sshkeys"
	"github.com/labctl/labctl/lab/state"
	"github.com/labctl/labctl/scenarios"
)

// BootPort is where the boot service listens on the lab gateway.
const BootPort = 8080

// Paths of a lab's files under its directory, shared with the CLI.
func DataDir(dir string) string    { return filepath.Join(dir, "data") }
func AssetsDir(dir string) string  { return filepath.Join(dir, "assets") }
func TFTPDir(dir string) string    { return filepath.Join(dir, "tftp") }
func DnsmasqLog(dir string) string { return filepath.Join(dir, "dnsmasq.log") }
func BootsvcLog(dir string) string { return filepath.Join(dir, "bootsvc.log") }
func ProcessLog(dir string) string { return filepath.Join(dir, "labd.log") }
func SSHDir(dir string) string     { return filepath.Join(dir, "ssh") }
func PKIDir(dir string) string     { return filepath.Join(dir, "pki") } // the lab CA; its key never leaves the host
func Kubeconfig(dir string) string { return filepath.Join(dir, "kubeconfig") }
func BootURL(l *lab.Lab) string    { return fmt.Sprintf("http://%s/boot.ipxe", BootAddr(l)) }
func BootAddr(l *lab.Lab) string   { return netip.AddrPortFrom(l.Network.Gateway, BootPort).String() }
func CacheDir() string {
	if d := os.Getenv("LABCTL_CACHE_DIR"); d != "" {
		return d
	}
	return images.DefaultCacheDir
}

// Consoles is implemented by providers whose machines have a serial console
// socket and log on disk (for `labctl console` and `labctl logs`).
type Consoles interface {
	ConsoleSocket(l *lab.Lab, machine string) string
	SerialLog(l *lab.Lab, machine string) string
}

// Provider returns the lab provider called name for the lab in dir; the
// pids of the processes it starts are recorded in the lab's state file.
func Provider(name string, log *slog.Logger, dir string) (lab.Provider, error) {
	switch name {
	case "qemu":
		p := qemu.New(log)
		p.AccelCache = filepath.Join(filepath.Dir(CacheDir()), "accel.json")
		p.Accel = os.Getenv("LABCTL_ACCEL") // "" probes
		p.OnProcess = func(machine string, pid int) {
			if err := state.SetPid(dir, "qemu/"+machine, pid); err != nil {
				log.Warn("record qemu pid", "machine", machine, "err", err)
			}
		}
		return p, nil
	case "libvirt":
		return libvirtProvider{libvirt.New(log)}, nil
	}
	return nil, fmt.Errorf("unknown provider %q (known: qemu, libvirt)", name)
}

// libvirtProvider adds the console paths to the libvirt provider.
type libvirtProvider struct{ *libvirt.Provider }

func (libvirtProvider) ConsoleSocket(l *lab.Lab, machine string) string {
	return libvirt.ConsoleSocket(l, machine)
}
func (libvirtProvider) SerialLog(l *lab.Lab, machine string) string {
	return libvirt.SerialLog(l, machine)
}

// Run brings the lab in dir up and keeps it up until ctx ends, then takes
// it down. It must run inside the lab's network namespace.
func Run(ctx context.Context, dir string, log *slog.Logger) (err error) {
	st, err := state.Load(dir)
	if err != nil {
		return fmt.Errorf("lab state: %w", err)
	}
	l := st.Lab
	defer func() {
		if err != nil {
			state.Update(dir, func(s *state.State) { s.Phase, s.Error = state.Failed, err.Error() })
		}
	}()
	sc, err := scenarios.Find(st.Source)
	if err != nil {
		return err
	}
	prov, err := Provider(st.Provider, log, dir)
	if err != nil {
		return err
	}
	// Whatever happens from here on, leave nothing behind.
	defer func() {
		dctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if derr := prov.Destroy(dctx, l); derr != nil {
			log.Error("destroy lab", "err", derr)
		}
	}()

	if err := prov.CreateNetwork(ctx, l); err != nil {
		return err
	}
	var accel string
	switch p := prov.(type) {
	case libvirtProvider:
		state.SetPid(dir, "libvirtd", p.Daemon(l).Pid())
		if accel = p.Accelerator(ctx, l); accel == "qemu" {
			accel = "tcg" // libvirt's domain type for QEMU without KVM
		}
	case *qemu.Provider:
		accel = p.Accelerator(ctx)
	}
	state.Update(dir, func(s *state.State) { s.Accel = accel })
	keys, err := SSHKeys(l)
	if err != nil {
		return err
	}
	tls, err := issueCertificates(sc, l)
	if err != nil {
		return err
	}
	if err := sc.WriteData(DataDir(dir), l, "http://"+BootAddr(l), keys, tls); err != nil {
		return fmt.Errorf("write lab data directory: %w", err)
	}
	if err := buildAssets(ctx, sc.Images, AssetsDir(dir), log); err != nil {
		return err
	}
	if err := firmware.CopyTo(os.Getenv("LABCTL_IPXE_DIR"), TFTPDir(dir)); err != nil {
		return err
	}

	bootLog, err := os.OpenFile(BootsvcLog(dir), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer bootLog.Close()
	bootLogw := bootsvc.NewLogWriter(bootLog, 100*time.Millisecond) // batched: a write per request costs as much as the request
	defer bootLogw.Close()
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	bootLogger := slog.New(slog.NewTextHandler(bootLogw, nil))
	srv, err := bootsvc.New(bootsvc.Config{DataDir: DataDir(dir), AssetsDir: AssetsDir(dir), Logger: bootLogger})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", BootAddr(l))
	if err != nil {
		return fmt.Errorf("boot service: %w", err)
	}
	wg.Go(func() {
		if err := srv.Serve(ctx, ln); err != nil && ctx.Err() == nil {
			stop(fmt.Errorf("boot service: %w", err))
		}
	})
	if err := startAPI(ctx, &wg, dir, l, srv, bootLogger, stop); err != nil {
		return err
	}

	dns := &dnsmasq.Process{
		Config:     dnsmasqConfig(l, dir),
		ConfigFile: filepath.Join(dir, "dnsmasq.conf"),
		Log:        log,
		OnStart:    func(pid int) { state.SetPid(dir, "dnsmasq", pid) },
		OnExit: func(err error) {
			state.SetExit(dir, "dnsmasq", fmt.Sprintf("exited unasked: %v at %s; restarted", err, time.Now().UTC().Format(time.TimeOnly)))
		},
	}
	wg.Go(func() {
		if err := dns.Run(ctx); err != nil {
			stop(err)
		}
	})

	// Virtual BMCs, before the machines power on (see bmc.go).
	if bp, ok := prov.(BMCProvider); ok {
		if err := startBMCs(ctx, &wg, dir, l, bp, log, stop); err != nil {
			return err
		}
	}

	for _, m := range l.Machines {
		if err := prov.CreateMachine(ctx, l, m); err != nil {
			return err
		}
	}
	state.Update(dir, func(s *state.State) { s.Phase = state.Running })
	log.Info("lab up", "lab", l.Name, "provider", prov.Name(), "boot", BootURL(l))
	<-ctx.Done()
	state.Update(dir, func(s *state.State) { s.Phase = state.Stopping })
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		return cause
	}
	return nil
}

// SSHKeys returns the lab's SSH keys, made on first use and kept in the
// lab's directory until `labctl down`.
func SSHKeys(l *lab.Lab) (*sshkeys.Keys, error) {
	names := make([]string, len(l.Machines))
	for i, m := range l.Machines {
		names[i] = m.Name
	}
	keys, err := sshkeys.LoadOrCreate(SSHDir(l.Dir), names)
	if err != nil {
		return nil, fmt.Errorf("lab %s: ssh keys: %w", l.Name, err)
	}
	return keys, nil
}

// issueCertificates makes the lab CA and the scenario's certificates (and
// its kubeconfig), for scenarios that declare any.
func issueCertificates(sc *scenarios.Scenario, l *lab.Lab) (*scenarios.TLS, error) {
	if len(sc.Certificates) == 0 {
		return nil, nil
	}
	ca, err := pki.LoadOrCreate(PKIDir(l.Dir), l.Name)
	if err != nil {
		return nil, fmt.Errorf("lab %s: %w", l.Name, err)
	}
	tls, err := sc.IssueCertificates(ca, l)
	if err != nil {
		return nil, err
	}
	if sc.Kubeconfig != nil {
		if err := sc.WriteKubeconfig(Kubeconfig(l.Dir), tls); err != nil {
			return nil, err
		}
	}
	return tls, nil
}

func dnsmasqConfig(l *lab.Lab, dir string) dnsmasq.Config {
	c := dnsmasq.Config{
		Interface: l.Network.Name,
		Subnet:    l.Network.Subnet,
		Gateway:   l.Network.Gateway,
		Domain:    l.Network.Domain,
		TFTPRoot:  TFTPDir(dir),
		BootURL:   BootURL(l),
		LogFile:   DnsmasqLog(dir),
		LeaseFile: filepath.Join(dir, "dnsmasq.leases"),
	}
	for _, m := range l.Machines {
		c.Hosts = append(c.Hosts, dnsmasq.Host{Name: m.Name, MAC: m.MAC, IP: m.IP})
	}
	return c
}

// BuildImage returns the directory of the named image, building it unless
// the cache holds one made from the same inputs; a published image (Flatcar,
// Fedora CoreOS) must already have been fetched.
func BuildImage(ctx context.Context, name string, log *slog.Logger) (string, error) {
	switch name {
	case "smoke":
		return smoke.Build(ctx, CacheDir())
	case labos.Name:
		img, err := labos.Build(ctx, labos.Options{CacheDir: CacheDir(), Log: log})
		if err != nil {
			return "", err
		}
		return img.Dir, nil
	case flatcar.Name, fcos.Name:
		// Published images are fetched (online, verified) by the user, never
		// behind their back: refuse before anything of the lab exists.
		img, err := (&images.Cache{Dir: CacheDir()}).Newest(name)
		if errors.Is(err, images.ErrNotCached) {
			return "", fmt.Errorf("%w: run `labctl images fetch %s` first (it downloads the image and verifies its signatures)", err, name)
		}
		if err != nil {
			return "", err
		}
		return img.Dir, nil
	case k8s.NodeName:
		img, err := k8s.BuildNode(ctx, k8s.NodeOptions{Labos: labos.Options{CacheDir: CacheDir()}, Log: log})
		if err != nil {
			return "", err
		}
		return img.Dir, nil
	}
	return "", fmt.Errorf("unknown image %q (known: smoke, %s, %s, %s, %s)", name, labos.Name, k8s.NodeName, flatcar.Name, fcos.Name)
}

// buildAssets builds each image the scenario names and places its files
// under assets/<image>/. The boot service confines assets to their root, so
// files are hard-linked (or copied), never symlinked out of it.
func buildAssets(ctx context.Context, names []string, assets string, log *slog.Logger) error {
	for _, name := range names {
		src, err := BuildImage(ctx, name, log)
		if err != nil {
			return fmt.Errorf("image %s: %w", name, err)
		}
		if err := linkTree(src, filepath.Join(assets, name)); err != nil {
			return fmt.Errorf("image %s: %w", name, err)
		}
	}
	return nil
}

func linkTree(src, dst string) error {
	entries, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	for _, e := range entries {
		from, to := filepath.Join(src, e.Name()), filepath.Join(dst, e.Name())
		os.Remove(to)
		if err := os.Link(from, to); err != nil {
			if err := files.Copy(from, to); err != nil {
				return err
			}
		}
	}
	return nil
}
