package libvirt

import (
	"context"
	"strings"
	"testing"
	"time"

	golibvirt "libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"

	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/lab/vm"
)

// testFaults drives the faults lab/fault asks of a provider on a running
// machine, each read back from libvirt or QEMU beneath it: paused and
// resumed, its link down and up, its frames delayed and let go.
func testFaults(t *testing.T, ctx context.Context, p *Provider, l *lab.Lab, m lab.Machine) {
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

	interval := func() (string, error) {
		var out string
		err := p.withDomain(l, m.Name, func(_ *golibvirt.Connect, d *golibvirt.Domain) error {
			var err error
			out, err = qemuMonitor(d, `{"execute":"qom-get","arguments":{"path":"/objects/`+vm.DelayFilter+`","property":"interval"}}`)
			return err
		})
		return out, err
	}
	if err := p.SetDelay(ctx, l, m.Name, 150*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if out, err := interval(); err != nil || !strings.Contains(out, `"return":150000`) {
		t.Fatalf("the filter's interval: %s, %v; want 150000 µs", out, err)
	}
	for i := range 2 { // taking it off twice is no error
		if err := p.SetDelay(ctx, l, m.Name, 0); err != nil {
			t.Fatalf("off %d: %v", i, err)
		}
	}
	if out, err := interval(); err == nil {
		t.Fatalf("the filter is still there after the delay was taken off: %s", out)
	}
}
