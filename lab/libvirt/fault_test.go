package libvirt

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	golibvirt "libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"

	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/lab/netem"
)

// testFaults drives the faults lab/fault asks of a provider on a running
// machine, each read back from libvirt or QEMU beneath it: paused and
// resumed, its link down and up, its frames relayed and let go.
func testFaults(t *testing.T, ctx context.Context, p *Provider, l *lab.Lab, m lab.Machine, dhcp *dhcpWatch) {
	paused := func() bool {
		t.Helper()
		got, err := p.Paused(ctx, l, m.Name)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if err := p.Pause(ctx, l, m.Name); err != nil {
		t.Fatal(err)
	}
	if !paused() {
		t.Error("paused, libvirt says it runs")
	}
	if err := p.Resume(ctx, l, m.Name); err != nil {
		t.Fatal(err)
	}
	if paused() {
		t.Error("resumed, libvirt says it is paused")
	}

	link := func() string {
		t.Helper()
		var state string
		err := p.withDomain(l, m.Name, func(_ *golibvirt.Connect, d *golibvirt.Domain) error {
			s, err := d.GetXMLDesc(0)
			if err != nil {
				return err
			}
			var x libvirtxml.Domain
			if err := x.Unmarshal(s); err != nil {
				return err
			}
			if nic := x.Devices.Interfaces[0]; nic.Link != nil {
				state = nic.Link.State
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return state
	}
	for _, up := range []bool{false, true} {
		if err := p.SetLink(ctx, l, m.Name, up); err != nil {
			t.Fatal(err)
		}
		if got, want := link(), map[bool]string{true: "up", false: "down"}[up]; got != want {
			t.Errorf("link state %q, want %q", got, want)
		}
	}

	// The lab process's relay (lab/netem) between the NIC and the segment:
	// the BIOS machine's DHCP requests (its firmware retries while nothing
	// answers) reach the bridge through it; cleared, QEMU holds none of
	// its chardevs or filters.
	relayIDs := func() string {
		t.Helper()
		var out string
		err := p.withDomain(l, m.Name, func(_ *golibvirt.Connect, d *golibvirt.Domain) error {
			objs, err := qemuMonitor(d, `{"execute":"qom-list","arguments":{"path":"/objects"}}`)
			if err != nil {
				return err
			}
			chardevs, err := qemuMonitor(d, `{"execute":"query-chardev"}`)
			out = strings.Join(regexp.MustCompile(`labctl-link-(in|out)`).FindAllString(objs+chardevs, -1), " ")
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	links := &netem.Links{Lab: l, Attacher: p, Log: testLogger(t)}
	defer links.Close()
	if _, err := links.Set(ctx, m.Name, netem.Shape{Delay: 100 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	if got := relayIDs(); len(strings.Fields(got)) != 4 {
		t.Errorf("QEMU holds %q, want both redirectors and both chardevs", got)
	}
	before := dhcp.count(m.MAC)
	waitFor(t, m.Name+"'s DHCP requests through the relay", time.Minute, func() bool {
		st := links.List()
		return dhcp.count(m.MAC) > before && len(st) == 1 && st[0].Relayed > 0
	}, func() string {
		return fmt.Sprintf("DHCP requests %d (%d before); relay %+v", dhcp.count(m.MAC), before, links.List())
	})
	for i := range 2 { // clearing twice is no error
		if _, err := links.Clear(ctx, m.Name); err != nil {
			t.Fatalf("clear %d: %v", i, err)
		}
	}
	if got := relayIDs(); got != "" {
		t.Errorf("QEMU still holds %q after the relay was cleared", got)
	}
}
