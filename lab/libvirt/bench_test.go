package libvirt

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

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
// guest time: each machine is powered off again, untimed, before the next
// starts, so at most one guest runs.
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
		m.MAC[5] = byte(0x20 + i)
		m.UUID = fmt.Sprintf("%s%02d", m.UUID[:34], 20+i)
		machines[i] = m
	}
	var total time.Duration
	for b.Loop() {
		for _, m := range machines {
			start := time.Now()
			if err := p.CreateMachine(ctx, l, m); err != nil {
				b.Fatal(err)
			}
			total += time.Since(start)
			b.StopTimer()
			if err := p.with(l, func(c *golibvirt.Connect) error { return removeDomain(c, m.Name) }); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N)/5, "ms/machine")
}
