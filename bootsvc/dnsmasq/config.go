// Package dnsmasq generates the configuration of a lab's dnsmasq (DHCP with
// reservations, DNS, TFTP with iPXE, chainloading to the boot service) and
// supervises the process.
package dnsmasq

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// Config is one dnsmasq instance, bound to one interface.
type Config struct {
	Interface string       // the lab bridge; dnsmasq binds to it only
	Subnet    netip.Prefix // the lab subnet
	Gateway   netip.Addr   // dnsmasq's own address on Interface: DNS, TFTP, next-server
	Domain    string       // DNS domain of the machines; boot.<Domain> names Gateway
	Hosts     []Host       // DHCP reservations and DNS names
	// Range is a pool handed out besides the reservations (a rack's full
	// DHCP); zero: reservations only, as in a lab.
	Range     [2]netip.Addr
	TFTPRoot  string // holds undionly.kpxe, ipxe.efi, snponly.efi
	BootURL   string // iPXE clients chain to this, e.g. http://10.77.0.1:8080/boot.ipxe
	LogFile   string
	LeaseFile string
	// Proxy makes dnsmasq a proxyDHCP server: it hands out boot files only
	// and leaves addresses to a DHCP server labctl does not own (a rack's).
	Proxy bool
	// RouterPrefix, if set, is an IPv6 /64 on Interface that dnsmasq
	// announces in router advertisements (addresses by SLAAC, no DHCPv6, no
	// default route). iPXE waits for an answer to its router solicitation
	// before it fetches anything: about 13 s when nobody answers.
	RouterPrefix netip.Prefix
	// Subnet6, if set, is an IPv6 /64 on Interface (whose ::1 dnsmasq
	// holds) in which dnsmasq hands out the hosts' IP6 by DHCPv6, with
	// the boot file URL (option 59) as for DHCPv4: a tftp:// URL of iPXE
	// for UEFI PXE firmware, BootURL6 for iPXE. Its router advertisements
	// then set the managed flag; they replace RouterPrefix's.
	Subnet6  netip.Prefix
	BootURL6 string // BootURL on the IPv6 gateway, e.g. http://[fd00:77:30::1]:8080/boot.ipxe
}

// Host is one DHCP reservation.
type Host struct {
	Name string
	MAC  net.HardwareAddr
	IP   netip.Addr // invalid for an IPv6-only host: it gets no IPv4 address
	IP6  netip.Addr // its DHCPv6 reservation in Subnet6; invalid: none
	// SecureBoot hands the host the signed shim (ShimFile) instead of
	// iPXE, which its firmware would refuse.
	SecureBoot bool
	// HTTPBootURI is the EFI binary offered to the host's firmware when it
	// asks for UEFI HTTP boot (vendor class HTTPClient); empty: none.
	HTTPBootURI string
}

// IPv6Only says whether h gets an IPv6 address only.
func (h Host) IPv6Only() bool { return !h.IP.IsValid() && h.IP6.IsValid() }

// ShimFile is the boot file of Secure Boot hosts (firmware.Shim).
const ShimFile = "shimx64.efi"

