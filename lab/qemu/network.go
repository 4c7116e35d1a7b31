package qemu

import (
	"context"
	"fmt"
	"os/exec"
	"strings"

	"github.com/labctl/labctl/lab"
)

// CreateNetwork adds the lab bridge with the gateway address on it.
func (p *Provider) CreateNetwork(ctx context.Context, l *lab.Lab) error {
	n := l.Network
	if len(n.Name) == 0 || len(n.Name) > 15 {
		return fmt.Errorf("network %q: name must be 1 to 15 bytes", n.Name)
	}
	if !n.Subnet.Contains(n.Gateway) {
		return fmt.Errorf("network %s: gateway %v is outside %v", n.Name, n.Gateway, n.Subnet)
	}
	if !linkExists(ctx, n.Name) {
		if err := ip(ctx, "link", "add", n.Name, "type", "bridge"); err != nil {
			return fmt.Errorf("create bridge %s: %w", n.Name, err)
		}
	}
	addr := fmt.Sprintf("%s/%d", n.Gateway, n.Subnet.Bits())
	if err := ip(ctx, "addr", "replace", addr, "dev", n.Name); err != nil {
		return fmt.Errorf("bridge %s: address %s: %w", n.Name, addr, err)
	}
	if err := ip(ctx, "link", "set", n.Name, "up"); err != nil {
		return fmt.Errorf("bridge %s: %w", n.Name, err)
	}
	return nil
}

func deleteBridge(ctx context.Context, l *lab.Lab) error {
	if !linkExists(ctx, l.Network.Name) {
		return nil
	}
	if err := ip(ctx, "link", "del", l.Network.Name); err != nil {
		return fmt.Errorf("delete bridge %s: %w", l.Network.Name, err)
	}
	return nil
}

// addTap gives the machine its tap on the lab bridge.
func addTap(ctx context.Context, l *lab.Lab, machine string) error {
	tap := tapName(machine)
	if !linkExists(ctx, tap) {
		if err := ip(ctx, "tuntap", "add", "dev", tap, "mode", "tap"); err != nil {
			return fmt.Errorf("machine %s: create tap %s: %w", machine, tap, err)
		}
	}
	if err := ip(ctx, "link", "set", tap, "master", l.Network.Name, "up"); err != nil {
		return fmt.Errorf("machine %s: attach tap %s to %s: %w", machine, tap, l.Network.Name, err)
	}
	return nil
}

func deleteTap(ctx context.Context, machine string) error {
	tap := tapName(machine)
	if !linkExists(ctx, tap) {
		return nil
	}
	if err := ip(ctx, "link", "del", tap); err != nil {
		return fmt.Errorf("machine %s: delete tap %s: %w", machine, tap, err)
	}
	return nil
}

// tapName is the machine's tap device: at most 15 bytes, stable per name.
func tapName(machine string) string {
	h := uint32(2166136261) // FNV-1a
	for i := 0; i < len(machine); i++ {
		h = (h ^ uint32(machine[i])) * 16777619
	}
	return fmt.Sprintf("tap%08x", h)
}

func linkExists(ctx context.Context, name string) bool {
	return exec.CommandContext(ctx, "ip", "link", "show", "dev", name).Run() == nil
}

func ip(ctx context.Context, argv ...string) error {
	out, err := exec.CommandContext(ctx, "ip", argv...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(argv, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
