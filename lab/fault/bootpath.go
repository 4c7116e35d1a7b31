package fault

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
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
// A boot-service-error is no table: the lab process's boot service answers
// the machines an error status while its outage is set (outage.Switch).

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

// bootServiceProbe connects to the boot service from inside the lab's
// namespace as a machine would, from an address other than the
// gateway's (127.0.0.1): any answer is an answer.
func (env Env) bootServiceProbe(ctx context.Context) error {
	_, err := env.bootServiceStatus(ctx)
	return err
}

// bootServiceStatus asks the boot service for /healthz as bootServiceProbe
// does and returns the status it answered.
func (env Env) bootServiceStatus(ctx context.Context) (int, error) {
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
		return 0, err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	req, _ := http.NewRequest(http.MethodGet, "http://"+env.Lab.BootAddr()+"/healthz", nil)
	if err := req.Write(c); err != nil {
		return 0, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), req)
	if err != nil {
		return 0, fmt.Errorf("no answer to GET /healthz: %w", err)
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// bootServiceError makes the lab process's boot service answer the
// machines an error, and proves it twice: the lab process reports the
// outage in force, and a request from an address other than the
// gateway's, answered 200 before, is answered the status after.
func bootServiceError(ctx context.Context, env Env, f scenario.Fault) error {
	if env.BootOutage == nil {
		return errors.New("the lab's boot service is not served by a lab process: no outage to set")
	}
	want := f.Status
	if want == 0 {
		want = scenario.DefaultBootServiceStatus
	}
	if code, err := env.bootServiceStatus(ctx); err != nil || code != http.StatusOK {
		return fmt.Errorf("before the %s, the boot service at %s answers %d (%v), not 200, so the probe would prove nothing", f.Kind, env.Lab.BootAddr(), code, err)
	}
	st, err := env.BootOutage.Set(ctx, want)
	if err != nil {
		return err
	}
	if st.Status != want {
		return &NotEffectiveError{Fault: f.String(), Reason: fmt.Sprintf("the lab process reports its boot service answering %d", st.Status)}
	}
	if code, err := env.bootServiceStatus(ctx); err != nil || code != want {
		return &NotEffectiveError{Fault: f.String(), Reason: fmt.Sprintf("the boot service answers %d (%v), not %d", code, err, want)}
	}
	return nil
}

func healBootServiceError(ctx context.Context, env Env) error {
	if env.BootOutage == nil {
		return errors.New("the lab's boot service is not served by a lab process: no outage to heal")
	}
	_, err := env.BootOutage.Clear(ctx)
	return unlessLabProcessGone(err) // its boot service, outage and all, is gone with it
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
