package libvirt

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"testing"

	golibvirt "libvirt.org/go/libvirt"

	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/lab/vm"
)

// BenchmarkDaemonStart: from nothing to a private libvirtd (in the lab's
// namespace and its own mount namespace) that has QEMU's capabilities and
// can define domains.
func BenchmarkDaemonStart(b *testing.B) {
	l := newTestLab(b)
	p := New(slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx := context.Background()
	d := p.Daemon(l)
	for b.Loop() {
		if err := d.Start(ctx); err != nil {
			b.Fatal(err)
		}
		err := p.with(l, func(c *golibvirt.Connect) error {
			_, err := c.GetDomainCapabilities("", "x86_64", "", "qemu", 0)
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
		d.SaveCapabilities()
		b.StopTimer()
		if err := d.Stop(ctx); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

// BenchmarkCreateFiveMachines: labctl's overhead to define and start five
// machines (disk, NVRAM, define, QEMU process up and running), excluding
// guest time: after each iteration the five are removed, untimed. one-by-one
// is CreateMachine five times (what the lab process did before), at-once is
// CreateMachines (what it does now).
func BenchmarkCreateFiveMachines(b *testing.B) {
	l := newTestLab(b)
	p := New(slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx := context.Background()
	if err := p.CreateNetwork(ctx, l); err != nil {
		b.Fatal(err)
	}
	p.Accel, _ = vm.ProbeAccel(ctx, "qemu-system-x86_64", "") // the lab process probes once per lab, not per machine
	machines := make([]lab.Machine, 5)
	for i := range machines {
		m := l.Machines[i%2]
		m.Name = fmt.Sprintf("bench%d", i)
		m.MAC = slices.Clone(m.MAC)
		m.MAC[5] = byte(0x20 + i)
		m.UUID = fmt.Sprintf("%s%02d", m.UUID[:34], 20+i)
		machines[i] = m
	}
	for _, mode := range []struct {
		name   string
		create func() error
	}{
		{"one-by-one", func() error {
			for _, m := range machines {
				if err := p.CreateMachine(ctx, l, m); err != nil {
					return err
				}
			}
			return nil
		}},
		{"at-once", func() error { return p.CreateMachines(ctx, l, machines) }},
	} {
		b.Run(mode.name, func(b *testing.B) {
			for b.Loop() {
				if err := mode.create(); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				for _, m := range machines {
					if err := p.removeMachine(l, m.Name); err != nil {
						b.Fatal(err)
					}
				}
				b.StartTimer()
			}
		})
	}
}
