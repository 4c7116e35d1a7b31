package pki

import (
	"fmt"
	"net/netip"
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