// Validate names the field at fault in a config that dnsmasq would refuse
// or that would put the lab's DHCP onto the wrong network.
func (c Config) Validate() error {
	switch {
	case c.Interface == "":
		return fmt.Errorf("dnsmasq config: interface: missing")
	case !c.Subnet.IsValid() || !c.Subnet.Addr().Is4():
		return fmt.Errorf("dnsmasq config: subnet: %v is not an IPv4 prefix", c.Subnet)
	case !c.Subnet.Contains(c.Gateway):
		return fmt.Errorf("dnsmasq config: gateway: %v is outside %v", c.Gateway, c.Subnet)
	case c.TFTPRoot == "":
		return fmt.Errorf("dnsmasq config: tftp root: missing")
	case strings.ContainsAny(c.TFTPRoot+c.LogFile+c.LeaseFile, ",\n"):
		// dnsmasq reads a comma as a separator and fails to start.
		return fmt.Errorf("dnsmasq config: tftp root, log or lease file under %q: a path with a comma or newline; use a state directory without one", c.TFTPRoot)
	case !strings.HasPrefix(c.BootURL, "http://") && !strings.HasPrefix(c.BootURL, "https://"):
		return fmt.Errorf("dnsmasq config: boot url: %q is not an http(s) URL", c.BootURL)
	case strings.ContainsAny(c.BootURL, ", \n"):
		return fmt.Errorf("dnsmasq config: boot url: %q contains a comma, space or newline", c.BootURL)
	}
	if !c.Proxy && c.Domain == "" {
		return fmt.Errorf("dnsmasq config: domain: missing")
	}
	if c.RouterPrefix.IsValid() && (c.Proxy || !c.RouterPrefix.Addr().Is6() || c.RouterPrefix.Bits() != 64 || c.RouterPrefix != c.RouterPrefix.Masked()) {
		return fmt.Errorf("dnsmasq config: router prefix: %v is not an IPv6 /64 prefix, or dnsmasq is a proxy (the rack's routers advertise)", c.RouterPrefix)
	}
	if p := c.Subnet6; p.IsValid() {
		switch {
		case c.Proxy || !p.Addr().Is6() || p.Bits() != 64 || p != p.Masked():
			return fmt.Errorf("dnsmasq config: subnet6: %v is not an IPv6 /64 prefix, or dnsmasq is a proxy", p)
		case !strings.HasPrefix(c.BootURL6, "http://[") || strings.ContainsAny(c.BootURL6, ", \n"):
			return fmt.Errorf("dnsmasq config: boot url6: %q is not an http URL on an IPv6 address", c.BootURL6)
		}
	}
	if r := c.Range; r[0].IsValid() || r[1].IsValid() {
		switch {
		case c.Proxy:
			return fmt.Errorf("dnsmasq config: range %s-%s: a proxy hands out no addresses", r[0], r[1])
		case !c.Subnet.Contains(r[0]) || !c.Subnet.Contains(r[1]):
			return fmt.Errorf("range %s-%s is outside %s, the subnet of interface %s", r[0], r[1], c.Subnet, c.Interface)
		case r[1].Less(r[0]):
			return fmt.Errorf("range %s-%s ends before it starts", r[0], r[1])
		case !c.Gateway.Less(r[0]) && !r[1].Less(c.Gateway):
			return fmt.Errorf("range %s-%s holds %s, the address of interface %s", r[0], r[1], c.Gateway, c.Interface)
		}
	}
	for i, h := range c.Hosts {
		if len(h.MAC) != 6 {
			return fmt.Errorf("dnsmasq config: hosts[%d] (%s): mac %v is not an Ethernet address", i, h.Name, h.MAC)
		}
		if u := h.HTTPBootURI; u != "" && (!strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") || strings.ContainsAny(u, ", \n")) {
			return fmt.Errorf("dnsmasq config: hosts[%d] (%s): http boot uri %q is not an http(s) URL without commas or spaces", i, h.Name, u)
		}
		if h.IP6.IsValid() && !c.Subnet6.Contains(h.IP6) {
			return fmt.Errorf("dnsmasq config: hosts[%d] (%s): ip6 %v is outside subnet6 %v", i, h.Name, h.IP6, c.Subnet6)
		}
		if !c.Proxy && !c.Subnet.Contains(h.IP) && (h.IP.IsValid() || !h.IP6.IsValid()) {
			return fmt.Errorf("dnsmasq config: hosts[%d] (%s): ip %v is outside %v", i, h.Name, h.IP, c.Subnet)
		}
	}
	return nil
}

// Render returns the config file's text.
func (c Config) Render() (string, error) {
	if err := c.Validate(); err != nil {
		return "", err
	}
	var b strings.Builder
	line := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	mask := net.IP(net.CIDRMask(c.Subnet.Bits(), 32)).String()
	gw := c.Gateway.String()

	line("# Generated by labctl: one dnsmasq per lab, bound to the lab bridge only.")
	line("interface=%s", c.Interface)
	line("bind-interfaces")
	line("no-resolv")
	line("no-hosts")
	line("user=root")
	line("log-facility=%s", c.LogFile)
	line("log-dhcp")
	line("enable-tftp")
	line("tftp-root=%s", c.TFTPRoot)
	// iPXE announces itself with user class "iPXE"; PXE ROMs and UEFI
	// firmware say which architecture they are in option 93.
	line("dhcp-userclass=set:ipxe,iPXE")
	line("dhcp-match=set:efi64,option:client-arch,7")
	line("dhcp-match=set:efi64,option:client-arch,9")
	if c.Proxy {
		// proxyDHCP: no addresses, only PXE boot menus; port 53 stays free.
		line("port=0")
		line("dhcp-range=%s,proxy,%s", c.Subnet.Masked().Addr(), mask)
		line("pxe-service=tag:!ipxe,x86PC,\"PXE chainload to iPXE\",undionly.kpxe,%s", gw)
		line("pxe-service=tag:!ipxe,X86-64_EFI,\"PXE chainload to iPXE\",ipxe.efi,%s", gw)
		line("pxe-service=tag:ipxe,x86PC,\"iPXE\",%s", c.BootURL)
		line("pxe-service=tag:ipxe,X86-64_EFI,\"iPXE\",%s", c.BootURL)
		return b.String(), nil
	}
	line("domain=%s", c.Domain)
	line("local=/%s/", c.Domain)
	line("dhcp-authoritative")
	line("dhcp-leasefile=%s", c.LeaseFile)
	// Reserved addresses only, unless a pool is given: a machine not in
	// the scenario (or inventory) gets nothing.
	line("dhcp-range=%s,static,%s,1h", c.Subnet.Masked().Addr(), mask)
	if r := c.Range; r[0].IsValid() {
		line("dhcp-range=%s,%s,%s,1h", r[0], r[1], mask)
	}
	line("dhcp-option=option:dns-server,%s", gw)
	line("host-record=boot.%s,%s", c.Domain, gw)
	secureBoot := false
	for _, h := range c.Hosts {
		tag := ""
		if h.SecureBoot {
			tag, secureBoot = "set:secboot,", true // the boot file lines below tell it apart
		}
		if h.IPv6Only() {
			tag += "set:ipv6only," // DHCPv6 boot file URLs go to these hosts only
		}
		var leases, records []string
		if h.IP.IsValid() {
			leases, records = append(leases, h.IP.String()), append(records, h.IP.String())
		}
		if h.IP6.IsValid() {
			leases, records = append(leases, "["+h.IP6.String()+"]"), append(records, h.IP6.String())
		}
		line("dhcp-host=%s,%s%s,%s", h.MAC, tag, strings.Join(leases, ","), h.Name)
		line("host-record=%s.%s,%s", h.Name, c.Domain, strings.Join(records, ","))
	}
	// iPXE waits for ProxyDHCP offers after a DHCP offer (about 3 s) unless
	// its setting no-pxedhcp (option 175.176) says there are none.
	line("dhcp-option=tag:ipxe,175,b0:01:01")
	if c.Subnet6.IsValid() {
		c.renderDHCPv6(line)
	} else if c.RouterPrefix.IsValid() {
		// Router lifetime 0: the machines get an address, not a route.
		line("enable-ra")
		line("dhcp-range=%s,ra-only,64", c.RouterPrefix.Addr())
		line("ra-param=%s,60,0", c.Interface)
	}
	// next-server (siaddr) is the gateway in every case: iPXE scripts use
	// ${next-server} to reach the boot service.
	line("dhcp-boot=tag:ipxe,%s,,%s", c.BootURL, gw)
	efi := "tag:!ipxe,tag:efi64"
	if secureBoot {
		// Exclusive tags: which of two matching dhcp-boot lines dnsmasq
		// picks is not documented.
		line("dhcp-boot=tag:!ipxe,tag:secboot,tag:!http,%s,,%s", ShimFile, gw)
		efi += ",tag:!secboot"
	}
	line("dhcp-boot=%s,ipxe.efi,,%s", efi, gw)
	line("dhcp-boot=tag:!ipxe,tag:!efi64,tag:!http,undionly.kpxe,,%s", gw)
	c.renderHTTPBoot(line)
	return b.String(), nil
}

