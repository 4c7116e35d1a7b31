package redfish_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/labctl/labctl/bmc"
	"github.com/labctl/labctl/bmc/virtual"
	"github.com/labctl/labctl/bmc/virtual/virtualtest"
	"github.com/labctl/labctl/internal/power"
)

// UEFI HTTP boot through Redfish, as real BMCs offer it: the client asks
// for UefiHttp with an HttpBootUri, the virtual BMC hands both to the
// machine, and the next boot uses it once. A BIOS machine's BMC does not
// list UefiHttp, and the client refuses before sending anything.
func TestUefiHttpBoot(t *testing.T) {
	ctx := context.Background()
	const uri = "http://10.77.30.1:8080/efi/52-54-00-77-30-13/ipxe.efi"

	m := virtualtest.NewVM()
	url, ca := serve(t, &virtual.System{Name: "node1", UUID: uuid, Machine: m, UEFI: true})
	c := client(t, bmc.Endpoint{Address: url, CAFile: ca, Auth: bmc.AuthSession}, password)
	if err := c.SetBootDevice(ctx, power.BootHTTP, power.BootOptions{URI: uri}); err != nil {
		t.Fatal(err)
	}
	if d, once := m.NextBoot(); d != power.BootHTTP || !once || m.HTTPBootURI() != uri {
		t.Errorf("next boot %s once=%v uri=%q, want http once with %s", d, once, m.HTTPBootURI(), uri)
	}
	if err := c.SetPower(ctx, power.ActionOn); err != nil {
		t.Fatal(err)
	}
	if b := m.Boots(); len(b) != 1 || b[0] != power.BootHTTP {
		t.Errorf("boots %v, want one by http", b)
	}
	if d, _ := m.NextBoot(); d != power.BootDisk {
		t.Errorf("after the HTTP boot the next is %s, want disk again (once)", d)
	}
	// With no URI, the one DHCP offers: the client clears the old one.
	if err := c.SetBootDevice(ctx, power.BootHTTP, power.BootOptions{Persistent: true}); err != nil {
		t.Fatal(err)
	}
	if d, once := m.NextBoot(); d != power.BootHTTP || once || m.HTTPBootURI() != "" {
		t.Errorf("next boot %s once=%v uri=%q, want http persistent without a URI", d, once, m.HTTPBootURI())
	}

	// A lab machine's BMC honours only the URI its DHCP offers, and says so.
	lab := virtualtest.NewVM()
	url, ca = serve(t, &virtual.System{Name: "node1", UUID: uuid, Machine: lab, UEFI: true, HTTPBootURI: uri})
	c = client(t, bmc.Endpoint{Address: url, CAFile: ca, Auth: bmc.AuthSession}, password)
	err := c.SetBootDevice(ctx, power.BootHTTP, power.BootOptions{URI: "http://192.0.2.1/other.efi"})
	if !errors.Is(err, bmc.ErrUnsupported) || !strings.Contains(err.Error(), `Boot/HttpBootUri: "http://192.0.2.1/other.efi": node1's firmware takes its URI from DHCP, which offers `+uri+" only") {
		t.Errorf("another URI: %v, want it refused naming the one DHCP offers", err)
	}
	if err := c.SetBootDevice(ctx, power.BootHTTP, power.BootOptions{URI: uri}); err != nil {
		t.Errorf("the URI DHCP offers: %v", err)
	}

	bios := virtualtest.NewVM()
	url, ca = serve(t, &virtual.System{Name: "node1", UUID: uuid, Machine: bios})
	c = client(t, bmc.Endpoint{Address: url, CAFile: ca, Auth: bmc.AuthSession}, password)
	err = c.SetBootDevice(ctx, power.BootHTTP, power.BootOptions{URI: uri})
	if !errors.Is(err, bmc.ErrUnsupported) || !strings.Contains(err.Error(), "BootSourceOverrideTarget UefiHttp is not among the allowed None, Pxe, Hdd") {
		t.Errorf("UefiHttp on a BIOS machine: %v, want it refused naming the allowed targets", err)
	}
	if d, _ := bios.NextBoot(); d != power.BootDisk {
		t.Errorf("the refused request changed the next boot to %s", d)
	}
}
