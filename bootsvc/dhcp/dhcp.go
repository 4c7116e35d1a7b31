// Package dhcp is the DHCP side of a standing boot service on one of a
// rack's interfaces: proxyDHCP beside the site's server, full DHCP with
// reserved addresses (an inventory's), or none; a supervised dnsmasq for the
// first two.
package dhcp

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"

	"github.com/labctl/labctl/bootsvc/dnsmasq"
	"github.com/labctl/labctl/firmware"
)

// Mode is who hands out addresses.
type Mode string

const (
	// Proxy: the site's DHCP server keeps the addresses; dnsmasq answers
	// PXE clients only (proxyDHCP) and serves iPXE over TFTP.
	Proxy Mode = "proxy"
	// Full: dnsmasq hands out addresses, the inventory's reservations
	// (and an optional dynamic range).
	Full Mode = "full"
	// None: the site's DHCP already points machines at the boot service.
	None Mode = "none"
)

// ParseMode reads a --dhcp value.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case Proxy, Full, None:
		return m, nil
	}
	return "", fmt.Errorf("%q: want proxy, full or none", s)
}

// Reservation is one machine's fixed address in full mode. Field names
// where it was given, for errors (an inventory's file and entry).
type Reservation struct {
	Field   string
	Name    string
	MAC     net.HardwareAddr
	Address netip.Addr
}

// Options are what the operator chose.
type Options struct {
	Mode         Mode
	Interface    string
	Reservations []Reservation // full mode's fixed addresses
	Range        [2]netip.Addr // full mode's dynamic range; zero: reservations only
	Domain       string        // full mode's DNS domain
	BootPort     uint16        // the boot service's HTTP port on the interface's address
	IPXEDir      string        // iPXE binaries; "": Debian's
	Dir          string        // dnsmasq's config, TFTP root, leases and log
	OnStart      func(pid int) // told each dnsmasq started (a lab records it); nil: nobody
}

// Link is the interface as found: its name and IPv4 address with prefix.
type Link struct {
	Name string
	Addr netip.Prefix
}

// Inspect finds the interface and refuses one that does not exist, is down
// or has no IPv4 address, naming it. It changes nothing.
func Inspect(name string) (Link, error) {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return Link{}, fmt.Errorf("interface %s does not exist (%v)", name, err)
	}
	if ifi.Flags&net.FlagUp == 0 {
		return Link{}, fmt.Errorf("interface %s is down", name)
	}
	if ifi.Flags&net.FlagRunning == 0 {
		return Link{}, fmt.Errorf("interface %s is down (no carrier)", name)
	}
	addrs, err := ifi.Addrs()
	if err != nil {
		return Link{}, fmt.Errorf("interface %s: addresses: %w", name, err)
	}
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok || ipn.IP.To4() == nil {
			continue
		}
		ip, _ := netip.AddrFromSlice(ipn.IP.To4())
		bits, _ := ipn.Mask.Size()
		return Link{Name: name, Addr: netip.PrefixFrom(ip, bits)}, nil
	}
	return Link{}, fmt.Errorf("interface %s has no IPv4 address (labctl does not add one: give it one, or choose another interface)", name)
}

// Config is dnsmasq's configuration for o on link, refusing a range or a
// reservation that collides with the interface's own address or lies
// outside its subnet (dnsmasq.Config.Validate judges the range). The boot
// URL is on the interface's address.
func Config(o Options, link Link) (dnsmasq.Config, error) {
	gw, subnet := link.Addr.Addr(), link.Addr.Masked()
	c := dnsmasq.Config{
		Interface: link.Name,
		Subnet:    subnet,
		Gateway:   gw,
		Domain:    o.Domain,
		TFTPRoot:  filepath.Join(o.Dir, "tftp"),
		BootURL:   fmt.Sprintf("http://%s/boot.ipxe", netip.AddrPortFrom(gw, o.BootPort)),
		LogFile:   filepath.Join(o.Dir, "dnsmasq.log"),
		LeaseFile: filepath.Join(o.Dir, "dnsmasq.leases"),
		Proxy:     o.Mode == Proxy,
	}
	if o.Mode != Full {
		return c, nil
	}
	c.Range = o.Range
	for _, m := range o.Reservations {
		field := m.Field
		switch {
		case m.MAC == nil:
			return c, fmt.Errorf("%s.mac: required for the reservation of address %s", field, m.Address)
		case !subnet.Contains(m.Address):
			return c, fmt.Errorf("%s.address: %s is outside %s, the subnet of interface %s", field, m.Address, subnet, link.Name)
		case m.Address == gw:
			return c, fmt.Errorf("%s.address: %s is the address of interface %s", field, m.Address, link.Name)
		}
		c.Hosts = append(c.Hosts, dnsmasq.Host{Name: m.Name, MAC: m.MAC, IP: m.Address})
	}
	return c, c.Validate()
}

// Run prepares the TFTP root and supervises dnsmasq with conf until ctx
// ends, then stops it. It returns at once if dnsmasq refuses the config.
// On each SIGHUP it asks reconfigure for the configuration again (the
// inventory read anew) and restarts dnsmasq when it changed; one that
// fails is logged, and dnsmasq keeps the configuration it has.
func Run(ctx context.Context, o Options, conf dnsmasq.Config, reconfigure func() (dnsmasq.Config, error), log *slog.Logger) error {
	if err := firmware.CopyTo(o.IPXEDir, conf.TFTPRoot); err != nil {
		return err
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		runCtx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		p := &dnsmasq.Process{Config: conf, ConfigFile: filepath.Join(o.Dir, "dnsmasq.conf"), Log: log, OnStart: o.OnStart}
		go func() { done <- p.Run(runCtx) }()
		next, changed := conf, false
		for !changed {
			select {
			case err := <-done:
				stop()
				if err != nil {
					return fmt.Errorf("dnsmasq on %s: %w", conf.Interface, err)
				}
				return nil // ctx ended
			case <-hup:
				c, err := reconfigure()
				switch {
				case err != nil:
					log.Error("reload on SIGHUP failed; dnsmasq keeps its configuration", "err", err)
				case !reflect.DeepEqual(c, conf):
					next, changed = c, true
				}
			}
		}
		stop()
		<-done
		log.Info("restarting dnsmasq with the reloaded configuration", "reservations", len(next.Hosts))
		conf = next
	}
}

// ParseRange reads START-END.
func ParseRange(s string) ([2]netip.Addr, error) {
	a, b, ok := strings.Cut(s, "-")
	start, err1 := netip.ParseAddr(strings.TrimSpace(a))
	end, err2 := netip.ParseAddr(strings.TrimSpace(b))
	if !ok || err1 != nil || err2 != nil || !start.Is4() || !end.Is4() {
		return [2]netip.Addr{}, fmt.Errorf("%q: want START-END, two IPv4 addresses", s)
	}
	return [2]netip.Addr{start, end}, nil
}
