package qemu

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"testing"

	"github.com/labctl/labctl/internal/power"
	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/lab/netns"
)

// BenchmarkCreateFiveMachines is labctl's own overhead to define and start
// five machines: bridge, taps, disks, NVRAM, QEMU processes up to the point
// their QMP answers. Guest time is excluded: the machines are destroyed
// (outside the timer) before their firmware gets far.
func BenchmarkCreateFiveMachines(b *testing.B) {
	ctx := context.Background()
	ns := fmt.Sprintf("lt-qbench-%08x", rand.Uint32())
	if err := netns.Create(ctx, ns); err != nil {
		b.Skip(err)
	}
	defer netns.Delete(ctx, ns)
	p := New(slog.New(slog.NewTextHandler(io.Discard, nil)))
	p.Accel = "tcg"
	for i := 0; i < b.N; i++ {
		l := &lab.Lab{Name: "bench", Netns: ns, Dir: b.TempDir(), Network: lab.Network{
			Name: "labbr0", Subnet: netip.MustParsePrefix("10.77.0.0/24"), Gateway: netip.MustParseAddr("10.77.0.1"), Domain: "b.lab"}}
		for j := range 5 {
			fw := lab.BIOS
			if j%2 == 1 {
				fw = lab.UEFI
			}
			l.Machines = append(l.Machines, lab.Machine{Name: fmt.Sprintf("m%d", j), MAC: net.HardwareAddr{0x52, 0x54, 0, 0x77, 1, byte(j)},
				UUID: fmt.Sprintf("7d3c0b1e-0b6a-4d51-9c39-0000000001%02d", j), IP: netip.AddrFrom4([4]byte{10, 77, 0, byte(20 + j)}),
				MemoryMiB: 256, VCPUs: 1, DiskGiB: 1, Firmware: fw, Boot: []power.BootDevice{power.BootNetwork, power.BootDisk}})
		}
		b.StartTimer()
		err := netns.Do(ns, func() error {
			if err := p.CreateNetwork(ctx, l); err != nil {
				return err
			}
			for _, m := range l.Machines {
				if err := p.CreateMachine(ctx, l, m); err != nil {
					return err
				}
			}
			return nil
		})
		b.StopTimer()
		if derr := netns.Do(ns, func() error { return p.Destroy(ctx, l) }); derr != nil {
			b.Fatal(derr)
		}
		if err != nil {
			b.Fatal(err)
		}
	}
}
