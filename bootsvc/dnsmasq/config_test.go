package dnsmasq

import (
	"flag"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

func mac(s string) net.HardwareAddr {
	m, err := net.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return m
}

func labConfig() Config {
	return Config{
		Interface: "labbr0",
		Subnet:    netip.MustParsePrefix("10.77.0.0/24"),
		Gateway:   netip.MustParseAddr("10.77.0.1"),
		Domain:    "pxe-smoke.lab",
		Hosts: []Host{
			{Name: "bios1", MAC: mac("52:54:00:77:00:11"), IP: netip.MustParseAddr("10.77.0.11")},
			{Name: "uefi1", MAC: mac("52:54:00:77:00:12"), IP: netip.MustParseAddr("10.77.0.12"),
				HTTPBootURI: "http://10.77.0.1:8080/efi/52-54-00-77-00-12/ipxe.efi"},
		},
		TFTPRoot:  "/var/lib/labctl/labs/pxe-smoke/tftp",
		BootURL:   "http://10.77.0.1:8080/boot.ipxe",
		LogFile:   "/var/lib/labctl/labs/pxe-smoke/dnsmasq.log",
		LeaseFile: "/var/lib/labctl/labs/pxe-smoke/dnsmasq.leases",

		RouterPrefix: netip.MustParsePrefix("fd6c:6162:a4d::/64"),
	}
}

// ipv6Config is labConfig with an IPv6 subnet: bios1 IPv6-only, uefi1
// dual stack.
func ipv6Config() Config {
	c := labConfig()
	c.Subnet6 = netip.MustParsePrefix("fd00:77::/64")
	c.RouterPrefix = c.Subnet6
	c.BootURL6 = "http://[fd00:77::1]:8080/boot.ipxe"
	c.Hosts[0].IP, c.Hosts[0].IP6 = netip.Addr{}, netip.MustParseAddr("fd00:77::11")
	c.Hosts[1].IP6 = netip.MustParseAddr("fd00:77::12")
	return c
}

func TestRenderGolden(t *testing.T) {
	proxy := labConfig()
	proxy.Proxy, proxy.Domain, proxy.Hosts, proxy.RouterPrefix = true, "", nil, netip.Prefix{}
	tests := []struct {
		name   string
		config Config
	}{
		{"lab", labConfig()},
		{"proxy", proxy},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.config.Render()
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", tt.name+".conf")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Errorf("Render() differs from %s (run with -update to accept):\n%s", golden, got)
			}
		})
	}
}

