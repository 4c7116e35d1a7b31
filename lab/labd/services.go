package labd

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/labctl/labctl/bootsvc"
	"github.com/labctl/labctl/bootsvc/dnsmasq"
	"github.com/labctl/labctl/bootsvc/outage"
	"github.com/labctl/labctl/bootsvc/serve"
	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/lab/pki"
	"github.com/labctl/labctl/lab/state"
)

// serveBoot serves the lab's data directory and assets on the gateway, and
// its gRPC API, logging requests to the lab's boot service log: the same
// assembly as `labctl serve`. On the lab's boot fault socket it can be
// made to fail for the machines (labctl fault boot-service-error); the
// gateway's own requests (the machine log) are always answered.
func serveBoot(ctx context.Context, wg *sync.WaitGroup, l *lab.Lab, log *slog.Logger, fail func(error)) error {
	bootLog, err := os.OpenFile(l.BootsvcLog(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	sw := &outage.Switch{Exempt: []netip.Addr{l.Network.Gateway}}
	svc, err := serve.Start(serve.Options{
		Boot: bootsvc.Config{DataDir: l.DataDir(), AssetsDir: l.AssetsDir(), FirmwareDir: l.TFTPDir(), MachineLog: l.MachineLog(),
			Outage: sw},
		Address:    l.BootAddr(),
		Addresses:  nonEmpty(l.BootAddr6()),
		TLS:        httpsBootOptions(l),
		API:        apiOptions(l),
		RequestLog: bootLog,
		LogLevel:   slog.LevelInfo,
		Log:        log,
	})
	if err != nil {
		bootLog.Close()
		return err
	}
	if err := writeGRUBMenus(l, svc.Server()); err != nil {
		bootLog.Close()
		return err
	}
	if err := serveSocket(ctx, wg, l.BootFaultSocket(), outage.Handler(sw), "boot service: outage API", fail); err != nil {
		bootLog.Close()
		return err
	}
	wg.Go(func() {
		defer bootLog.Close()
		if err := svc.Run(ctx); err != nil && ctx.Err() == nil {
			fail(fmt.Errorf("boot service: %w", err))
		}
	})
	return nil
}

// runDnsmasq supervises the lab's dnsmasq until ctx ends. routerErr is
// why the bridge has no address in the router prefix (addRouterAddress),
// nil when it has one.
func runDnsmasq(ctx context.Context, wg *sync.WaitGroup, l *lab.Lab, routerErr error, log *slog.Logger, fail func(error)) {
	conf := dnsmasqConfig(l)
	if routerErr != nil {
		// The lab works without; its machines' iPXE waits longer.
		log.Warn("no IPv6 router advertisements on the lab bridge", "err", routerErr)
		conf.RouterPrefix = netip.Prefix{}
	}
	dns := &dnsmasq.Process{
		Config:     conf,
		ConfigFile: l.DnsmasqConfig(),
		Log:        log,
		OnStart:    func(pid int) { state.SetPid(l.Dir, "dnsmasq", pid) },
		OnExit: func(err error) {
			state.SetExit(l.Dir, "dnsmasq", fmt.Sprintf("exited unasked: %v at %s; restarted", err, time.Now().UTC().Format(time.TimeOnly)))
		},
	}
	wg.Go(func() {
		if err := dns.Run(ctx); err != nil {
			fail(err)
		}
	})
}

// addRouterAddress puts the bridge's address in the router prefix (::1),
// without which dnsmasq advertises nothing; nodad, as nothing else on the
// lab's link can hold it, so that it is usable at once. libvirt disables
// IPv6 on a bridge whose network has no IPv6 address (and one in its XML
// would start libvirt's own dnsmasq), so it is enabled here first.
func addRouterAddress(ctx context.Context, l *lab.Lab) error {
	// /proc/sys/net is the namespace's own: the lab process runs inside it.
	sysctl := "/proc/sys/net/ipv6/conf/" + l.Network.Name + "/disable_ipv6"
	if err := os.WriteFile(sysctl, []byte("0"), 0o644); err != nil {
		return fmt.Errorf("enable IPv6 on bridge %s: %w", l.Network.Name, err)
	}
	p := l.Network.RouterPrefix()
	addr := netip.PrefixFrom(p.Addr().Next(), p.Bits())
	out, err := exec.CommandContext(ctx, "ip", "-6", "addr", "replace", addr.String(), "dev", l.Network.Name, "nodad").CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip -6 addr replace %s dev %s: %w: %s", addr, l.Network.Name, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// httpsBootOptions is the boot service's HTTPS listener, when a machine
// boots by HTTPS, with the certificate `up` made for it.
func httpsBootOptions(l *lab.Lab) *serve.TLS {
	if !l.HTTPSBoots() {
		return nil
	}
	return &serve.TLS{Address: l.HTTPSBootAddr(), CertFile: pki.CertFile(l.PKIDir(), pki.HTTPSBoot), KeyFile: pki.KeyFile(l.PKIDir(), pki.HTTPSBoot)}
}

func dnsmasqConfig(l *lab.Lab) dnsmasq.Config {
	c := dnsmasq.Config{
		Interface:    l.Network.Name,
		Subnet:       l.Network.Subnet,
		Gateway:      l.Network.Gateway,
		Domain:       l.Network.Domain,
		TFTPRoot:     l.TFTPDir(),
		BootURL:      l.BootURL(),
		LogFile:      l.DnsmasqLog(),
		LeaseFile:    l.DnsmasqLeases(),
		RouterPrefix: l.Network.RouterPrefix(),
		Subnet6:      l.Network.Subnet6,
		BootURL6:     l.BootURL6(),
	}
	for _, m := range l.Machines {
		h := dnsmasq.Host{Name: m.Name, MAC: m.MAC, SecureBoot: m.SecureBoot, IP6: m.Addr6()}
		if !m.IPv6Only() {
			h.IP = m.IP
		}
		if m.Firmware == lab.UEFI {
			// Any UEFI machine may be told to boot by HTTP (its BMC can).
			h.HTTPBootURI = l.HTTPBootURI(m)
		}
		c.Hosts = append(c.Hosts, h)
	}
	return c
}

// nonEmpty is the list of the strings given that are not empty.
func nonEmpty(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}
