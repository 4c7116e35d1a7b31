package pki

import (
	"encoding/pem"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
)

// The certificates the lab issues to its own services, beside a scenario's:
// the boot service API's server and its one client (the user's bootcmd or
// terraform), and the virtual BMCs' Redfish server. Their names begin with
// ownPrefix, which scenarios may not use.
const (
	APIServer = ownPrefix + "api-server"
	APIClient = ownPrefix + "api-client"
	BMC       = ownPrefix + "bmc"
	// HTTPSBoot is the boot service's HTTPS certificate for UEFI HTTPS
	// boot: self-signed RSA, not from the lab CA (SelfSignedRSA).
	HTTPSBoot = ownPrefix + "https-boot"

	ownPrefix = "labctl-"
	caName    = "ca"
)

// Reserved says why a certificate name is the lab's own (the CA's or one
// of its services'), or "" when a scenario may use it.
func Reserved(name string) string {
	switch {
	case name == caName:
		return fmt.Sprintf("%q is the lab CA's own file", name)
	case strings.HasPrefix(name, ownPrefix):
		return fmt.Sprintf("%q: names beginning %q are the lab's own services'", name, ownPrefix)
	}
	return ""
}

// CAFile is the lab CA's certificate in dir: what every client of the lab's
// services (API, Redfish, etcd, Kubernetes) verifies with.
func CAFile(dir string) string { return CertFile(dir, caName) }

// CertFile and KeyFile are where the pair called name is kept in dir.
func CertFile(dir, name string) string { return filepath.Join(dir, name+".crt") }
func KeyFile(dir, name string) string  { return filepath.Join(dir, name+".key") }

// HTTPSBootCACerts is, in dir, HTTPSBoot's certificate as the EFI signature
// list OVMF is given to trust (lab/vm's HTTPSCACertsArgs).
func HTTPSBootCACerts(dir string) string { return filepath.Join(dir, HTTPSBoot+".esl") }

// IssueHTTPSBoot makes (or keeps) the HTTPSBoot certificate for gateway and
// writes HTTPSBootCACerts from it.
func IssueHTTPSBoot(dir string, gateway netip.Addr) error {
	p, err := SelfSignedRSA(dir, HTTPSBoot, []netip.Addr{gateway})
	if err != nil {
		return err
	}
	b, _ := pem.Decode(p.Cert)
	if err := os.WriteFile(HTTPSBootCACerts(dir), x509SignatureList(b.Bytes), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", HTTPSBootCACerts(dir), err)
	}
	return nil
}

// IssueOwn issues (or keeps) the certificates of the lab's own services,
// which listen on gateway.
func (ca *CA) IssueOwn(gateway netip.Addr) error {
	for _, r := range []Request{
		{Name: APIServer, CommonName: "labctl boot service API", IPs: []netip.Addr{gateway}, Usages: []Usage{Server}},
		{Name: APIClient, CommonName: "labctl lab client", Usages: []Usage{Client}},
		{Name: BMC, CommonName: "labctl virtual BMC", IPs: []netip.Addr{gateway}, Usages: []Usage{Server}},
	} {
		if _, err := ca.issue(r); err != nil {
			return err
		}
	}
	return nil
}