func TestRenderLines(t *testing.T) {
	proxy := labConfig()
	proxy.Proxy, proxy.RouterPrefix = true, netip.Prefix{}
	noRA := labConfig()
	noRA.RouterPrefix = netip.Prefix{}
	secboot := labConfig()
	secboot.Hosts[1].SecureBoot = true
	noHTTP := labConfig()
	noHTTP.Hosts[1].HTTPBootURI = ""
	v6 := ipv6Config()
	tests := []struct {
		name    string
		config  Config
		want    []string
		notWant []string
	}{
		{"binds to the bridge only", labConfig(), []string{"interface=labbr0", "bind-interfaces"}, nil},
		{"reservations", labConfig(), []string{"dhcp-host=52:54:00:77:00:11,10.77.0.11,bios1", "dhcp-range=10.77.0.0,static,255.255.255.0,1h"}, nil},
		{"dns for machines and boot service", labConfig(), []string{"host-record=boot.pxe-smoke.lab,10.77.0.1", "host-record=uefi1.pxe-smoke.lab,10.77.0.12"}, nil},
		{"boot file by architecture", labConfig(), []string{
			"dhcp-boot=tag:ipxe,http://10.77.0.1:8080/boot.ipxe,,10.77.0.1",
			"dhcp-boot=tag:!ipxe,tag:efi64,ipxe.efi,,10.77.0.1",
			"dhcp-boot=tag:!ipxe,tag:!efi64,tag:!http,undionly.kpxe,,10.77.0.1",
		}, nil},
		{"Secure Boot host gets the signed shim, the others iPXE", secboot, []string{
			"dhcp-host=52:54:00:77:00:11,10.77.0.11,bios1",
			"dhcp-host=52:54:00:77:00:12,set:secboot,10.77.0.12,uefi1",
			"dhcp-boot=tag:!ipxe,tag:secboot,tag:!http,shimx64.efi,,10.77.0.1",
			"dhcp-boot=tag:!ipxe,tag:efi64,tag:!secboot,ipxe.efi,,10.77.0.1",
			"dhcp-boot=tag:!ipxe,tag:!efi64,tag:!http,undionly.kpxe,,10.77.0.1",
		}, nil},
		{"no Secure Boot tag without a Secure Boot host", labConfig(), nil, []string{"secboot", "shimx64"}},
		{"uefi http boot: the host's URL to HTTPClient, the vendor class echoed", labConfig(), []string{
			"dhcp-vendorclass=set:http,HTTPClient",
			"dhcp-option-force=tag:http,60,HTTPClient",
			"dhcp-mac=set:http0,52:54:00:77:00:12",
			"dhcp-boot=tag:!ipxe,tag:http,tag:http0,http://10.77.0.1:8080/efi/52-54-00-77-00-12/ipxe.efi,,10.77.0.1",
		}, []string{"http1"}},
		{"no http boot without a host's URL", noHTTP, nil, []string{"HTTPClient", "tag:http"}},
		{"iPXE told not to wait for ProxyDHCP", labConfig(), []string{"dhcp-option=tag:ipxe,175,b0:01:01"}, nil},
		{"router advertisements: prefix, no default route", labConfig(), []string{"enable-ra", "dhcp-range=fd6c:6162:a4d::,ra-only,64", "ra-param=labbr0,60,0"}, nil},
		{"no router advertisements without a prefix", noRA, nil, []string{"enable-ra", "ra-only", "ra-param"}},
		{"IPv6-only host: a DHCPv6 reservation, no IPv4 one", v6, []string{
			"dhcp-host=52:54:00:77:00:11,set:ipv6only,[fd00:77::11],bios1",
			"host-record=bios1.pxe-smoke.lab,fd00:77::11",
		}, nil},
		{"dual-stack host: both reservations", v6, []string{
			"dhcp-host=52:54:00:77:00:12,10.77.0.12,[fd00:77::12],uefi1",
			"host-record=uefi1.pxe-smoke.lab,10.77.0.12,fd00:77::12",
		}, nil},
		{"DHCPv6: reservations, managed and autonomous RA, no route", v6, []string{
			"enable-ra", "dhcp-range=fd00:77::,static,slaac,64,1h", "ra-param=labbr0,60,1800",
		}, []string{"ra-only"}},
		{"DHCPv6 boot file URL: iPXE over TFTP to UEFI PXE, the boot script to iPXE", v6, []string{
			"dhcp-match=set:efi64,option6:61,7",
			"dhcp-option=tag:ipv6only,tag:!ipxe,tag:efi64,option6:bootfile-url,tftp://[fd00:77::1]/ipxe.efi",
			"dhcp-option=tag:ipv6only,tag:ipxe,option6:bootfile-url,http://[fd00:77::1]:8080/boot.ipxe",
		}, nil},
		{"no DHCPv6 without an IPv6 subnet", labConfig(), nil, []string{"option6:", "static,slaac"}},
		{"proxy hands out no addresses", proxy, []string{"dhcp-range=10.77.0.0,proxy,255.255.255.0", "port=0"}, []string{"dhcp-host=", "static", "dhcp-authoritative", "175,b0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.config.Render()
			if err != nil {
				t.Fatal(err)
			}
			lines := map[string]bool{}
			for _, l := range strings.Split(got, "\n") {
				lines[l] = true
			}
			for _, w := range tt.want {
				if !lines[w] {
					t.Errorf("missing line %q in:\n%s", w, got)
				}
			}
			for _, nw := range tt.notWant {
				if strings.Contains(got, nw) {
					t.Errorf("unexpected %q in:\n%s", nw, got)
				}
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Config)
		field  string
	}{
		{"no interface", func(c *Config) { c.Interface = "" }, "interface"},
		{"gateway outside", func(c *Config) { c.Gateway = netip.MustParseAddr("10.78.0.1") }, "gateway"},
		{"host outside", func(c *Config) { c.Hosts[1].IP = netip.MustParseAddr("192.0.2.1") }, "hosts[1] (uefi1): ip"},
		{"bad mac", func(c *Config) { c.Hosts[0].MAC = nil }, "hosts[0] (bios1): mac"},
		{"comma in url", func(c *Config) { c.BootURL = "http://a,b/" }, "boot url"},
		{"http boot uri not http", func(c *Config) { c.Hosts[1].HTTPBootURI = "tftp://10.77.0.1/ipxe.efi" }, `hosts[1] (uefi1): http boot uri "tftp://10.77.0.1/ipxe.efi"`},
		{"not http", func(c *Config) { c.BootURL = "tftp://x/boot.ipxe" }, "boot url"},
		{"no tftp root", func(c *Config) { c.TFTPRoot = "" }, "tftp root"},
		{"comma in a path", func(c *Config) { c.TFTPRoot = "/tmp/a,b/tftp" }, `under "/tmp/a,b/tftp": a path with a comma`},
		{"no domain", func(c *Config) { c.Domain = "" }, "domain"},
		{"router prefix not IPv6", func(c *Config) { c.RouterPrefix = netip.MustParsePrefix("10.78.0.0/24") }, "router prefix"},
		{"router prefix not a /64", func(c *Config) { c.RouterPrefix = netip.MustParsePrefix("fd6c:6162:a4d::/48") }, "router prefix"},
		{"router prefix with host bits", func(c *Config) { c.RouterPrefix = netip.MustParsePrefix("fd6c:6162:a4d::1/64") }, "router prefix"},
		{"router prefix on a proxy", func(c *Config) { c.Proxy = true }, "router prefix"},
		{"host with no address", func(c *Config) { c.Hosts[0].IP6 = netip.Addr{} }, "hosts[0] (bios1): ip invalid IP is outside"},
		{"ip6 outside subnet6", func(c *Config) { c.Hosts[1].IP6 = netip.MustParseAddr("fd00:78::12") }, "hosts[1] (uefi1): ip6 fd00:78::12 is outside subnet6 fd00:77::/64"},
		{"subnet6 not a /64", func(c *Config) { c.Subnet6 = netip.MustParsePrefix("fd00:77::/56") }, "subnet6: fd00:77::/56 is not an IPv6 /64 prefix"},
		{"boot url6 not on IPv6", func(c *Config) { c.BootURL6 = "http://10.77.0.1:8080/boot.ipxe" }, `boot url6: "http://10.77.0.1:8080/boot.ipxe"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ipv6Config()
			tt.modify(&c)
			_, err := c.Render()
			if err == nil || !strings.Contains(err.Error(), tt.field) {
				t.Fatalf("err = %v, want one naming %q", err, tt.field)
			}
		})
	}
}
