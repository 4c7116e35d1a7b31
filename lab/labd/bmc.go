package labd

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/labctl/labctl/bmc/virtual"
	"github.com/labctl/labctl/internal/sockapi"
	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/lab/pki"
)

// startBMCs writes the BMC password into the lab directory and serves
// every machine's virtual BMCs until ctx ends; wg waits for the servers. It
// must run inside the lab's namespace: that is where the sockets are made.
// A server that fails later is reported through fail.
func startBMCs(ctx context.Context, wg *sync.WaitGroup, l *lab.Lab, prov lab.PowerDriver, log *slog.Logger, fail func(error)) error {
	cred, cert, err := writeBMCSecrets(l)
	if err != nil {
		return err
	}
	// The lab's Redfish service serves the machines with a standard BMC; a
	// machine whose BMC has a quirk profile gets a service of its own.
	services := map[string][]*virtual.System{}
	var all []*virtual.System
	for i, m := range l.Machines {
		q, err := virtual.Profile(m.BMCProfile)
		if err != nil {
			return fmt.Errorf("virtual BMC of %s: %w", m.Name, err)
		}
		sys := &virtual.System{Name: m.Name, UUID: m.UUID, Machine: lab.MachinePower(prov, l, m.Name),
			Quirks: q, UEFI: m.Firmware == lab.UEFI}
		if sys.UEFI {
			sys.HTTPBootURI = l.HTTPBootURI(m)
		}
		all = append(all, sys)
		if m.Speaks(lab.ProtocolRedfish) {
			raddr := l.MachineRedfishAddr(i)
			services[raddr] = append(services[raddr], sys)
		}
		if !m.Speaks(lab.ProtocolIPMI) {
			continue // a Redfish-only BMC, as a simulated rack mixes them
		}
		addr := l.IPMIAddr(i)
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
	for addr, systems := range services {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("virtual BMCs: redfish on %s: %w", addr, err)
		}
		wg.Go(func() {
			if err := virtual.ServeRedfish(ctx, ln, cert, systems, cred); err != nil && ctx.Err() == nil {
				fail(fmt.Errorf("virtual BMCs: redfish on %s: %w", addr, err))
			}
		})
	}
	if err := serveFaultAPI(ctx, wg, l, all, fail); err != nil {
		return err
	}
	log.Info("virtual BMCs up", "ipmi_ports", fmt.Sprintf("%d-%d", lab.IPMIBasePort, lab.IPMIBasePort+len(l.Machines)-1),
		"redfish", l.RedfishURL(), "username", cred.Username, "password_file", l.BMCPasswordFile(), "ca_file", pki.CAFile(l.PKIDir()))
	return nil
}

// serveFaultAPI serves the virtual BMCs' fault API on the lab's socket
// until ctx ends.
func serveFaultAPI(ctx context.Context, wg *sync.WaitGroup, l *lab.Lab, systems []*virtual.System, fail func(error)) error {
	return serveSocket(ctx, wg, l.BMCFaultSocket(), virtual.NewFaultHandler(systems), "virtual BMCs: fault API", fail)
}

// serveSocket serves h on the Unix socket sock (mode 0600: the lab's
// owner only) until ctx ends, and removes it then.
func serveSocket(ctx context.Context, wg *sync.WaitGroup, sock string, h http.Handler, what string, fail func(error)) error {
	os.Remove(sock) // a crashed lab process's
	ln, err := sockapi.Listen(sock)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if err := os.Chmod(sock, 0o600); err != nil {
		ln.Close()
		return fmt.Errorf("%s: %w", what, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	stop := context.AfterFunc(ctx, func() { srv.Close() })
	wg.Go(func() {
		defer stop()
		defer os.Remove(sock)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) && ctx.Err() == nil {
			fail(fmt.Errorf("%s on %s: %w", what, sock, err))
		}
	})
	return nil
}

// writeBMCSecrets makes a fresh random password, writes it into the lab
// directory (0600) and loads the Redfish server's certificate, which `labctl
// up` had the lab CA issue for the gateway address.
func writeBMCSecrets(l *lab.Lab) (virtual.Credentials, tls.Certificate, error) {
	raw := make([]byte, 15)
	if _, err := rand.Read(raw); err != nil {
		return virtual.Credentials{}, tls.Certificate{}, fmt.Errorf("BMC password: %w", err)
	}
	// IPMI passwords are at most 20 bytes: 15 random bytes are 20 base64 characters.
	pw := base64.RawURLEncoding.EncodeToString(raw)
	if err := writeFile(l.BMCPasswordFile(), []byte(pw+"\n"), 0o600); err != nil {
		return virtual.Credentials{}, tls.Certificate{}, err
	}
	certFile, keyFile := pki.CertFile(l.PKIDir(), pki.BMC), pki.KeyFile(l.PKIDir(), pki.BMC)
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return virtual.Credentials{}, tls.Certificate{}, fmt.Errorf("BMC certificate: %w", err)
	}
	return virtual.Credentials{Username: lab.BMCUsername, Password: pw}, cert, nil
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
