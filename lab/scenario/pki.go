package scenario

import (
	"encoding/base64"
	"fmt"
	"net/netip"
	"os"
	"regexp"
	"strings"

	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/lab/pki"
)

// CertificateSpec is a certificate the lab CA issues: to each machine
// listed (that machine alone receives it, in its group metadata as
// machine.tls.NAME) or, with no machines, to the host (e.g. the admin).
// "{machine}" in cn and dns stands for the machine's name.
type CertificateSpec struct {
	Name         string   `yaml:"name"`
	Machines     []string `yaml:"machines"`
	CommonName   string   `yaml:"cn"`
	Organization []string `yaml:"o"`
	DNSNames     []string `yaml:"dns"`
	IPs          []string `yaml:"ips"`
	// MachineSANs adds the machine's name and address (a serving cert).
	MachineSANs bool     `yaml:"machine_sans"`
	Usages      []string `yaml:"usages"` // client, server
}

// KubeconfigSpec asks for a kubeconfig on the host that reaches server
// with the host certificate named by certificate. "{NAME.ip}" in server
// stands for machine NAME's address as the lab has it: on a rack the
// inventory's, which the scenario cannot know.
type KubeconfigSpec struct {
	Server      string `yaml:"server"`
	Certificate string `yaml:"certificate"`
}

// TLS is what the lab CA issued for a scenario.
type TLS struct {
	CA       []byte
	Machines map[string]map[string]pki.KeyPair // machine -> certificate name -> pair
	Host     map[string]pki.KeyPair            // certificate name -> pair
}

// IssueCertificates has ca issue every certificate the scenario declares
// (reusing those it issued before).
func (s *Scenario) IssueCertificates(ca *pki.CA, l *lab.Lab) (*TLS, error) {
	t := &TLS{CA: ca.CertPEM, Machines: map[string]map[string]pki.KeyPair{}, Host: map[string]pki.KeyPair{}}
	ips := map[string]netip.Addr{}
	for _, m := range l.Machines {
		ips[m.Name] = m.IP
	}
	for i, c := range s.Certificates {
		req := func(machine string) (pki.Request, error) {
			r := pki.Request{Name: c.Name, CommonName: strings.ReplaceAll(c.CommonName, "{machine}", machine), Organization: c.Organization}
			if machine != "" {
				r.Name += "-" + machine
			}
			for _, d := range c.DNSNames {
				r.DNSNames = append(r.DNSNames, strings.ReplaceAll(d, "{machine}", machine))
			}
			if c.MachineSANs && machine != "" {
				r.DNSNames = append(r.DNSNames, machine)
				r.IPs = append(r.IPs, ips[machine])
			}
			for _, ip := range c.IPs {
				a, err := netip.ParseAddr(ip)
				if err != nil {
					return r, fmt.Errorf("%s: certificates[%d].ips: %q is not an IP address", s.Source, i, ip)
				}
				r.IPs = append(r.IPs, a)
			}
			for _, u := range c.Usages {
				r.Usages = append(r.Usages, pki.Usage(u))
			}
			return r, nil
		}
		if len(c.Machines) == 0 {
			r, err := req("")
			if err != nil {
				return nil, err
			}
			if t.Host[c.Name], err = ca.Issue(r); err != nil {
				return nil, fmt.Errorf("%s: certificates[%d]: %w", s.Source, i, err)
			}
			continue
		}
		for _, m := range c.Machines {
			r, err := req(m)
			if err != nil {
				return nil, err
			}
			pair, err := ca.Issue(r)
			if err != nil {
				return nil, fmt.Errorf("%s: certificates[%d]: %w", s.Source, i, err)
			}
			if t.Machines[m] == nil {
				t.Machines[m] = map[string]pki.KeyPair{}
			}
			t.Machines[m][c.Name] = pair
		}
	}
	return t, nil
}

// WriteKubeconfig writes the scenario's kubeconfig (certificates inline) to
// path, for kubectl on the host inside the lab's namespace.
func (s *Scenario) WriteKubeconfig(path string, t *TLS, l *lab.Lab) error {
	k := s.Kubeconfig
	pair, ok := t.Host[k.Certificate]
	if !ok {
		return fmt.Errorf("%s: kubeconfig.certificate: no host certificate %q", s.Source, k.Certificate)
	}
	server, err := kubeconfigServer(k.Server, l)
	if err != nil {
		return fmt.Errorf("%s: kubeconfig.server: %w", s.Source, err)
	}
	b64 := func(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
	conf := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: %[1]s
  cluster:
    server: %[2]s
    certificate-authority-data: %[3]s
users:
- name: %[4]s
  user:
    client-certificate-data: %[5]s
    client-key-data: %[6]s
contexts:
- name: %[1]s
  context: {cluster: %[1]s, user: %[4]s}
current-context: %[1]s
`, s.Name, server, b64(t.CA), k.Certificate, b64(pair.Cert), b64(pair.Key))
	return os.WriteFile(path, []byte(conf), 0o600)
}

// machineIP is "{NAME.ip}" in a kubeconfig's server.
var machineIP = regexp.MustCompile(`\{([^{}.]+)\.ip\}`)

// kubeconfigServer is server with each "{NAME.ip}" replaced by machine
// NAME's address in l.
func kubeconfigServer(server string, l *lab.Lab) (string, error) {
	var err error
	out := machineIP.ReplaceAllStringFunc(server, func(ref string) string {
		m, _, e := l.Machine(machineIP.FindStringSubmatch(ref)[1])
		if e != nil {
			err = e
			return ref
		}
		return m.IP.String()
	})
	return out, err
}

// validateCertificates checks the certificates and kubeconfig fields.
func (s *Scenario) validateCertificates(bad func(field, format string, args ...any), names map[string]bool) {
	seen := map[string]bool{}
	for i, c := range s.Certificates {
		f := func(name string) string { return fmt.Sprintf("certificates[%d].%s", i, name) }
		if c.Name == "" || seen[c.Name] {
			bad(f("name"), "missing or duplicate %q", c.Name)
		}
		if why := pki.Reserved(c.Name); why != "" {
			bad(f("name"), "%s", why)
		}
		seen[c.Name] = true
		if c.CommonName == "" && !c.MachineSANs && len(c.DNSNames)+len(c.IPs) == 0 {
			bad(f("cn"), "missing (a certificate needs a common name or alternative names)")
		}
		for _, m := range c.Machines {
			if !names[m] {
				bad(f("machines"), "no machine named %q", m)
			}
		}
		for _, ip := range c.IPs {
			if _, err := netip.ParseAddr(ip); err != nil {
				bad(f("ips"), "%q is not an IP address", ip)
			}
		}
		if len(c.Usages) == 0 {
			bad(f("usages"), "missing (client, server)")
		}
		for _, u := range c.Usages {
			if u != string(pki.Client) && u != string(pki.Server) {
				bad(f("usages"), "%q is neither client nor server", u)
			}
		}
	}
	if k := s.Kubeconfig; k != nil {
		if !strings.HasPrefix(k.Server, "https://") {
			bad("kubeconfig.server", "%q is not an https:// URL", k.Server)
		}
		for _, ref := range machineIP.FindAllStringSubmatch(k.Server, -1) {
			if !names[ref[1]] {
				bad("kubeconfig.server", "%s: no machine named %q", ref[0], ref[1])
			}
		}
		host := false
		for _, c := range s.Certificates {
			host = host || (c.Name == k.Certificate && len(c.Machines) == 0)
		}
		if !host {
			bad("kubeconfig.certificate", "%q is not a certificate without machines (a host certificate)", k.Certificate)
		}
	}
}