// renderDHCPv6 hands out the hosts' IPv6 reservations (matched by the MAC
// dnsmasq learns from the neighbour cache, the hosts being on its link) and
// the boot file URL of RFC 5970: iPXE over TFTP to UEFI PXE firmware
// (client architecture 7 in option 61), the boot service's script to iPXE
// (user class iPXE, as over DHCPv4); to IPv6-only hosts only, so that a
// dual-stack host boots by its DHCPv4 boot file as before. iPXE waits for
// DHCPv4 and DHCPv6 both (about 15 s for an answer that never comes), so
// in such a lab an IPv4 host boots sooner with an IP6 reservation too.
// The router advertisements carry the managed flag (ask DHCPv6, which iPXE
// and UEFI firmware need) and the autonomous one (SLAAC, for a guest
// without a DHCPv6 client), and make the gateway (::1) the hosts' default
// router, as the IPv4 gateway is: dracut's IPv6 autoconfiguration
// (ip=auto6) waits for a default route from them, and nothing lies behind
// the gateway either way.
func (c Config) renderDHCPv6(line func(string, ...any)) {
	line("enable-ra")
	line("dhcp-range=%s,static,slaac,64,1h", c.Subnet6.Addr())
	line("ra-param=%s,60,1800", c.Interface)
	line("dhcp-match=set:efi64,option6:61,7")
	line("dhcp-option=tag:ipv6only,tag:!ipxe,tag:efi64,option6:bootfile-url,tftp://[%s]/ipxe.efi", c.Subnet6.Addr().Next())
	line("dhcp-option=tag:ipv6only,tag:ipxe,option6:bootfile-url,%s", c.BootURL6)
	line("dhcp-option=option6:dns-server,[::]")
}

// renderHTTPBoot answers UEFI HTTP boot: firmware that asks with vendor
// class HTTPClient (client architecture 16, not 7 or 9 as PXE) gets its
// host's URL as boot file, and the vendor class echoed back in option 60,
// without which UEFI ignores the offer. The tag per host is set by MAC.
func (c Config) renderHTTPBoot(line func(string, ...any)) {
	var hosts []Host
	for _, h := range c.Hosts {
		if h.HTTPBootURI != "" {
			hosts = append(hosts, h)
		}
	}
	if len(hosts) == 0 {
		return
	}
	line("dhcp-vendorclass=set:http,HTTPClient")
	line("dhcp-option-force=tag:http,60,HTTPClient")
	for i, h := range hosts {
		line("dhcp-mac=set:http%d,%s", i, h.MAC)
		line("dhcp-boot=tag:!ipxe,tag:http,tag:http%d,%s,,%s", i, h.HTTPBootURI, c.Gateway)
	}
}
