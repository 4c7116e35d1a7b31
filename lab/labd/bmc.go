package labd

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/labctl/labctl/bmc"
	"github.com/labctl/labctl/bmc/inventory"
	"github.com/labctl/labctl/bmc/virtual"
	"github.com/labctl/labctl/lab"
)

// Virtual BMCs of a lab, all on the lab gateway inside its namespace: one
// IPMI-over-LAN endpoint per machine, on UDP port IPMIBasePort plus the
// machine's index in the scenario, and one Redfish service for the lab on
// RedfishPort, where each machine is /redfish/v1/Systems/{uuid}.
const (
	IPMIBasePort = 6230
	RedfishPort  = 8443
	BMCUsername  = "admin"
)

// Files of the virtual BMCs under the lab's directory: the password
// (random per lab, mode 0600), the Redfish CA that clients verify with, and
// the Redfish server certificate chain.
func BMCPasswordFile(dir string) string { return filepath.Join(dir, "bmc-password") }
func BMCCAFile(dir string) string       { return filepath.Join(dir, "bmc-ca.pem") }
func BMCCertFile(dir string) string     { return filepath.Join(dir, "bmc-cert.pem") }

// IPMIAddr is the IPMI endpoint (host:port) of the lab's i-th machine.
func IPMIAddr(l *lab.Lab, i int) string {
	return netip.AddrPortFrom(l.Network.Gateway, uint16(IPMIBasePort+i)).String()
}

// RedfishURL is the base URL of the lab's Redfish service.
func RedfishURL(l *lab.Lab) string {
	return "https://" + netip.AddrPortFrom(l.Network.Gateway, RedfishPort).String()
}

// BMCProvider is what a provider needs for its machines to get virtual BMCs.
type BMCProvider interface {
	lab.PowerController
	lab.BootDeviceSetter
}

// startBMCs writes the BMC password and certificates into dir and serves
// every machine's virtual BMCs until ctx ends; wg waits for the servers. It
// must run inside the lab's namespace: that is where the sockets are made.
// A server that fails later is reported through fail.
func startBMCs(ctx context.Context, wg *sync.WaitGroup, dir string, l *lab.Lab, prov BMCProvider, log *slog.Logger, fail func(error)) error {
	cred, cert, err := writeBMCSecrets(dir, l)
	if err != nil {
		return err
	}
	systems := make([]*virtual.System, len(l.Machines))
	for i, m := range l.Machines {
		sys := &virtual.System{Name: m.Name, UUID: m.UUID, Machine: virtual.LabMachine{Provider: prov, Lab: l, Name: m.Name}}
		systems[i] = sys
		addr := IPMIAddr(l, i)
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return fmt.Errorf("virtual BMC of %s: ipmi on %s: %w", m.Name, addr, err)
		}
		wg.Go(func() {
			if err := virtual.ServeIPMI(ctx, pc, sys, cred); err != nil && ctx.Err() == nil {
				fail(fmt.Errorf("virtual BMC of %s: ipmi on %s: %w", sys.Name, addr, err))
			}
		})
	}
	addr := netip.AddrPortFrom(l.Network.Gateway, RedfishPort).String()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("virtual BMCs: redfish on %s: %w", addr, err)
	}
	wg.Go(func() {
		if err := virtual.ServeRedfish(ctx, ln, cert, systems, cred); err != nil && ctx.Err() == nil {
			fail(fmt.Errorf("virtual BMCs: redfish on %s: %w", addr, err))
		}
	})
	log.Info("virtual BMCs up", "ipmi_ports", fmt.Sprintf("%d-%d", IPMIBasePort, IPMIBasePort+len(l.Machines)-1),
		"redfish", RedfishURL(l), "username", cred.Username, "password_file", BMCPasswordFile(dir), "ca_file", BMCCAFile(dir))
	return nil
}

// writeBMCSecrets makes a fresh random password and a certificate for the
// gateway address, and writes the password (0600), the CA and the server's
// certificate chain into dir. The server key stays in the lab process.
func writeBMCSecrets(dir string, l *lab.Lab) (virtual.Credentials, tls.Certificate, error) {
	raw := make([]byte, 15)
	if _, err := rand.Read(raw); err != nil {
		return virtual.Credentials{}, tls.Certificate{}, fmt.Errorf("BMC password: %w", err)
	}
	// IPMI passwords are at most 20 bytes: 15 random bytes are 20 base64 characters.
	pw := base64.RawURLEncoding.EncodeToString(raw)
	if err := writeFile(BMCPasswordFile(dir), []byte(pw+"\n"), 0o600); err != nil {
		return virtual.Credentials{}, tls.Certificate{}, err
	}
	cert, caPEM, err := virtual.NewCertificate(l.Network.Gateway.String())
	if err != nil {
		return virtual.Credentials{}, tls.Certificate{}, fmt.Errorf("BMC certificate: %w", err)
	}
	var chain []byte
	for _, der := range cert.Certificate {
		chain = append(chain, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	if err := writeFile(BMCCAFile(dir), caPEM, 0o644); err != nil {
		return virtual.Credentials{}, tls.Certificate{}, err
	}
	if err := writeFile(BMCCertFile(dir), chain, 0o644); err != nil {
		return virtual.Credentials{}, tls.Certificate{}, err
	}
	return virtual.Credentials{Username: BMCUsername, Password: pw}, cert, nil
}

// writeFile replaces path with data at mode perm (also when path exists
// with a wider mode).
func writeFile(path string, data []byte, perm os.FileMode) error {
	os.Remove(path)
	if err := os.WriteFile(path, data, perm); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// BMCInventory is the lab's machines with their virtual BMC endpoints, as
// an inventory for bmc and reprovision; protocols picks the endpoints and
// their order (none: IPMI, then Redfish). Clients must dial inside l.Netns.
func BMCInventory(l *lab.Lab, protocols ...bmc.Protocol) []inventory.Machine {
	if len(protocols) == 0 {
		protocols = []bmc.Protocol{bmc.IPMI, bmc.Redfish}
	}
	ms := make([]inventory.Machine, len(l.Machines))
	for i, m := range l.Machines {
		ms[i] = inventory.Machine{Name: m.Name, MAC: m.MAC, UUID: m.UUID}
		for _, p := range protocols {
			ep := bmc.Endpoint{Protocol: p, Username: BMCUsername, PasswordFile: BMCPasswordFile(l.Dir), Timeout: 30 * time.Second}
			switch p {
			case bmc.IPMI:
				ep.Address = IPMIAddr(l, i)
			case bmc.Redfish:
				ep.Address, ep.CAFile, ep.SystemUUID = RedfishURL(l), BMCCAFile(l.Dir), m.UUID
			}
			ms[i].BMC = append(ms[i].BMC, ep)
		}
	}
	return ms
}
