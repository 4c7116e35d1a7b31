package fault

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/lab/netns"
	"github.com/labctl/labctl/lab/scenario"
)

// Boot-path faults are a table of their own in the inet family of the
// lab's namespace (nftables), on the input hook of the gateway where the
// boot service and dnsmasq listen:
//   - boot-service-down rejects, with a TCP reset, connections to the
//     boot service's port from anywhere but the gateway itself: the
//     machines are refused while the lab's own clients (the machine log
//     the watcher and the checks read, the API on its own port) are not;
//   - dhcp-down drops DHCP and TFTP, so dnsmasq is never asked.
// Deleting the table heals either; deleting the namespace takes it along.

// bootPathRules is the rule of a boot-path fault.
func bootPathRules(l *lab.Lab, kind string) string {
	if kind == scenario.FaultDHCPDown {
		return "udp dport { 67, 69 } counter drop"
	}
	return fmt.Sprintf("ip daddr %s ip saddr != %[1]s tcp dport %d counter reject with tcp reset", l.Network.Gateway, lab.BootPort)
}

// bootPath applies a boot-path fault and proves it: the probe that its
// service answered before (a connection to the boot service from an
// address other than the gateway's, or a TFTP request) gets a refusal or
// no answer after.
func bootPath(ctx context.Context, env Env, id string, f scenario.Fault) error {
	l := env.Lab
	probe, what := env.bootServiceProbe, "the boot service at "+l.BootAddr()
	if f.Kind == scenario.FaultDHCPDown {
		probe, what = env.tftpProbe, "dnsmasq's TFTP at "+net.JoinHostPort(l.Network.Gateway.String(), "69")
	}
	if err := probe(ctx); err != nil {
		return fmt.Errorf("before the %s, %s does not answer, so the probe would prove nothing: %w", f.Kind, what, err)
	}
	script := fmt.Sprintf("table inet %s {\n  chain input { type filter hook input priority filter - 10; policy accept;\n    %s\n  }\n}\n",
		tableOf(id), bootPathRules(l, f.Kind))
	if _, err := nft(ctx, l, script, "-f", "-"); err != nil {
		return err
	}
	if err := probe(ctx); err == nil {
		return &NotEffectiveError{Fault: f.Kind, Reason: what + " still answers"}
	}
	return nil
}

func unBootPath(ctx context.Context, l *lab.Lab, id string) error {
	if err := haveNft(); err != nil {
		return err
	}
	table := tableOf(id)
	if _, err := nft(ctx, l, "", "list", "table", "inet", table); err != nil {
		return nil // never made, or healed already
	}
	_, err := nft(ctx, l, "", "delete", "table", "inet", table)
	return err
}

// bootServiceProbe connects to the boot service from inside the lab's
// namespace as a machine would, from an address other than the
// gateway's (127.0.0.1), and sends a request: any answer is an answer.
func (env Env) bootServiceProbe(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, env.probe())
	defer cancel()
	var c net.Conn
	err := netns.Do(env.Lab.Netns, func() error {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}}
		var err error
		c, err = d.DialContext(ctx, "tcp", env.Lab.BootAddr())
		return err
	})
	if err != nil {
		return err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	if _, err := fmt.Fprintf(c, "GET /healthz HTTP/1.0\r\nHost: %s\r\n\r\n", env.Lab.BootAddr()); err != nil {
		return err
	}
	if _, err := c.Read(make([]byte, 1)); err != nil {
		return fmt.Errorf("no answer to GET /healthz: %w", err)
	}
	return nil
}

// tftpProbe sends dnsmasq a TFTP read request for a file that is not
// there, from inside the lab's namespace: its error packet is an answer.
func (env Env) tftpProbe(ctx context.Context) error {
	pc, err := netns.ListenPacket(env.Lab.Netns, "udp4", net.JoinHostPort(env.Lab.Network.Gateway.String(), "0"))
	if err != nil {
		return err
	}
	defer pc.Close()
	to := net.UDPAddrFromAddrPort(netip.AddrPortFrom(env.Lab.Network.Gateway, 69))
	rrq := append([]byte{0, 1}, "labctl-fault-probe-"+strconv.FormatInt(time.Now().UnixNano(), 36)+"\x00octet\x00"...)
	if _, err := pc.WriteTo(rrq, to); err != nil {
		return fmt.Errorf("send a TFTP request: %w", err)
	}
	pc.SetReadDeadline(time.Now().Add(env.probe()))
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < env.probe() {
		pc.SetReadDeadline(dl)
	}
	buf := make([]byte, 516)
	n, _, err := pc.ReadFrom(buf)
	if err != nil {
		return fmt.Errorf("no answer to a TFTP request: %w", err)
	}
	if n < 4 || buf[0] != 0 || (buf[1] != 3 && buf[1] != 5) {
		return errors.New("an answer to a TFTP request that is neither data nor an error")
	}
	return nil
}
